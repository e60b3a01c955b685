"""The HTML page: self-contained, complete summary, escaped meta, every skipped analysis listed;
the written files are whole and stale figures removed."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pytest

import calscope
from calscope.population.result import AnalysisResult
from calscope.report import FIGURES, render_report, write_report

IMG_PREFIX = '<img src="data:image/png;base64,'
PAGE_FIGURES = [spec.name for spec in FIGURES if spec.on_page]


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(data)
            for data in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


@pytest.fixture(scope="module")
def page(written_report: tuple[Path, list[Path]]) -> str:
    out, _ = written_report
    return (out / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sparse_page(sparse_result: AnalysisResult) -> str:
    return render_report(sparse_result, title="only spikes")


def test_page_is_self_contained(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert page.count(IMG_PREFIX) == len(PAGE_FIGURES) == 7
    for image in _images(page):
        assert image[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<script" not in page.lower()
    assert "<link rel=\"stylesheet\"" not in page and "@import" not in page


def test_summary_table_holds_the_facts(page: str, result: AnalysisResult) -> None:
    cells = lambda label: re.search(rf"<th scope=\"row\">{label}</th><td>(.*?)</td>",  # noqa: E731
                                    page).group(1)
    assert cells("Cells") == "40"
    assert cells("Usable cells") == "39"
    assert cells("Frames") == "3000"
    assert cells("Duration") == "100.0 s"
    assert cells("Frame rate") == "30 Hz"
    assert cells("Spike inference") == "oasis"
    assert "coupling_window=90" in cells("Settings") and "sort=pc1" in cells("Settings")
    assert cells("calscope version").startswith(calscope.__version__)
    assert cells("Correlation test") == html.escape(result.meta["correlation_test"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d.*", cells("Report date"))
    assert "neurons sorted by pc1" in page
    assert "Every analysis ran." in page


def test_meta_text_is_escaped(page: str) -> None:
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "simulated &lt;b&gt;recording&lt;/b&gt;.npy" in page
    assert "<b>recording" not in page


def test_every_skipped_analysis_is_listed_with_its_reason(sparse_page: str,
                                                          sparse_result: AnalysisResult) -> None:
    not_run = sparse_page[sparse_page.index('<section id="not-run">'):]
    for name, reason in sparse_result.skipped.items():
        assert f"<strong>{html.escape(name)}</strong>: {html.escape(reason)}" in not_run
    assert "<strong>quality</strong>: the result holds no per-cell quality measures" in not_run
    assert sparse_page.count(IMG_PREFIX) == 1  # the overview: traces and raster only
    assert sparse_page.count('<p class="not-run">Not run: ') == len(PAGE_FIGURES) - 1
    assert "Not shown in this figure: field of view" in sparse_page
    assert "<title>only spikes</title>" in sparse_page
    assert "http://" not in sparse_page and "https://" not in sparse_page


def test_write_report_writes_page_and_figures(written_report: tuple[Path, list[Path]]) -> None:
    out, written = written_report
    expected = [out / "report.html", *(out / "figures" / f"{spec.name}.png" for spec in FIGURES)]
    assert written == expected
    for path in written:
        assert path.stat().st_size > 1000
        # no URL, not even in the PNG metadata (":" never occurs in base64, so a random run
        # of the page's embedded images cannot match)
        assert b"http://" not in path.read_bytes() and b"https://" not in path.read_bytes()
    assert not list(out.rglob(".*tmp-*"))


def test_write_report_formats_and_stale_figures(result: AnalysisResult,
                                                sparse_result: AnalysisResult,
                                                tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pdf"):
        write_report(result, tmp_path, formats=("pdf",))
    stale = tmp_path / "figures" / "coupling.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    written = write_report(sparse_result, tmp_path, formats=("png",))
    assert [path.name for path in written] == ["overview.png", "traces.png", "raster.png"]
    assert not stale.exists() and not (tmp_path / "report.html").exists()
    assert write_report(sparse_result, tmp_path, formats="html") == [tmp_path / "report.html"]

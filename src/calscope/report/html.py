"""The report page: one self-contained HTML file (figures as base64 PNG, inline CSS, no script,
nothing loaded from elsewhere) and the figures as PNG files.

`render_report` and `write_report` only draw what an `AnalysisResult` holds; they compute no
analysis. An analysis that did not run is shown as "Not run: <reason>" in its section and listed
at the end of the page, with every ``meta["skipped"]`` entry.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from matplotlib.figure import Figure

import calscope
from calscope.io.writers import atomic_open
from calscope.population.result import AnalysisResult
from calscope.report.figures import REQUIREMENTS, FigureUnavailable, unavailable_reason
from calscope.report.figures_activity import (
    coupling_figure,
    fov_figure,
    overview_figure,
    raster_figure,
    traces_figure,
)
from calscope.report.figures_structure import (
    assemblies_figure,
    correlation_figure,
    embedding_figure,
    events_figure,
    pca_figure,
    quality_figure,
)

DPI = 110
"""Resolution of the PNG figures (dots per inch)."""
FORMATS = ("html", "png")
"""What `write_report` can write: ``report.html`` and ``figures/<name>.png``."""
REPORT_NAME = "report.html"
FIGURES_DIR = "figures"


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: ``name`` is its PNG file stem, ``on_page`` whether the HTML
    page shows it (the four panels of the overview are PNG files only)."""

    name: str
    title: str
    caption: str
    draw: Callable[[AnalysisResult], Figure]
    on_page: bool = True


FIGURES = (
    ReportFigure("overview", "Activity overview",
                 "Field of view: mean image, the cells shown outlined and numbered. Time "
                 "panels, top to bottom: their ΔF/F (black) with inferred spikes (vermillion "
                 "ticks below each trace); every neuron's activity (rows sorted so similar "
                 "neurons are neighbours, darker = more spikes); each neuron's correlation "
                 "with the rest of the population in a sliding window (red: with it, blue: "
                 "against it, white: undefined).",
                 overview_figure),
    ReportFigure("fov", "Field of view", "Mean image (grey, 1st–99.5th percentile); the cells "
                 "of the trace figure outlined and numbered.", fov_figure, on_page=False),
    ReportFigure("traces", "Traces", "ΔF/F of the most active cells on one scale (bar at the "
                 "right end), inferred spikes as vermillion ticks below each trace.",
                 traces_figure, on_page=False),
    ReportFigure("raster", "Raster", "One row per neuron in display order, darker = more "
                 "expected spikes per frame; vertical stripes are population events.",
                 raster_figure, on_page=False),
    ReportFigure("coupling", "Coupling over time", "Each neuron's correlation with the summed "
                 "activity of the others in a sliding window: red with the population, blue "
                 "against it, white undefined (recording edges, missing data).",
                 coupling_figure, on_page=False),
    ReportFigure("correlation", "Pairwise correlations", "Pearson r of every pair in the "
                 "raster's order (red positive, blue negative; red blocks on the diagonal are "
                 "groups that fire together); right: distribution of r, significant pairs in "
                 "blue.", correlation_figure),
    ReportFigure("pca", "Dimensionality", "Fraction of variance per principal component; "
                 "filled points lie above the shuffled-data spectrum and count the significant "
                 "dimensions. A flat spectrum means high-dimensional activity.", pca_figure),
    ReportFigure("embedding", "Population state", "Activity projected on the first two "
                 "principal components (left) and, when there is a third, on the first three "
                 "(right), coloured from early (purple) to late (yellow); recurring loops are "
                 "recurring population patterns.", embedding_figure),
    ReportFigure("assemblies", "Cell assemblies", "Eigenvalues of the correlation matrix "
                 "above the dashed null bound (the Marchenko–Pastur bound, or the top eigenvalue "
                 "of circularly shifted copies when autocorrelation puts it higher) count the "
                 "assemblies; activation over time (peaks: its members fire together) and "
                 "weights over neurons (dots: members).",
                 assemblies_figure),
    ReportFigure("events", "Synchrony events", "Summed activity of all neurons; dots (and ticks "
                 "along the top) mark frames above the dashed surrogate threshold, i.e. more "
                 "co-firing than chance.",
                 events_figure),
    ReportFigure("quality", "Cell quality", "Distribution over cells of each per-cell measure; "
                 "outliers deserve a look at their traces.", quality_figure),
)
_OVERVIEW_PANELS = {"fov": "field of view", "coupling": "coupling over time"}


def render_report(result: AnalysisResult, *, title: str | None = None) -> str:
    """The report as one self-contained HTML page (a str); see the module docstring.

    Args:
        result: what to show.
        title: page title (default: "calscope report — <input>").
    """
    drawn = _draw(result, [spec for spec in FIGURES if spec.on_page])
    return _page(result, drawn, title)


def write_report(result: AnalysisResult, out: str | Path, *,
                 formats: Sequence[str] = FORMATS, title: str | None = None) -> list[Path]:
    """Write the page ("html") and the figures ("png"), each atomically (temporary file, then
    rename). ``out`` is a folder (page ``out/report.html``, figures ``out/figures/<name>.png``)
    or, ending in ``.html``, the page itself (figures in ``figures/`` beside it). A figure whose
    analysis did not run is not written, and a stale PNG of that name from an earlier report
    is removed.

    Returns:
        The paths written: the page first, then the figures.

    Raises:
        ValueError: a format other than "html" or "png" (a single str is one format).
    """
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"formats: unknown {', '.join(map(repr, unknown))}; use "
                         f"{' and/or '.join(FORMATS)}")
    page = Path(out)
    if page.suffix.lower() != ".html":
        page = page / REPORT_NAME
    wanted = [spec for spec in FIGURES
              if "png" in formats or ("html" in formats and spec.on_page)]
    drawn = _draw(result, wanted)
    written: list[Path] = []
    if "html" in formats:
        with atomic_open(page, text=True) as handle:
            handle.write(_page(result, drawn, title))
        written.append(page)
    if "png" in formats:
        for spec in FIGURES:
            path = page.parent / FIGURES_DIR / f"{spec.name}.png"
            image = drawn[spec.name]
            if isinstance(image, bytes):
                with atomic_open(path) as handle:
                    handle.write(image)
                written.append(path)
            else:
                path.unlink(missing_ok=True)
    return written


def _draw(result: AnalysisResult, specs: Iterable[ReportFigure]) -> dict[str, bytes | str]:
    """{name: PNG bytes, or the reason (str) the figure is not available}."""
    drawn: dict[str, bytes | str] = {}
    for spec in specs:
        try:
            figure = spec.draw(result)
        except FigureUnavailable as missing:
            drawn[spec.name] = missing.reason
            continue
        buffer = io.BytesIO()  # our Software tag replaces matplotlib's, which holds a URL
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": "calscope"})
        drawn[spec.name] = buffer.getvalue()
    return drawn


def _page(result: AnalysisResult, drawn: dict[str, bytes | str], title: str | None) -> str:
    meta = result.meta
    sections = []
    for spec in FIGURES:
        if not spec.on_page:
            continue
        image = drawn[spec.name]
        available = isinstance(image, bytes)
        notes = [f"Not shown in this figure: {panel} — {reason}"
                 for key, panel in _OVERVIEW_PANELS.items()
                 if spec.name == "overview" and (reason := unavailable_reason(result, key))]
        sections.append({
            "name": spec.name, "title": spec.title, "caption": spec.caption, "notes": notes,
            "alt": f"{spec.title}. {spec.caption}",
            "image": base64.b64encode(image).decode("ascii") if available else None,
            "reason": None if available else image})
    date = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return _template().render(
        title=title or _default_title(meta), version=calscope.__version__, date=date,
        summary=_summary(result, date), notes=[str(note) for note in meta.get("notes", [])],
        sections=sections, not_run=_not_run(result))


def _default_title(meta: dict[str, Any]) -> str:
    source = meta.get("input")
    return f"calscope report — {Path(str(source)).name}" if source else "calscope report"


def _summary(result: AnalysisResult, date: str) -> list[tuple[str, str]]:
    """(label, value) rows of the summary table, all plain text (escaped by the template)."""
    meta = result.meta
    usable = meta.get("usable_cells")
    version = calscope.__version__
    if meta.get("version") and meta["version"] != version:
        version += f" (analysis made with {meta['version']})"
    return [("Input", str(meta.get("input", "—"))),
            ("Cells", str(result.n_cells)),
            ("Usable cells", "—" if usable is None else str(usable)),
            ("Frames", str(result.n_frames)),
            ("Duration", f"{meta.get('duration_s', result.n_frames / result.fs):.1f} s"),
            ("Frame rate", f"{result.fs:g} Hz"),
            ("Spike inference", str(meta.get("method", "—"))),
            ("Settings", _settings_text(meta.get("settings"))),
            ("Correlation test", str(meta.get("correlation_test") or "—")),
            ("Run time", _seconds_text(meta.get("step_seconds"))),
            ("calscope version", version),
            ("Report date", date)]


def _seconds_text(seconds: Any) -> str:
    """"12.3 s (spike inference 4.0 s, order 1.2 s, …)" from ``meta["step_seconds"]``."""
    if not isinstance(seconds, dict) or not seconds:
        return "—"
    steps = ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
    return f"{sum(seconds.values()):.1f} s ({steps})"


def _settings_text(settings: Any) -> str:
    """``key=value, …`` for the scalar settings (nested sections as ``section.key``)."""
    if not isinstance(settings, dict) or not settings:
        return "—"
    parts = []
    for key, value in settings.items():
        if isinstance(value, dict):
            parts += [f"{key}.{inner}={v}" for inner, v in value.items()
                      if not isinstance(v, (dict, list))]
        elif not isinstance(value, list):
            parts.append(f"{key}={value}")
    return ", ".join(parts) or "—"


def _not_run(result: AnalysisResult) -> list[tuple[str, str]]:
    """Every ``meta["skipped"]`` entry, then any figure whose fields are missing without one."""
    items = [(str(name), str(reason)) for name, reason in result.skipped.items()]
    listed = {name for name, _ in items}
    for spec in FIGURES:
        step = REQUIREMENTS.get(spec.name, (spec.name,))[0]
        reason = unavailable_reason(result, spec.name)
        if reason is not None and step not in listed:
            items.append((step, reason))
            listed.add(step)
    return items


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    text = files("calscope.report").joinpath("template.html").read_text(encoding="utf-8")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(text)

"""`calscope analyze` and `calscope report`: spikes → population analysis → HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from calscope.cli.common import app, err_console, friendly, settings_from
from calscope.cli.spikes import infer_spikes
from calscope.config import DeconvSettings, Settings
from calscope.dispatch import METHODS
from calscope.errors import InputError
from calscope.extract import delta_f_over_f
from calscope.io.bundle import read_bundle, write_bundle
from calscope.io.suite2p_fov import read_suite2p_fov
from calscope.io.traces import read_traces
from calscope.pipeline.analysis import analyze
from calscope.population.result import AnalysisResult

RESULTS_NAME = "results.npz"
REPORT_FORMATS = ("html", "png")


def _write_outputs(result: AnalysisResult, out: Path, formats: tuple[str, ...]) -> list[Path]:
    from calscope.report import write_report

    with err_console.status("drawing the report …"):
        return write_report(result, out, formats=formats)


def run_analysis(spikes: np.ndarray, fs: float, out: Path, settings: Settings, *,
                 traces: Optional[np.ndarray] = None, fov: object = None,
                 meta: Optional[dict] = None) -> tuple[AnalysisResult, list[Path]]:
    """Analyse, then write ``out/results.npz``, ``out/report.html`` and ``out/figures/*.png``,
    with a progress bar on stderr."""
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("analysing", total=1)

        def progress(step: str, i: int, n: int) -> None:
            bar.update(task, description=f"analysing: {step}", completed=i, total=n)

        result = analyze(spikes, fs, traces=traces, settings=settings.population,
                         fov_image=getattr(fov, "image", None),
                         fov_labels=getattr(fov, "labels", None), meta=meta, progress=progress)
    arrays, info = result.to_arrays()
    written = [write_bundle(out / RESULTS_NAME, arrays, info)]
    written += _write_outputs(result, out, REPORT_FORMATS)
    return result, written


def _summary_line(result: AnalysisResult) -> str:
    parts = [f"{result.n_cells} cells × {result.n_frames} frames at {result.fs:g} Hz"]
    if result.assembly_members is not None:
        parts.append(f"{len(result.assembly_members)} assemblies")
    if result.events is not None:
        parts.append(f"{int(result.events.sum())} synchrony-event frames")
    if result.skipped:
        parts.append("not run: " + ", ".join(result.skipped))
    return "; ".join(parts)


@app.command("analyze")
@friendly
def analyze_command(
    input: Annotated[Path, typer.Argument(help="Traces (any format `deconvolve` reads), or spike "
                                          "probabilities with --spikes.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.npz, report.html "
                                      "and figures/.")],
    fs: Annotated[Optional[float], typer.Option(help="Frame rate (Hz); required unless the "
                                                "format carries it.")] = None,
    method: Annotated[str, typer.Option(help=f"Spike inference: {', '.join(METHODS)} (default: "
                                        "that of `deconvolve`).")] = DeconvSettings().method,
    model: Annotated[Optional[Path], typer.Option(help="amortized/supervised model file.")]
    = None,
    spikes: Annotated[bool, typer.Option("--spikes", help="INPUT already holds spike "
                                         "probabilities: skip spike inference.")] = False,
    key: Annotated[Optional[str], typer.Option(help="Variable (.mat) or dataset (.h5) to read.")]
    = None,
    all_rois: Annotated[bool, typer.Option("--all-rois", help="Suite2p: all ROIs.")] = False,
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML (deconv, population "
                                                   "sections).")] = None,
) -> None:
    """Infer spikes, analyse the population (correlations, coupling over time, PCA, order,
    assemblies, synchrony events) and write results and an HTML report to OUT."""
    if method not in METHODS:
        raise InputError(f"--method: unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if spikes and model is not None:
        raise InputError("--model is for spike inference, which --spikes skips")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder; give a folder name")
    settings = settings_from(config)
    data = read_traces(input, fs=fs, key=key, all_rois=all_rois)
    notes: list[str] = []
    traces = None if spikes else data.traces
    if data.fmt == "suite2p" and not spikes:
        traces = delta_f_over_f(data.traces, data.fs)
        notes.append("ΔF/F computed from Suite2p's F − 0.7·Fneu (running maximin baseline, 60 s)")
    if spikes:
        activity = data.traces
    else:
        activity = infer_spikes(traces, data.fs, method, settings, input.name,
                                model=model).spikes
    fov = read_suite2p_fov(input, data.rows) if data.fmt == "suite2p" else None
    if fov is not None and fov.kind != "mean image":
        notes.append(f"field of view: {fov.kind}")
    meta = {"input": str(input), "method": "given (--spikes)" if spikes else method,
            "rows": data.rows.tolist(), "notes": notes}
    if fov is None:
        meta["skipped"] = {"field of view": "no footprints in the input (a Suite2p folder with "
                                            "stat.npy gives them)"}
    result, written = run_analysis(np.asarray(activity), data.fs, out, settings, traces=traces,
                                   fov=fov, meta=meta)
    err_console.print(f"{_summary_line(result)}\nwrote {out}/: "
                      + ", ".join(str(p.relative_to(out)) for p in written[:3])
                      + (f" and {len(written) - 3} more" if len(written) > 3 else ""),
                      highlight=False)


@app.command("report")
@friendly
def report_command(
    folder: Annotated[Path, typer.Argument(help="A folder written by `calscope analyze`.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where to write "
                                                "(default: FOLDER).")] = None,
    format: Annotated[str, typer.Option("--format", help="html (one self-contained page) or "
                                        "png (figures/*.png).")] = "html",
) -> None:
    """Re-render the report from FOLDER/results.npz."""
    if format not in REPORT_FORMATS:
        raise InputError(f"--format: {format!r}; use html or png")
    arrays, meta = read_bundle(folder / RESULTS_NAME)
    result = AnalysisResult.from_arrays(arrays, meta)
    target = folder if out is None else out
    written = _write_outputs(result, target, (format,))
    err_console.print("wrote " + ", ".join(str(p) for p in written[:3])
                      + (f" and {len(written) - 3} more" if len(written) > 3 else ""),
                      highlight=False)


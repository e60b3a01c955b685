"""`calscope analyze` and `calscope report`: spikes → population analysis → HTML report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from calscope.cli.common import (ALL_ROIS_HELP, CELL_TYPE_HELP, DEFAULT_METHOD, DEVICE_HELP,
                                 KEY_HELP, app, err_console, friendly, settings_from,
                                 step_progress)
from calscope.cli.spikes import (check_cell_type_option, check_device_option, infer_spikes,
                                 native_rate_note, to_dff)
from calscope.dispatch import METHODS
from calscope.errors import InputError
from calscope.infer.cell_types import DEFAULT_CELL_TYPE
from calscope.io.caiman import read_caiman_fov
from calscope.io.nwb import read_nwb_fov
from calscope.io.stimulus import read_stimulus
from calscope.io.sources import read_cells_fov
from calscope.io.suite2p_fov import read_suite2p_fov
from calscope.io.traces import read_traces
from calscope.pipeline.analysis import RESULTS_NAMES, analyze, read_analysis, write_analysis
from calscope.population.result import AnalysisResult

REPORT_FORMATS = ("html", "png")
#: the field of view (image and ROI labels) of the trace formats that carry footprints
FOV_READERS = {"suite2p": read_suite2p_fov, "caiman": read_caiman_fov, "nwb": read_nwb_fov,
               "cells": read_cells_fov}


def written_line(paths: list[Path], root: Path) -> str:
    """"wrote ROOT/: a, b, c and N more" for the end of a command."""
    names = [str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in paths]
    return (f"wrote {root}/: " + ", ".join(names[:3])
            + (f" and {len(names) - 3} more" if len(names) > 3 else ""))


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
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the results "
                                      "(results.npz or calscope.zarr), report.html and "
                                      "figures/.")],
    fs: Annotated[Optional[float], typer.Option(help="Frame rate (Hz); required unless the "
                                                "format carries it.")] = None,
    method: Annotated[str, typer.Option(help=f"Spike inference: {', '.join(METHODS)} (default: "
                                        "that of `deconvolve`).")] = DEFAULT_METHOD,
    model: Annotated[Optional[Path], typer.Option(help="amortized/supervised model file.")]
    = None,
    native_fs: Annotated[Optional[float], typer.Option(
        help="The rate (Hz) the traces were recorded at, when they were resampled up to --fs "
             "(default: detected; the --fs value turns detection off).")] = None,
    cell_type: Annotated[Optional[str], typer.Option(help=CELL_TYPE_HELP)] = None,
    device: Annotated[Optional[str], typer.Option(help=DEVICE_HELP)] = None,
    spikes: Annotated[bool, typer.Option("--spikes", help="INPUT already holds spike "
                                         "probabilities: skip spike inference.")] = False,
    key: Annotated[Optional[str], typer.Option(help=KEY_HELP)]
    = None,
    all_rois: Annotated[bool, typer.Option("--all-rois", help=ALL_ROIS_HELP)] = False,
    dff: Annotated[Optional[bool], typer.Option(
        "--dff/--no-dff", help="Convert the input from raw fluorescence to ΔF/F = (F − F0) / F0 "
        "before spike inference (F0: running maximin baseline, 60 s). Default: on for a "
        "Suite2p folder or an NWB Fluorescence series (raw), else off.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML (deconv, population "
                                                   "sections).")] = None,
    stimulus: Annotated[Optional[Path], typer.Option(help="Stimulus label per frame (.npy, "
                                                     ".csv or .txt): correlations become noise "
                                                     "correlations.")] = None,
    store: Annotated[str, typer.Option(help="Results store: npz (results.npz) or zarr "
                                       "(calscope.zarr, chunked, read lazily).")] = "npz",
) -> None:
    """Infer spikes, analyse the population (correlations, coupling over time, PCA, order,
    assemblies, synchrony events) and write results and an HTML report to OUT."""
    if method not in METHODS:
        raise InputError(f"--method: unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if spikes and (model is not None or dff):
        raise InputError("--model and --dff are for spike inference, which --spikes skips")
    check_cell_type_option(cell_type, method, model)
    check_device_option(device, method)
    if store not in RESULTS_NAMES:
        raise InputError(f"--store: {store!r}; use {' or '.join(RESULTS_NAMES)}")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder; give a folder name")
    settings = settings_from(config)
    data = read_traces(input, fs=fs, key=key, all_rois=all_rois)
    labels = None if stimulus is None else read_stimulus(stimulus, data.traces.shape[1])
    notes: list[str] = []
    traces = None if spikes else data.traces
    if not spikes and (data.raw_fluorescence if dff is None else dff):
        traces, note = to_dff(data)
        notes.append(note)
    seconds = {}
    if spikes:
        activity = data.traces
    else:
        start = time.perf_counter()
        inferred = infer_spikes(traces, data.fs, method, settings, input.name, model=model,
                                native_fs=native_fs, cell_type=cell_type, device=device)
        activity, note = inferred.spikes, native_rate_note(inferred, data.fs)
        del inferred  # the band (lower, upper) is not analysed: 2 × 8 bytes a sample freed
        if note:
            notes.append(note)
        if method == "supervised" and model is None:
            notes.append(f"spikes by the shipped supervised model of "
                         f"{cell_type or DEFAULT_CELL_TYPE} cells (--cell-type)")
        seconds["spike inference"] = round(time.perf_counter() - start, 3)
    fov_reader = FOV_READERS.get(data.fmt)
    fov = None if fov_reader is None else fov_reader(input, data.rows)
    if fov is not None and fov.kind != "mean image":
        notes.append(f"field of view: {fov.kind}")
    if stimulus is not None:
        notes.append(f"stimulus labels from {stimulus.name}")
    meta = {"input": str(input), "method": "given (--spikes)" if spikes else method,
            "rows": data.rows.tolist(), "notes": notes, "step_seconds": seconds}
    if fov is not None:
        meta["fov_kind"] = fov.kind
    else:
        meta["skipped"] = {"field of view": "no footprints in the input (a Suite2p folder with "
                                            "stat.npy, a CaImAn file, an NWB file with ROI "
                                            "masks or the cells of `calscope extract` give "
                                            "them)"}
    fov_fields = {} if fov is None else {"fov_image": fov.image, "fov_labels": fov.labels}
    with step_progress("analysing") as progress:
        result = analyze(np.asarray(activity), data.fs, traces=traces,
                         settings=settings.population, stimulus=labels, meta=meta,
                         progress=progress, **fov_fields)
    with err_console.status("drawing the report …"):
        written = write_analysis(result, out, store)
    err_console.print(f"{_summary_line(result)}\n{written_line(written, out)}", highlight=False)


@app.command("report")
@friendly
def report_command(
    folder: Annotated[Path, typer.Argument(help="A folder written by `calscope analyze`.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="The page to write, "
                                                "ending in .html, or a folder for "
                                                "report.html (default: FOLDER/report.html); "
                                                "png figures go to figures/ beside the "
                                                "page.")] = None,
    format: Annotated[str, typer.Option("--format", help="html (one self-contained page) or "
                                        "png (figures/*.png).")] = "html",
) -> None:
    """Re-render the report from the results in FOLDER (results.npz or calscope.zarr)."""
    if format not in REPORT_FORMATS:
        raise InputError(f"--format: {format!r}; use html or png")
    if out is not None and out.suffix and out.suffix.lower() != ".html":
        raise InputError(f"--out {out}: give the page's file name, ending in .html, or a "
                         "folder (no extension)")
    result = read_analysis(folder)
    from calscope.report import write_report  # matplotlib: only when a report is drawn

    target = folder if out is None else out
    with err_console.status("drawing the report …"):
        written = write_report(result, target, formats=(format,))
    err_console.print(written_line(written, folder if out is None else
                                   out.parent if out.suffix else out),
                      highlight=False)

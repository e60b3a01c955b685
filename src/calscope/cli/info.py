"""`calscope info`: what a file or folder is, as calscope reads it (a movie, traces, a model,
cells, analysis results, a run's results store), in a table of facts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import typer
from rich.table import Table

from calscope.cli.common import app, friendly, out_console
from calscope.cli.movie import MovieAxes, MovieKey
from calscope.errors import InputError
from calscope.infer.model_file import read_model_file
from calscope.io.bundle import read_bundle
from calscope.io.movies import MOVIE_SUFFIXES, read_movie
from calscope.io.traces import read_traces
from calscope.pipeline.movie import STORE_NAME

#: the groups of a results store, in the order a run writes them
GROUPS = ("motion", "sources", "population")
Facts = list[tuple[str, str]]


@app.command("info")
@friendly
def info_command(
    path: Annotated[Path, typer.Argument(help="A movie, traces, a model (.pt), cells or "
                                         "results (.npz, .zarr), or a `calscope run` folder.")],
    key: MovieKey = None,
    axes: MovieAxes = None,
) -> None:
    """Say what PATH holds, as calscope reads it: kind, shape, rate and the rest."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    facts = _describe(path, key, axes)
    table = Table(title=str(path), show_header=False)
    table.add_column("what")
    table.add_column("value")
    for name, value in facts:
        table.add_row(name, value)
    out_console.print(table)


def _describe(path: Path, key: str | None, axes: str | None) -> Facts:
    if path.is_dir() and (path / STORE_NAME).is_dir():
        return [("kind", "a `calscope run` folder")] + _store(path / STORE_NAME)
    if path.suffix == ".zarr" and (path / "zarr.json").is_file():
        return [("kind", "a calscope results store (Zarr)")] + _store(path)
    if path.suffix == ".npz":
        return _bundle(*read_bundle(path))
    if path.suffix == ".pt":
        return _model(path)
    facts: Facts = []
    refusals = []
    if path.suffix.lower() in MOVIE_SUFFIXES:
        try:
            with read_movie(path, key=key, axes=axes) as movie:
                facts += [("kind", "a movie"), ("frames × rows × columns",
                                                " × ".join(map(str, movie.shape))),
                          ("frame rate", _rate(movie.fs)), ("pixel type", str(movie.file_dtype)),
                          ("read as", movie.source)]
        except InputError as error:
            refusals.append(f"not a movie: {error}")
    try:
        traces = read_traces(path, key=key, require_fs=False)
        facts += [("kind" if not facts else "also", f"traces ({traces.fmt})"),
                  ("cells × frames", f"{traces.traces.shape[0]} × {traces.traces.shape[1]}"),
                  ("sampling rate", _rate(traces.fs))]
    except InputError as error:
        refusals.append(f"not traces: {error}")
    if not facts:
        raise InputError(f"{path}: calscope reads it neither as a movie nor as traces ("
                         + "; ".join(refusals) + ")")
    return facts


def _store(store: Path) -> Facts:
    facts: Facts = []
    for group in GROUPS:
        if (store / group).is_dir():
            facts += [("", ""), ("stage", group)] + _bundle(*read_bundle(store, group=group))
    return facts


def _bundle(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Facts:
    """Facts of a bundle by what it holds: a registration, cells or an analysis."""
    if "shifts" in arrays:
        shifts = np.asarray(arrays["shifts"])
        facts = [("kind", "a registration"), ("frames", str(shifts.shape[0])),
                 ("largest rigid shift (px)", f"{np.abs(shifts).max(initial=0.0):.2f}"),
                 ("piecewise-rigid", "yes" if "block_shifts" in arrays else "no")]
        if "raw_line_offset" in arrays:
            facts.append(("line offset measured / undone (px)",
                          f"{float(arrays['raw_line_offset']):.2f} / "
                          f"{float(arrays['bidi_offset']):.2f}"))
        facts += [(name.replace("_", " "), f"{value:.3f}")
                  for name, value in meta.get("metrics", {}).items()]
        return facts
    if "footprints_indptr" in arrays:
        height, width = meta["shape"]
        return [("kind", "cells extracted by CNMF"),
                ("components / accepted as cells", f"{meta['cells']} / {meta['accepted']}"),
                ("frame", f"{height} × {width} px"), ("frames", str(arrays["dff"].shape[1])),
                ("frame rate", _rate(meta.get("fs"))), ("movie", str(meta.get("movie", "?")))]
    if "spikes" in arrays:
        spikes = np.asarray(arrays["spikes"])
        return [("kind", "a population analysis"),
                ("cells × frames", f"{spikes.shape[0]} × {spikes.shape[1]}"),
                ("frame rate", _rate(meta.get("fs"))),
                ("spikes by", str(meta.get("method", "?"))),
                ("from", str(meta.get("input", "?")))]
    return [("kind", "a calscope bundle"), ("arrays", ", ".join(sorted(arrays)))]


def _model(path: Path) -> Facts:
    payload = read_model_file(path, None, "train one with `calscope train`",
                              "not a calscope model file")
    facts = [("kind", f"a model ({payload['format']})"),
             ("format version", str(payload.get("version", "?")))]
    card = json.loads(payload["card"]) if isinstance(payload.get("card"), str) else {}
    for name in ("method", "date", "cell_type", "datasets", "frame_rates_hz", "model_fs_hz",
                 "noise_sigma_range", "validation", "training_command"):
        if name in card:
            facts.append((name.replace("_", " "), _short(card[name])))
    return facts


def _short(value: Any, limit: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rate(fs: Optional[float]) -> str:
    return "not stated (pass --fs)" if fs is None else f"{fs:g} Hz"

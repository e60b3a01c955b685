"""`calscope run`'s movie stages: motion, then cells, each kept in the run's results store
(``<out>/calscope.zarr``, a group per stage) with a fingerprint of what it was computed from,
and reused by a later run whose fingerprint matches; and what of a run goes into an NWB file
(`cells_for_nwb`).

A stage's fingerprint covers the movie (its path, size and modification time, and how it was
read: key, axes, channel, rate), the stage's settings, the package version, and the
fingerprint of the stage before it, so changing the movie or the motion settings redoes the
cells too. Each stage's group is written whole or not at all (`calscope.io.bundle`), so a run
stopped midway resumes after its last complete stage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import calscope
from calscope.config import CnmfSettings, MotionSettings
from calscope.errors import InputError
from calscope.extract import Sources, cnmf
from calscope.extract.patches import PatchMap
from calscope.frames import MovieLike
from calscope.io.bundle import read_bundle, write_bundle
from calscope.io.nwb_export import CellsForNwb
from calscope.io.sources import (SOURCES_GROUP, model_mean_image, read_footprints,
                                 write_sources)
from calscope.motion import RegisteredMovie, Registration, register, registration_metrics
from calscope.pipeline.analysis import read_analysis

#: The run's results store inside its output folder, and its motion group.
STORE_NAME, MOTION_GROUP = "calscope.zarr", "motion"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class StageOutcome:
    """What a stage left: its fingerprint, whether it was reused from an earlier run, and its
    metadata as stored (for motion: the quality metrics; for cells: the counts)."""

    fingerprint: str
    reused: bool
    meta: dict[str, Any]


def movie_fingerprint(path: str | Path, **reading: Any) -> str:
    """A fingerprint of the movie file or folder at ``path`` and how it is read (``reading``:
    key, axes, channel, fs, …): its resolved path, total size and latest modification."""
    path = Path(path).resolve()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    stats = [p.stat() for p in files]
    return _digest({"path": str(path), "bytes": sum(s.st_size for s in stats),
                    "modified_ns": max((s.st_mtime_ns for s in stats), default=0),
                    "reading": reading})


def motion_stage(movie: MovieLike, store: Path, settings: MotionSettings, upstream: str, *,
                 progress: Callable[[int, int], None] | None = None
                 ) -> tuple[Registration, StageOutcome]:
    """The movie's registration: from ``store`` when its fingerprint (``upstream`` plus
    ``settings``) matches, else measured (`calscope.motion.register`; ``progress(frames done,
    total)``) and stored."""
    fingerprint = _digest({"upstream": upstream, "settings": settings.model_dump(mode="json")})
    kept = _stored(store, MOTION_GROUP, fingerprint)
    if kept is not None:
        arrays, meta = kept
        return Registration.from_arrays(arrays, settings), StageOutcome(fingerprint, True, meta)
    registration = register(movie, settings, progress=progress)
    metrics = registration_metrics(movie, registration).as_dict()
    meta = _meta(fingerprint, settings, {"metrics": metrics, "edge_px": registration.edge_px()})
    write_bundle(store, registration.arrays(), meta, group=MOTION_GROUP)
    return registration, StageOutcome(fingerprint, False, meta)


def cells_stage(movie: MovieLike, registration: Registration, fs: float, store: Path,
                settings: CnmfSettings, upstream: str, *, progress: Progress | None = None,
                map_patches: PatchMap | None = None) -> StageOutcome:
    """The cells of the registered movie (`calscope.extract.cnmf`, no cell centred in the
    edge strip registration filled), stored in ``store`` (group ``sources``) with the
    accepted cells' ΔF/F beside it as ``cells.dff.npy``; skipped when the stored fingerprint
    matches. ``map_patches``: where the patches run (`calscope.pipeline.compute.patch_map`;
    not part of the fingerprint: it changes the result only by rounding)."""
    settings = settings.model_copy(update={
        "border_px": max(settings.border_px, registration.edge_px())})
    fingerprint = _digest({"upstream": upstream, "fs": fs,
                           "settings": settings.model_dump(mode="json")})
    kept = _stored(store, SOURCES_GROUP, fingerprint)
    if kept is not None:
        return StageOutcome(fingerprint, True, kept[1])
    sources: Sources = cnmf(RegisteredMovie(movie, registration), fs, settings,
                            progress=progress, map_patches=map_patches)
    meta = _meta(fingerprint, settings, {"movie": str(getattr(movie, "source", ""))})
    write_sources(store, sources, meta, dff=store.with_name("cells.dff.npy"))
    return StageOutcome(fingerprint, False, {**meta, "cells": int(sources.accepted.size),
                                             "accepted": int(sources.accepted.sum())})


def _stored(store: Path, group: str, fingerprint: str
            ) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The arrays and metadata of ``group`` in ``store`` when it was computed from the same
    fingerprint; None when it is absent or was not."""
    if not (store / group).is_dir():
        return None
    try:
        arrays, meta = read_bundle(store, group=group)
    except InputError:
        return None
    return (arrays, meta) if meta.get("fingerprint") == fingerprint else None


def _meta(fingerprint: str, settings: Any, extra: dict[str, Any]) -> dict[str, Any]:
    return {"fingerprint": fingerprint, "version": calscope.__version__,
            "settings": settings.model_dump(mode="json"), **extra}


def _digest(facts: dict[str, Any]) -> str:
    text = json.dumps({**facts, "version": calscope.__version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cells_for_nwb(source: Path) -> tuple[CellsForNwb, str]:
    """What `calscope.io.nwb_export.write_cells_nwb` needs, from a `calscope run` folder (its
    cells, and the spikes and motion when it holds them) or a cells bundle of `calscope
    extract`; and the movie the cells came from, as recorded.

    Raises:
        InputError: ``source`` holds no extracted cells.
    """
    run_store = source / STORE_NAME
    store = run_store if run_store.is_dir() else source
    if store.suffix not in (".npz", ".zarr"):
        raise InputError(f"{source}: holds no extracted cells; give a `calscope run` folder "
                         "or the cells file of `calscope extract` (cells.npz or .zarr)")
    footprints, arrays, meta = read_footprints(store)
    spikes = spike_rows = shifts = None
    if store is run_store:
        if (store / "population").is_dir():
            analysis = read_analysis(source)
            spikes, spike_rows = analysis.spikes, np.asarray(analysis.meta["rows"])
        if (store / MOTION_GROUP).is_dir():
            shifts = read_bundle(store, group=MOTION_GROUP)[0]["shifts"]
    cells = CellsForNwb(
        footprints=footprints, shape=tuple(meta["shape"]), dff=arrays["dff"],
        accepted=np.asarray(arrays["accepted"], dtype=bool), snr=arrays["quality_snr"],
        spatial_r=arrays["quality_spatial_r"],
        mean_image=model_mean_image(footprints, arrays, tuple(meta["shape"])),
        fs=float(meta["fs"]),
        spikes=spikes, spike_rows=spike_rows, shifts=shifts)
    return cells, str(meta.get("movie", source))

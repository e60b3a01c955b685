"""The population analysis of one recording: every analysis of `calscope.population` in turn,
collected in an `AnalysisResult`.

An analysis that cannot run on this recording (too few frames for the window, no significant
structure to decompose, …) does not stop the others: it is recorded in ``meta["skipped"]`` with
the reason, and the report lists it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import calscope
from calscope.config import PopulationSettings
from calscope.deconv.noise import noise_sigma
from calscope.errors import CalscopeError, InputError
from calscope.io.bundle import read_bundle, write_bundle
from calscope.population.activity import checked_activity
from calscope.population.assemblies import assemblies
from calscope.population.correlation import checked_stimulus, correlations
from calscope.population.coupling import (coupling_over_time, population_coupling,
                                          window_frames)
from calscope.population.dimensionality import pca, significant_dimensions
from calscope.population.events import synchrony_events
from calscope.population.result import AnalysisResult
from calscope.population.sorting import sort_neurons

#: The results of an analysis folder (``calscope report`` reads them back), by store: one
#: ``.npz`` file, or the design's Zarr results store (group ``population``).
RESULTS_NAMES = {"npz": "results.npz", "zarr": "calscope.zarr"}
#: The analyses in the order they run (names used in ``meta["skipped"]`` and progress).
STEPS = ("order", "coupling", "correlations", "dimensionality", "assemblies", "events")
Progress = Callable[[str, int, int], None]


def _coupling(act: np.ndarray, fs: float, cfg: PopulationSettings, seed: int) -> dict[str, Any]:
    window = window_frames(cfg.coupling_window, fs, cfg.coupling_window_s)
    return {"coupling": coupling_over_time(act, window=window).astype(np.float32),
            "coupling_window": int(window),
            "population_coupling": population_coupling(act).astype(np.float32)}


def _correlations(act: np.ndarray, fs: float, cfg: PopulationSettings, seed: int,
                  stimulus: np.ndarray | None = None) -> dict[str, Any]:
    cells = np.arange(act.shape[0])
    note = ""
    if len(cells) > cfg.max_correlation_cells:
        rng = np.random.default_rng(seed)
        cells = np.sort(rng.choice(len(cells), cfg.max_correlation_cells, replace=False))
        note = (f"; the matrix covers a random {len(cells)} of {act.shape[0]} neurons "
                "(max_correlation_cells)")
    smoothing = (f"r of activity smoothed with a Gaussian of σ = {cfg.correlation_smooth_s:g} s; "
                 if cfg.correlation_smooth_s else "")
    if stimulus is not None:
        smoothing = (f"noise correlations (each neuron's mean response to each of the "
                     f"{np.unique(stimulus).size} stimulus labels removed first); " + smoothing)
    res = correlations(act[cells], fs, smooth_s=cfg.correlation_smooth_s, stimulus=stimulus,
                       n_surrogates=cfg.n_surrogates, max_pairs=cfg.max_pairs, alpha=cfg.alpha,
                       surrogates=cfg.surrogates,
                       seed=seed)
    return {"corr_cells": cells.astype(np.int64), "corr_r": res.r.astype(np.float32),
            "corr_p": res.p.astype(np.float32), "corr_significant": res.significant,
            "_test": smoothing + res.test + note}


def _dimensionality(act: np.ndarray, fs: float, cfg: PopulationSettings, seed: int
                    ) -> dict[str, Any]:
    res = pca(act, seed=seed)
    dims = significant_dimensions(act, n_shuffles=cfg.n_shuffles, seed=seed)
    return {"pca_explained_ratio": np.asarray(res.explained_ratio, dtype=np.float32),
            "pca_scores": np.asarray(res.scores[:3], dtype=np.float32),
            "n_significant_dims": int(dims.n),
            "participation_ratio": float(res.participation_ratio),
            "_note": " ".join(filter(None, [res.note, dims.note]))}


def _assemblies(act: np.ndarray, fs: float, cfg: PopulationSettings, seed: int
                ) -> dict[str, Any]:
    res = assemblies(act, seed=seed, n_shuffles=cfg.n_shuffles)
    return {"assembly_patterns": np.asarray(res.patterns, dtype=np.float32),
            "assembly_members": np.asarray(res.member_mask, dtype=bool),
            "assembly_activation": np.asarray(res.activation, dtype=np.float32),
            "assembly_eigenvalues": np.asarray(res.eigenvalues, dtype=np.float32),
            "mp_threshold": float(res.threshold),
            "assembly_one_frame": np.asarray(res.one_frame, dtype=bool), "_note": res.note}


def _events(act: np.ndarray, fs: float, cfg: PopulationSettings, seed: int) -> dict[str, Any]:
    res = synchrony_events(act, fs, alpha=cfg.event_alpha, seed=seed)
    return {"population_rate": np.asarray(res.population, dtype=np.float32),
            "events": np.asarray(res.events, dtype=bool), "event_threshold": float(res.threshold)}


def _order(act: np.ndarray, fs: float, cfg: PopulationSettings, seed: int) -> dict[str, Any]:
    res = sort_neurons(act, cfg.sort, seed=seed)
    note = f"neurons sorted by {res.method}" + (f" ({res.note})" if res.note else "")
    return {"order": res.order, "_note": note}


_RUNNERS = {"order": _order, "coupling": _coupling, "correlations": _correlations,
            "dimensionality": _dimensionality, "assemblies": _assemblies, "events": _events}


def cell_quality(spikes: np.ndarray, fs: float, traces: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per-cell measures for the report: ``rate_hz`` (expected spikes per second),
    ``observed_fraction`` (finite frames) and, with traces, ``noise_sigma`` (ΔF/F)."""
    finite = np.isfinite(spikes)
    n_obs = finite.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.nansum(spikes, axis=1) * fs / n_obs
    quality = {"rate_hz": np.where(n_obs > 0, rate, np.nan).astype(np.float32),
               "observed_fraction": (n_obs / spikes.shape[1]).astype(np.float32)}
    if traces is not None:
        quality["noise_sigma"] = noise_sigma(traces, fs).astype(np.float32)
    return quality


def analyze(spikes: np.ndarray, fs: float, *, traces: np.ndarray | None = None,
            settings: PopulationSettings | None = None, fov_image: np.ndarray | None = None,
            fov_labels: np.ndarray | None = None, stimulus: np.ndarray | None = None,
            meta: dict[str, Any] | None = None,
            progress: Progress | None = None) -> AnalysisResult:
    """Run every population analysis on (cells, T) spike probabilities.

    Args:
        spikes: (cells, T) expected spikes per frame (or any activity), NaN where missing.
        fs: frame rate (Hz).
        traces: (cells, T) ΔF/F the spikes came from (shown in the report), if any.
        settings: analysis settings (defaults: `PopulationSettings()`).
        fov_image, fov_labels: (Y, X) mean image and ROI label image (0 = none, i + 1 = row i).
        stimulus: (T,) integer stimulus label of each frame: pairwise correlations are then
            noise correlations (each neuron's mean response per label removed first); the
            other analyses use the activity as it is.
        meta: facts to carry into the report (input file, method, …). Its ``notes``,
            ``skipped`` and ``step_seconds`` are merged with the analyses' own; the result's
            ``meta["step_seconds"]`` holds the wall time of each step (s).
        progress: called as ``progress(step, i, n)`` before each step.

    Raises:
        InputError: the activity itself is unusable (see `checked_activity`): fewer than 2
            usable neurons, too few frames, not a (cells, T) array. Problems of one analysis
            are recorded in ``meta["skipped"]`` instead.
    """
    cfg = settings or PopulationSettings()
    act = checked_activity(spikes, "spikes")
    labels = None if stimulus is None else checked_stimulus(stimulus, act.n_frames)
    runners = {**_RUNNERS, "correlations": partial(_correlations, stimulus=labels)}
    fields: dict[str, Any] = {}
    notes: list[str] = []
    skipped: dict[str, str] = {}
    test = ""
    seconds: dict[str, float] = {}
    for i, step in enumerate(STEPS):
        if progress is not None:
            progress(step, i, len(STEPS))
        start = time.perf_counter()
        try:
            out = runners[step](act.values, fs, cfg, cfg.seed)
        except (CalscopeError, np.linalg.LinAlgError) as error:
            skipped[step] = str(error)
            continue
        finally:
            seconds[step] = round(time.perf_counter() - start, 3)
        note = out.pop("_note", "")
        test = out.pop("_test", test)
        if note:
            notes.append(note)
        fields.update(out)
    if progress is not None:
        progress("done", len(STEPS), len(STEPS))
    n_unusable = int((~act.usable).sum())
    if n_unusable:
        notes.append(f"{n_unusable} neuron(s) are all NaN or constant and were left out "
                     "of every analysis (NaN rows in the results)")
    info = {"cells": act.n_cells, "usable_cells": int(act.usable.sum()), "frames": act.n_frames,
            "duration_s": act.n_frames / fs, "fs": fs, "version": calscope.__version__,
            "settings": cfg.model_dump(mode="json"), "correlation_test": test,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **(meta or {}), "step_seconds": {**(meta or {}).get("step_seconds", {}), **seconds},
            "notes": [*(meta or {}).get("notes", []), *notes],
            "skipped": {**(meta or {}).get("skipped", {}), **skipped}}
    return AnalysisResult(
        fs=float(fs), spikes=np.asarray(spikes, dtype=np.float32),
        traces=None if traces is None else np.asarray(traces, dtype=np.float32),
        quality=cell_quality(act.values, fs, traces), fov_image=fov_image,
        fov_labels=fov_labels, stimulus=labels, meta=info, **fields)


def write_analysis(result: AnalysisResult, out: str | Path, store: str = "npz") -> list[Path]:
    """Write the results (every field, read back by `calscope report`), then
    ``out/report.html`` and ``out/figures/*.png``; returns the paths written, results first.

    Args:
        store: "npz" (``out/results.npz``) or "zarr" (group ``population`` of
            ``out/calscope.zarr``, chunked and compressed, readable lazily).
    """
    from calscope.report import write_report  # matplotlib: only when a report is drawn

    if store not in RESULTS_NAMES:
        raise InputError(f"store={store!r}: use one of {', '.join(RESULTS_NAMES)}")
    out = Path(out)
    arrays, info = result.to_arrays()
    return [write_bundle(out / RESULTS_NAMES[store], arrays, info), *write_report(result, out)]


def read_analysis(folder: str | Path) -> AnalysisResult:
    """The `AnalysisResult` stored in an analysis folder (``results.npz`` or ``calscope.zarr``;
    the newer when both are there).

    Raises:
        InputError: the folder holds no readable results.
    """
    folder = Path(folder)
    found = [folder / name for name in RESULTS_NAMES.values() if (folder / name).exists()]
    if not found:
        raise InputError(f"{folder}: no results ({' or '.join(RESULTS_NAMES.values())}); run "
                         "`calscope analyze` first")
    newest = max(found, key=lambda path: path.stat().st_mtime)
    return AnalysisResult.from_arrays(*read_bundle(newest))

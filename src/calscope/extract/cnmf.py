"""`cnmf`: cells' footprints, traces and spikes from a movie by constrained non-negative matrix
factorisation (Pnevmatikakis et al. 2016), solved by HALS (Friedrich et al. 2017).

The model of the (pixels × frames) movie Y is

    Y ≈ A C + B F + noise,

A (P, K) the cells' footprints (≥ 0, local), C (K, T) their calcium (each row an AR process:
OASIS-denoised), B (P, nb) and F (nb, T) a non-negative low-rank background. After the greedy
initialization (`calscope.extract.initialize`), each round updates C and F (HALS, then each
cell's raw trace c_k + (U_k − V_k C)/V_kk is denoised by OASIS, `calscope.deconvolve`), then A
and B (HALS, each footprint confined to its support grown by a few pixels), then merges
components that are one cell (`calscope.extract.merge`) and drops empty ones. A last trace
update gives the traces, spikes and ΔF/F, and `calscope.extract.evaluate` decides which
components are accepted as cells.

A frame larger than ``patch_px`` is cut into overlapping spatial patches, each factorised
alone (`calscope.extract.patches`); the joined cells then get their final traces, quality and
ΔF/F over the whole frame. Memory is then bounded by a patch (two in-memory copies of its
pixels × frames) and the cells' traces: the movie itself is held in memory when it fits
``max_memory_gb``, and otherwise in a temporary file on disk (`calscope.extract.store`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse
from scipy import ndimage

from calscope.config import CnmfSettings
from calscope.errors import InputError
from calscope.extract.data import check_memory, extraction_shape
from calscope.extract.evaluate import Quality, evaluate
from calscope.extract.factorize import (Factors, Temporal, factorize, inside_border,
                                        ring_of, ring_removed, update_traces)
from calscope.extract.hals import times_data
from calscope.extract.patches import PatchMap, factorize_patches, patch_grid
from calscope.extract.store import pixel_store, scratch_pixels
from calscope.frames import MovieLike
from calscope.validation import check_fs

#: progress(step, done, total): called between steps, e.g. ("iteration", 2, 3).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Sources:
    """Cells extracted from a movie; all components, with ``accepted`` marking the cells.

    Attributes:
        footprints: (Y*X, cells) float32 CSC matrix, C order, ≥ 0; each column has unit L2
            norm, so a trace is in movie units (photons) × footprint norm: the data projected
            on the footprint.
        traces: (cells, T) float32 denoised calcium of the model A C: the OASIS fit of each
            raw trace, calcium plus its slow baseline.
        raw_traces: (cells, T) float32 traces plus residual: what the data say about each
            cell (other cells and background removed) before denoising.
        spikes: (cells, T) float32 OASIS spikes of each trace (trace units per frame).
        dff: (cells, T) float32 ΔF/F: raw trace minus its baseline, over the cell's baseline
            fluorescence (its own baseline plus the background under its footprint, the
            latter averaged over ``baseline_window_s``).
        background_footprints: (Y*X, nb) float32 background images (≥ 0); a movie cut into
            patches has nb per patch, each zero outside the part its patch owns.
        background_traces: (nb, T) float32 background time courses (≥ 0).
        noise_map: (Y, X) float32 per-pixel noise σ (movie units).
        quality: per-cell `Quality` (spatial correlation, SNR, size, active frames).
        accepted: (cells,) bool: passes ``min_spatial_r`` and ``min_snr``.
        shape: (Y, X) frame shape.
        fs: frame rate (Hz).
    """

    footprints: scipy.sparse.csc_matrix
    traces: np.ndarray
    raw_traces: np.ndarray
    spikes: np.ndarray
    dff: np.ndarray
    background_footprints: np.ndarray
    background_traces: np.ndarray
    noise_map: np.ndarray
    quality: Quality
    accepted: np.ndarray
    shape: tuple[int, int]
    fs: float


def cnmf(movie: MovieLike, fs: float, settings: CnmfSettings | None = None, *,
         progress: Progress | None = None, seed: int = 0,
         map_patches: PatchMap | None = None) -> Sources:
    """Extract cells from a motion-corrected movie by CNMF (see the module docstring).

    Args:
        movie: (T, Y, X) array-like movie (ndarray, memmap, h5py/zarr dataset,
            `calscope.io.Movie`, `calscope.motion.RegisteredMovie`), real values, no NaN, at
            least 50 frames. It is read once, in chunks of ``chunk_frames`` frames, as
            float32. Each patch (the whole frame when it is no larger than ``patch_px``)
            needs two in-memory copies of 4 bytes per pixel and frame; an InputError is raised
            when they would exceed ``max_memory_gb``.
        fs: frame rate (Hz).
        settings: `CnmfSettings`; defaults when None.
        progress: called as progress(step, done, total) between steps.
        seed: seeds the background's random start; the result is a function of the movie,
            the settings and the seed.
        map_patches: how the patches are factorised (`calscope.extract.patches.PatchMap`):
            None, one after another here; `calscope.pipeline.compute.patch_map` gives one
            that runs them on a dask cluster.

    Returns:
        `Sources` with every component kept after merging; ``accepted`` marks the cells.

    Raises:
        InputError: not a (T, Y, X) movie, fewer than 50 frames, NaN or ±inf, fs ≤ 0, a
            patch too large for ``max_memory_gb``, or an overlap not below ``patch_px``.
    """
    settings = settings or CnmfSettings()
    rate = check_fs(fs)
    n_frames, height, width = extraction_shape(movie)
    overlap = (settings.patch_overlap_px if settings.patch_overlap_px is not None
               else int(np.ceil(4 * settings.cell_radius_px)))
    if overlap >= settings.patch_px and max(height, width) > settings.patch_px:
        raise InputError(f"cnmf.patch_overlap_px = {overlap} (4 × cell_radius_px unless set) "
                         f"is not below cnmf.patch_px = {settings.patch_px}: the patches "
                         "would not advance; raise patch_px (to a few times the overlap) "
                         "or lower the overlap")
    patches = patch_grid((height, width), settings.patch_px, overlap)
    side = max(max(p.rows.stop - p.rows.start, p.cols.stop - p.cols.start) for p in patches)
    budget = settings.max_memory_gb * 1e9
    # working copies of a patch: its pixels and the initialization's filtered ones, and with
    # a ring background the pixels less it
    copies = 3 if settings.background == "ring" else 2
    patch_bytes = check_memory(n_frames, min(side, height), min(side, width), copies=copies,
                               max_bytes=budget, unit="patch" if len(patches) > 1 else "")
    steps = len(patches) if len(patches) > 1 else settings.iterations
    total = steps + 3
    report = progress or (lambda step, done, of: None)
    report("reading the movie", 0, total)
    inside = inside_border((height, width), settings.border_px)
    # the whole frame in one patch keeps its only copy in memory for the factorisation
    memory = budget if len(patches) == 1 else budget - copies * patch_bytes
    with pixel_store(movie, settings.chunk_frames, memory) as store:
        if len(patches) == 1:
            factors = factorize(store.pixels, store.shape, store.noise, inside, rate, settings,
                                seed=seed,
                                on_round=lambda i: report("iteration", 1 + i, total))
        else:
            factors = factorize_patches(
                store, inside, rate, settings, patches, seed=seed, map_patches=map_patches,
                on_patch=lambda i: report(f"patch {i + 1} of {len(patches)} done", 1 + i,
                                          total))
        report("traces of the whole frame", steps + 1, total)
        ring = ring_of(settings, store.shape)
        if ring is None:
            sources = _finish(store.pixels, factors, store.noise, rate, settings)
        else:
            with scratch_pixels(store, budget) as source:
                background = ring_removed(store.pixels, ring, factors.footprints,
                                          factors.traces, settings.chunk_frames, source)
                sources = _finish(source, factors, store.noise, rate, settings,
                                  ring=(store.pixels, background.level))
    report("done", total, total)
    return sources


def _finish(data: np.ndarray, factors: Factors, noise: np.ndarray, fs: float,
            settings: CnmfSettings, *, ring: tuple[np.ndarray, np.ndarray] | None = None
            ) -> Sources:
    """The last trace update, the quality test and ΔF/F of every component; ``data`` (P, T)
    may be a memory map and the factors' footprints sparse. With a ring background, ``data``
    is the movie less it and ``ring`` the movie itself (P, T) and the ring's (P,) levels."""
    a, b = factors.footprints, factors.background_footprints
    shape = noise.shape
    fit = update_traces(data, a, factors.traces, b, factors.background_traces, fs, settings)
    quality = evaluate(data, a, fit.traces, fit.calcium, fit.sn, (b, fit.background), shape,
                       grow_px=max(settings.grow_px, 1))
    accepted = (quality.spatial_r >= settings.min_spatial_r) & (quality.snr >= settings.min_snr)
    if ring is None:
        under = np.asarray((a.T @ b) @ fit.background)
        background = b.toarray() if scipy.sparse.issparse(b) else b
        background_traces = fit.background
    else:  # what the ring background puts under each footprint: A'(movie − movie less it)
        movie, level = ring
        under = times_data(a.T, movie) - times_data(a.T, data)
        background = np.maximum(level, 0.0)[:, None]
        background_traces = np.ones((1, data.shape[1]))
    dff = _dff(fit, under, fs, settings.baseline_window_s)
    return Sources(
        footprints=scipy.sparse.csc_matrix(a, dtype=np.float32),
        traces=fit.traces.astype(np.float32), raw_traces=fit.raw.astype(np.float32),
        spikes=fit.spikes.astype(np.float32), dff=dff.astype(np.float32),
        background_footprints=background.astype(np.float32),
        background_traces=background_traces.astype(np.float32), noise_map=noise,
        quality=quality, accepted=accepted, shape=(int(shape[0]), int(shape[1])), fs=fs)


def _dff(fit: Temporal, under: np.ndarray, fs: float, window_s: float) -> np.ndarray:
    """(K, T) ΔF/F: (raw − baseline) / (baseline + the (K, T) background ``under`` the
    footprint, the latter a running mean over ``window_s``); the denominator is floored at 1%
    of its median level."""
    size = max(1, int(round(window_s * fs)))
    under = ndimage.uniform_filter1d(under, size, axis=1, mode="nearest")
    level = fit.baseline + under
    floor = 0.01 * np.abs(np.median(level, axis=1, keepdims=True)) + 1e-12
    return (fit.raw - fit.baseline) / np.maximum(level, floor)

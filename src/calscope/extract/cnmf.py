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

This version holds the movie in memory (twice during initialization); spatial patches are not
implemented yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse
from scipy import ndimage

from calscope.config import CnmfSettings
from calscope.deconv.api import deconvolve
from calscope.extract.data import extraction_shape, load_pixels
from calscope.frames import MovieLike
from calscope.extract.evaluate import Quality, evaluate
from calscope.extract.hals import (gram, hals_rows, normalize, support_masks, times_data,
                                   update_footprints)
from calscope.extract.initialize import initialize
from calscope.extract.merge import merge_components
from calscope.extract.summary import noise_map
from calscope.validation import check_fs, unusable_rows

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
        background_footprints: (Y*X, nb) float32 background images (≥ 0).
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


@dataclass(frozen=True)
class _Temporal:
    """One trace update: (K, T) model traces, raw traces, calcium, baseline, spikes, (K,)
    noise σ, and (nb, T) background traces."""

    traces: np.ndarray
    raw: np.ndarray
    calcium: np.ndarray
    baseline: np.ndarray
    spikes: np.ndarray
    sn: np.ndarray
    background: np.ndarray


def cnmf(movie: MovieLike, fs: float, settings: CnmfSettings | None = None, *,
         progress: Progress | None = None, seed: int = 0) -> Sources:
    """Extract cells from a motion-corrected movie by CNMF (see the module docstring).

    Args:
        movie: (T, Y, X) array-like movie (ndarray, memmap, h5py/zarr dataset,
            `calscope.io.Movie`, `calscope.motion.RegisteredMovie`), real values, no NaN, at
            least 50 frames. It is read in chunks of ``chunk_frames`` frames into memory as
            float32: two copies of 4 bytes per pixel and frame are held during the
            initialization, and an InputError is raised when they would exceed
            ``max_memory_gb``.
        fs: frame rate (Hz).
        settings: `CnmfSettings`; defaults when None.
        progress: called as progress(step, done, total) between steps.
        seed: seeds the background's random start; the result is a function of the movie,
            the settings and the seed.

    Returns:
        `Sources` with every component kept after merging; ``accepted`` marks the cells.

    Raises:
        InputError: not a (T, Y, X) movie, fewer than 50 frames, NaN or ±inf, fs ≤ 0, or too
            large for ``max_memory_gb``.
    """
    settings = settings or CnmfSettings()
    rate = check_fs(fs)
    _, height, width = extraction_shape(movie)
    shape = (height, width)
    total = settings.iterations + 3
    report = progress or (lambda step, done, of: None)

    report("reading the movie", 0, total)
    data = load_pixels(movie, settings.chunk_frames, settings.max_memory_gb * 1e9, copies=2)
    # the noise map from the pixels in memory (a (T, Y, X) view of them): no second read
    noise = noise_map(data.T.reshape(-1, height, width), chunk_frames=settings.chunk_frames)
    report("initialization", 1, total)
    max_cells = settings.max_cells or max(1, int(height * width
                                                 / (2 * settings.cell_radius_px) ** 2))
    inside = _inside(shape, settings.border_px)
    init = initialize(data, shape, noise, cell_radius_px=settings.cell_radius_px,
                      min_energy_z=settings.min_energy_z, max_cells=max_cells,
                      n_background=settings.n_background, chunk_frames=settings.chunk_frames,
                      allowed=inside, seed=seed)
    a, c = normalize(init.footprints * inside[:, None], init.traces)
    b, f = init.background_footprints, init.background_traces
    for round_ in range(settings.iterations):
        report("iteration", 2 + round_, total)
        fit = _update_traces(data, a, c, b, f, rate, settings)
        c, f = fit.traces, fit.background
        a, b = _update_footprints(data, a, c, b, f, shape, inside, settings)
        a, c = normalize(a, c)
        a, c, _ = merge_components(a, c, settings.merge_threshold)
        keep = (np.linalg.norm(a, axis=0) > 0) & (np.ptp(c, axis=1) > 0)
        a, c = a[:, keep], c[keep]
    report("evaluation", total - 1, total)
    fit = _update_traces(data, a, c, b, f, rate, settings)
    quality = evaluate(data, a, fit.traces, fit.calcium, fit.sn, (b, fit.background), shape,
                       grow_px=max(settings.grow_px, 1))
    accepted = (quality.spatial_r >= settings.min_spatial_r) & (quality.snr >= settings.min_snr)
    dff = _dff(fit, a, b, rate, settings.baseline_window_s)
    report("done", total, total)
    return Sources(
        footprints=scipy.sparse.csc_matrix(a.astype(np.float32)),
        traces=fit.traces.astype(np.float32), raw_traces=fit.raw.astype(np.float32),
        spikes=fit.spikes.astype(np.float32), dff=dff.astype(np.float32),
        background_footprints=b.astype(np.float32),
        background_traces=fit.background.astype(np.float32), noise_map=noise,
        quality=quality, accepted=accepted, shape=shape, fs=rate)


def _update_traces(data: np.ndarray, a: np.ndarray, c: np.ndarray, b: np.ndarray,
                   f: np.ndarray, fs: float, settings: CnmfSettings) -> _Temporal:
    """HALS on the cells' and background's traces, then each cell's raw trace (its HALS trace
    plus what the data add beyond the model) denoised by OASIS, then the background's traces
    refitted to the denoised cells."""
    n_cells = a.shape[1]
    both = np.hstack([a, b])
    u, v = times_data(both.T, data), gram(both)
    rows = hals_rows(u, v, np.vstack([c, f]), settings.hals_sweeps)
    diagonal = np.maximum(np.diag(v)[:n_cells], 1e-12)
    raw = rows[:n_cells] + (u[:n_cells] - v[:n_cells] @ rows) / diagonal[:, None]
    calcium, baseline = np.zeros_like(raw), np.zeros_like(raw)
    spikes, sn = np.zeros_like(raw), np.full(n_cells, np.nan)
    usable = ~unusable_rows(raw) if n_cells else np.zeros(0, dtype=bool)
    if usable.any():
        fit = deconvolve(raw[usable], fs, order=settings.order, baseline=True,
                         baseline_window_s=settings.baseline_window_s, native_fs=fs)
        calcium[usable], baseline[usable] = fit.calcium, fit.baseline
        spikes[usable], sn[usable] = fit.spikes, fit.sn
    traces = calcium + baseline
    rows[:n_cells] = traces
    rows = hals_rows(u, v, rows, settings.hals_sweeps, rows=np.arange(n_cells, len(rows)))
    return _Temporal(traces=traces, raw=raw, calcium=calcium, baseline=baseline,
                     spikes=spikes, sn=sn, background=rows[n_cells:])


def _inside(shape: tuple[int, int], border_px: int) -> np.ndarray:
    """(Y*X,) bool: the pixels at least ``border_px`` from the frame's edge."""
    inside = np.zeros(shape, dtype=bool)
    inside[border_px:shape[0] - border_px, border_px:shape[1] - border_px] = True
    return inside.ravel()


def _update_footprints(data: np.ndarray, a: np.ndarray, c: np.ndarray, b: np.ndarray,
                       f: np.ndarray, shape: tuple[int, int], inside: np.ndarray,
                       settings: CnmfSettings) -> tuple[np.ndarray, np.ndarray]:
    """HALS on the footprints (each within its support grown by ``grow_px``, and ``inside``
    (Y*X,) bool: off the border) and the background images (anywhere)."""
    masks: list[np.ndarray | None] = [
        mask[inside[mask]] for mask in support_masks(a, shape, settings.grow_px)]
    masks += [None] * b.shape[1]
    both = update_footprints(data, np.hstack([a, b]), np.vstack([c, f]), masks,
                             settings.hals_sweeps)
    return both[:, :a.shape[1]], both[:, a.shape[1]:]


def _dff(fit: _Temporal, a: np.ndarray, b: np.ndarray, fs: float, window_s: float
         ) -> np.ndarray:
    """(K, T) ΔF/F: (raw − baseline) / (baseline + background under the footprint, the latter
    a running mean over ``window_s``); the denominator is floored at 1% of its median level."""
    under = (a.T @ b) @ fit.background
    size = max(1, int(round(window_s * fs)))
    under = ndimage.uniform_filter1d(under, size, axis=1, mode="nearest")
    level = fit.baseline + under
    floor = 0.01 * np.abs(np.median(level, axis=1, keepdims=True)) + 1e-12
    return (fit.raw - fit.baseline) / np.maximum(level, floor)

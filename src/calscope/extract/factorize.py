"""The CNMF iterations on one region of the movie held in memory (the whole frame, or one
spatial patch): the greedy initialization, then rounds of trace update, footprint update and
merging (see `calscope.extract.cnmf`); and the trace update alone, which also gives the final
traces, spikes and noise of every cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from calscope.config import CnmfSettings
from calscope.deconv.api import deconvolve
from calscope.extract.hals import (gram, hals_rows, normalize, support_masks, times_data,
                                   update_footprints)
from calscope.extract.initialize import initialize
from calscope.extract.merge import merge_components
from calscope.extract.ring import (Ring, RingBackground, fit_ring_background,
                                   without_ring_background)
from calscope.validation import unusable_rows

Footprints = np.ndarray | scipy.sparse.spmatrix
#: The initialization keeps at least this many (averaged) frames to look for cells in.
MIN_INIT_FRAMES = 50
#: The ring background's default radius, in cell radii: just outside the cell (CNMF-E's
#: default ring is 1.4 × half its cell window).
RING_RADII = 1.5


@dataclass(frozen=True)
class Factors:
    """Y ≈ A C + B F of one region: (P, K) footprints A (unit columns), (K, T) traces C,
    (P, nb) background images B and (nb, T) background traces F, dense float64."""

    footprints: np.ndarray
    traces: np.ndarray
    background_footprints: np.ndarray
    background_traces: np.ndarray


@dataclass(frozen=True)
class Temporal:
    """One trace update: (K, T) model traces, raw traces, calcium, baseline, spikes, (K,)
    noise σ, and (nb, T) background traces."""

    traces: np.ndarray
    raw: np.ndarray
    calcium: np.ndarray
    baseline: np.ndarray
    spikes: np.ndarray
    sn: np.ndarray
    background: np.ndarray


def factorize(data: np.ndarray, shape: tuple[int, int], noise: np.ndarray,
              inside: np.ndarray, fs: float, settings: CnmfSettings, *, seed: int = 0,
              on_round: Callable[[int], None] | None = None) -> Factors:
    """The CNMF factors of one region.

    Args:
        data: (P, T) float32 pixels (C order in ``shape``) × frames, in memory.
        shape: (Y, X) of the region.
        noise: (Y, X) per-pixel noise σ.
        inside: (P,) bool, the pixels a cell may be centred on and occupy.
        fs: frame rate (Hz).
        settings: `CnmfSettings`.
        seed: seeds the background's random start.
        on_round: called with each round's index before it runs.
    """
    height, width = shape
    max_cells = settings.max_cells or max(1, int(height * width
                                                 / (2 * settings.cell_radius_px) ** 2))
    ring = ring_of(settings, shape)
    source = data  # what the cells are fitted to: the data, or the data less the ring
    if ring is not None:
        source = np.empty_like(data)
        ring_removed(data, ring, np.zeros((len(data), 0)), np.zeros((0, data.shape[1])),
                     settings.chunk_frames, source)
    init = initialize(source, shape, noise, cell_radius_px=settings.cell_radius_px,
                      min_energy_z=settings.min_energy_z, max_cells=max_cells,
                      n_background=0 if ring is not None else settings.n_background,
                      chunk_frames=settings.chunk_frames, allowed=inside,
                      bin_frames=init_bin_frames(fs, data.shape[1], settings), seed=seed)
    a, c = normalize(init.footprints * inside[:, None], init.traces)
    b, f = init.background_footprints, init.background_traces
    for round_ in range(settings.iterations):
        if on_round is not None:
            on_round(round_)
        if ring is not None:  # the ring refitted to the movie less the cells found so far
            ring_removed(data, ring, a, c, settings.chunk_frames, source)
        fit = update_traces(source, a, c, b, f, fs, settings)
        c, f = fit.traces, fit.background
        a, b = _update_footprints(source, a, c, b, f, shape, inside, settings)
        a, c = normalize(a, c)
        a, c, _ = merge_components(a, c, settings.merge_threshold)
        keep = (np.linalg.norm(a, axis=0) > 0) & (np.ptp(c, axis=1) > 0)
        a, c = a[:, keep], c[keep]
    return Factors(footprints=a, traces=c, background_footprints=b, background_traces=f)


def update_traces(data: np.ndarray, a: Footprints, c: np.ndarray, b: Footprints,
                  f: np.ndarray, fs: float, settings: CnmfSettings) -> Temporal:
    """HALS on the cells' and background's traces, then each cell's raw trace (its HALS trace
    plus what the data add beyond the model) denoised by OASIS, then the background's traces
    refitted to the denoised cells. ``a`` (P, K) and ``b`` (P, nb) may be sparse, and
    ``data`` (P, T) a memory map: it is only multiplied by them."""
    n_cells = a.shape[1]
    both = (scipy.sparse.hstack([a, b], format="csc") if scipy.sparse.issparse(a)
            else np.hstack([a, b]))
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
    return Temporal(traces=traces, raw=raw, calcium=calcium, baseline=baseline,
                    spikes=spikes, sn=sn, background=rows[n_cells:])


def ring_of(settings: CnmfSettings, shape: tuple[int, int]) -> Ring | None:
    """The ring of the ring background in frames of ``shape``; None for a low-rank one."""
    if settings.background != "ring":
        return None
    return Ring(shape, settings.ring_radius_px or RING_RADII * settings.cell_radius_px)


def ring_removed(data: np.ndarray, ring: Ring, a: Footprints, c: np.ndarray,
                 chunk_frames: int, out: np.ndarray) -> RingBackground:
    """Fit the ring background of (P, T) ``data`` less the cells ``a`` (P, K) × ``c``
    (K, T), and write the data less it into ``out`` (P, T); returns the fit."""
    background = fit_ring_background(data, ring, a, c, chunk_frames)
    without_ring_background(data, ring, background, a, c, chunk_frames, out)
    return background


def init_bin_frames(fs: float, n_frames: int, settings: CnmfSettings) -> int:
    """Frames averaged into one for the initialization: floor(fs / ``init_rate_hz``), at
    least 1, and at most what leaves `MIN_INIT_FRAMES` frames."""
    wanted = int(fs // settings.init_rate_hz)
    return max(1, min(wanted, n_frames // MIN_INIT_FRAMES))


def inside_border(shape: tuple[int, int], border_px: int) -> np.ndarray:
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

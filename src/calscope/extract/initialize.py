"""Initialization of CNMF: a greedy search for cells, then a non-negative background.

Cells (a variant of the greedy initialization of Pnevmatikakis et al. 2016, with the residual
updated after each cell as in CNMF-E, Zhou et al. 2018): the movie, averaged over runs of
``bin_frames`` frames (faster, and slow transients stand out more), mean removed and divided by
its mean image, is filtered in space by a difference of Gaussians (`calscope.extract.dog`: the
centre matches a cell, the wider surround removes the smooth neuropil and background). At every pixel the filtered
trace's energy over time, against what its noise alone would give, is a z-score; the pixel with
the highest is a cell's centre. Its filtered trace seeds a rank-1 fit of the unfiltered data in
a window around it (footprint ≥ 0: the connected part around the centre), and the fitted cell,
filtered the same way, is subtracted from the filtered movie, so the next pick sees only what
is left. The search stops when no pixel's z-score reaches ``min_energy_z``.

Background: a rank-``n_background`` non-negative factorisation (HALS) of the movie minus the
cells found (none for ``n_background`` 0, as with the ring background of `calscope.extract.ring`,
which the caller removes from the movie first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from calscope.deconv.noise import noise_sigma
from calscope.extract.dog import DogFilter
from calscope.extract.hals import hals_rows, times_data

#: Footprint pixels kept at initialization: at least this fraction of the footprint's peak.
KEEP_FRACTION = 0.2
#: The movie is divided by its mean image (floored at this fraction of the median pixel's
#: mean) before filtering: neuropil scales with the local brightness, so this leaves it
#: spatially smooth, for the surround to remove.
BRIGHTNESS_FLOOR = 0.1
#: Rank-1 refinement rounds for each seeded cell, and HALS rounds for the background.
RANK1_ROUNDS, BACKGROUND_ROUNDS = 3, 5
#: Pixels whose filtered noise is measured (a regular sample): enough for a median.
NOISE_SAMPLE = 4096


@dataclass(frozen=True)
class Initialization:
    """Starting point of the CNMF iterations.

    Attributes:
        footprints: (P, K) float64 cells' footprints A (P = Y*X pixels, C order), ≥ 0.
        traces: (K, T) float64 cells' traces C, ≥ 0 (movie units per unit footprint).
        background_footprints: (P, nb) float64 background images B, ≥ 0.
        background_traces: (nb, T) float64 background time courses F, ≥ 0.
        centers: (K, 2) int (y, x) pixel each cell was seeded at.
        energy_z: (K,) the z-score each cell was picked with.
    """

    footprints: np.ndarray
    traces: np.ndarray
    background_footprints: np.ndarray
    background_traces: np.ndarray
    centers: np.ndarray
    energy_z: np.ndarray


def initialize(data: np.ndarray, shape: tuple[int, int], noise: np.ndarray, *,
               cell_radius_px: float, min_energy_z: float, max_cells: int,
               n_background: int, chunk_frames: int, allowed: np.ndarray | None = None,
               bin_frames: int = 1, seed: int = 0) -> Initialization:
    """Greedy cells plus a non-negative background (see the module docstring).

    Args:
        data: (P, T) float32 movie, pixels (C order in ``shape``) × frames.
        shape: (Y, X) frame shape.
        noise: (Y, X) per-pixel noise σ (movie units), e.g. `SummaryImages.noise`.
        cell_radius_px: typical cell radius (pixels); the centre Gaussian's σ is half of it.
        min_energy_z: stop when no pixel's energy z-score reaches this.
        max_cells: stop after this many cells.
        n_background: background components (0: none).
        chunk_frames: frames filtered at a time.
        allowed: (Y*X,) bool, the pixels a cell may be centred on (e.g. not the strip that
            motion correction filled by repeating the edge); None: all.
        bin_frames: cells are sought in the movie averaged over runs of this many frames
            (the last, incomplete run left out), faster; their traces are then held
            constant over each run (and the frames left out), a start for CNMF's updates.
        seed: seeds the random start of background components beyond the first.

    Returns:
        `Initialization`.
    """
    height, width = shape
    n_frames = data.shape[1]
    mean = data.mean(axis=1, dtype=np.float64).astype(np.float32)
    scale = np.maximum(mean, BRIGHTNESS_FLOOR * max(float(np.median(mean)), 1e-6))
    dog = DogFilter(shape, max(cell_radius_px / 2.0, 0.5))
    searched = _binned(data, bin_frames, chunk_frames)
    filtered = _filtered(searched, mean, scale, dog, chunk_frames)
    # white noise averaged over k frames: σ / √k (`_correlation_factor` checks the rest)
    noise_z = np.maximum(dog.noise(noise / scale.reshape(shape)).ravel()
                         / np.sqrt(bin_frames), 1e-12)
    noise_z *= _correlation_factor(filtered, noise_z)
    energy = _energy_z(filtered, noise_z, bin_frames)
    allowed = (np.ones(height * width, dtype=bool) if allowed is None
               else np.array(allowed, dtype=bool))  # a copy: picks are blocked in it
    window = int(np.ceil(2.0 * cell_radius_px))
    blocked = max(1, int(round(cell_radius_px / 2.0)))
    cells, traces, centers, scores = [], [], [], []
    while len(cells) < max_cells:
        pick = int(np.argmax(np.where(allowed, energy, -np.inf)))
        if not energy[pick] >= min_energy_z:
            break
        score = float(energy[pick])
        y, x = divmod(pick, width)
        allowed[_pixels(*_box(y, x, blocked, shape), width)] = False
        found = _rank1(searched, mean, scale, filtered, pick, window, dog)
        if found is None:
            continue
        footprint, trace, spread, touched = found
        filtered[touched] -= np.outer(spread, trace).astype(np.float32)
        energy[touched] = _energy_z(filtered[touched], noise_z[touched], bin_frames)
        cells.append(footprint)
        traces.append(trace)
        centers.append((y, x))
        scores.append(score)
    del filtered, searched
    a = np.stack(cells, axis=1) if cells else np.zeros((height * width, 0))
    c = _unbinned(np.stack(traces) if traces else np.zeros((0, n_frames // bin_frames)),
                  bin_frames, n_frames)
    c = c - c.min(axis=1, keepdims=True)
    b, f = _background(data, a, c, n_background, seed)
    return Initialization(footprints=a, traces=c, background_footprints=b, background_traces=f,
                          centers=np.array(centers, dtype=int).reshape(-1, 2),
                          energy_z=np.array(scores))


def _binned(data: np.ndarray, bin_frames: int, chunk_frames: int) -> np.ndarray:
    """(P, T // k) float32 means of (P, T) ``data`` over runs of k = ``bin_frames`` frames
    (``data`` itself for k = 1), computed ``chunk_frames`` runs at a time."""
    if bin_frames == 1:
        return data
    runs = data.shape[1] // bin_frames
    out = np.empty((data.shape[0], runs), dtype=np.float32)
    for start in range(0, runs, chunk_frames):
        stop = min(start + chunk_frames, runs)
        block = data[:, start * bin_frames: stop * bin_frames]
        out[:, start:stop] = block.reshape(len(block), stop - start, bin_frames).mean(
            axis=2, dtype=np.float32)
    return out


def _unbinned(traces: np.ndarray, bin_frames: int, n_frames: int) -> np.ndarray:
    """(K, n_frames) traces of (K, n) run means: each held over its run, the last held over
    the frames that no run covers."""
    held = np.repeat(traces, bin_frames, axis=1)
    if held.shape[1] >= n_frames or held.shape[1] == 0:
        return held[:, :n_frames] if held.shape[1] else np.zeros((len(traces), n_frames))
    return np.pad(held, ((0, 0), (0, n_frames - held.shape[1])), mode="edge")


def _filtered(data: np.ndarray, mean: np.ndarray, scale: np.ndarray, dog: DogFilter,
              chunk_frames: int) -> np.ndarray:
    """(P, T) float32 difference-of-Gaussians filtered (data − mean) / scale."""
    height, width = dog.shape
    out = np.empty_like(data)
    cube, out_cube = data.reshape(height, width, -1), out.reshape(height, width, -1)
    base, divide = mean.reshape(height, width, 1), scale.reshape(height, width, 1)
    for start in range(0, data.shape[1], chunk_frames):
        block = (cube[:, :, start: start + chunk_frames] - base) / divide
        out_cube[:, :, start: start + chunk_frames] = dog.apply(block)
    return out


def _correlation_factor(filtered: np.ndarray, expected: np.ndarray) -> float:
    """How much larger the filtered movie's noise is than `_filtered_noise` expects for
    independent pixels: the median over pixels of measured / expected σ (measured from each
    filtered trace's upper spectral half), never below 1. Above 1 when neighbouring pixels'
    noise is correlated, e.g. after the interpolation of motion correction, which would
    otherwise seed cells in pure noise. Measured on a regular sample of `NOISE_SAMPLE`
    pixels."""
    sample = slice(None, None, max(1, len(filtered) // NOISE_SAMPLE))
    measured = noise_sigma(filtered[sample], 1.0)
    ratio = np.nanmedian(measured / expected[sample])
    return float(max(ratio, 1.0)) if np.isfinite(ratio) else 1.0


def _energy_z(filtered: np.ndarray, noise: np.ndarray, bin_frames: int) -> np.ndarray:
    """Per row of (n, T) mean-free filtered traces, the z-score of its energy against white
    noise of σ ``noise`` (n,): (mean of squares / σ² − 1) · √(T/2), over √k for traces that
    are means of k = ``bin_frames`` frames. A signal well above the noise then scores what it
    would in the k·T frames themselves (averaging raises its power over the noise's k-fold
    and cuts the frames k-fold), so ``min_energy_z`` means the same with or without binning;
    pure noise scores less."""
    power = np.einsum("pt,pt->p", filtered, filtered, dtype=np.float64) / filtered.shape[1]
    return (power / noise ** 2 - 1.0) * np.sqrt(filtered.shape[1] / 2.0 / bin_frames)


def _box(y: int, x: int, radius: int, shape: tuple[int, int]) -> tuple[slice, slice]:
    """Row and column slices of the square of ``radius`` around (y, x), clipped."""
    return (slice(max(y - radius, 0), min(y + radius + 1, shape[0])),
            slice(max(x - radius, 0), min(x + radius + 1, shape[1])))


def _pixels(rows: slice, cols: slice, width: int) -> np.ndarray:
    """(h·w,) pixel indices (C order, frames ``width`` wide) of the region rows × cols."""
    return (np.arange(rows.start, rows.stop)[:, None] * width
            + np.arange(cols.start, cols.stop)[None, :]).ravel()


def _rank1(data: np.ndarray, mean: np.ndarray, scale: np.ndarray, filtered: np.ndarray,
           pick: int, window: int, dog: DogFilter
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """A cell seeded at pixel ``pick``, by alternating a footprint fit of the mean-removed
    data in a window (≥ 0, the connected part around ``pick`` above KEEP_FRACTION of its value
    there) and a trace fit of the filtered data to the filtered footprint (neuropil-free, so
    subtracting the cell from the filtered movie removes the cell only).

    Returns (P,) footprint, (T,) mean-free trace, the filtered footprint's values on the
    pixels it reaches and their indices; None when nothing is left at ``pick``.
    """
    shape = dog.shape
    y, x = divmod(pick, shape[1])
    rows, cols = _box(y, x, window, shape)
    box = _pixels(rows, cols, shape[1])
    local = data[box] - mean[box, None]
    centre = (y - rows.start, x - cols.start)
    trace = filtered[pick].astype(np.float64)
    for _ in range(RANK1_ROUNDS):
        norm = trace @ trace
        if norm <= 0:
            return None
        weights = np.maximum(local @ trace.astype(np.float32) / norm, 0.0).reshape(
            rows.stop - rows.start, cols.stop - cols.start)
        if weights[centre] <= 0:
            return None
        labels, _ = ndimage.label(weights >= KEEP_FRACTION * weights[centre],
                                  structure=np.ones((3, 3)))
        kept = np.where(labels == labels[centre], weights, 0.0)
        spread, out_rows, out_cols = dog.apply_region(kept / scale[box].reshape(kept.shape),
                                                      rows, cols)
        spread = spread.ravel()
        reached = np.abs(spread) > 1e-3 * np.abs(spread).max()
        touched, spread = _pixels(out_rows, out_cols, shape[1])[reached], spread[reached]
        trace = (spread.astype(np.float32) @ filtered[touched]).astype(np.float64)
        trace /= spread @ spread
    footprint = np.zeros(shape[0] * shape[1])
    footprint[box] = kept.ravel()
    return footprint, trace, spread, touched


def _background(data: np.ndarray, cells: np.ndarray, traces: np.ndarray, n_background: int,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(P, nb) images and (nb, T) time courses ≥ 0 fitting data − cells · traces by HALS:
    the first starts as the remainder's mean image at unit level, the others at random."""
    n_pixels, n_frames = data.shape
    if n_background == 0:
        return np.zeros((n_pixels, 0)), np.zeros((0, n_frames))
    rng = np.random.default_rng(seed)
    remainder_mean = data.mean(axis=1, dtype=np.float64) - cells @ traces.mean(axis=1)
    b = np.empty((n_pixels, n_background))
    b[:, 0] = np.maximum(remainder_mean, 0.0)
    b[:, 1:] = rng.uniform(0.0, 1.0, (n_pixels, n_background - 1)) * b[:, :1].mean()
    f = np.ones((n_background, n_frames))
    f[1:] *= 0.1
    for _ in range(BACKGROUND_ROUNDS):
        u = times_data(b.T, data) - (b.T @ cells) @ traces
        f = hals_rows(u, b.T @ b, f, 1)
        w = times_data(f, data.T).T - cells @ (traces @ f.T)
        b = hals_rows(w.T, f @ f.T, b.T, 1).T
    return b, f

"""The ring background of one-photon movies (after CNMF-E, Zhou et al. 2018), in a simplified
form: a pixel's background is its own constant level plus a gain times the mean fluctuation
of the pixels on a ring around it.

In a one-photon movie most of the light comes from out of focus: blurred cells and neuropil
above and below the focal plane, too many and too varied for a background of low rank. But it
is smooth at the scale of a cell, so what it does at a pixel is what it does on a ring of
radius ``radius_px`` around it (farther than the cell's own edge, so a cell does not see
itself). With X = Y − A C (the movie less the cells),

    B_p(t) = b0_p + w_p · R_p(t),   R_p(t) = mean over the ring of p of (X_q(t) − b0_q),

b0_p the mean of X_p over time and w_p the least-squares gain of X_p − b0_p on R_p. CNMF-E fits
a weight per ring pixel; one gain per pixel is a simpler model with far fewer parameters, fitted
in two passes over the frames (the ring mean is a sparse (P, P) matrix product). The cells are
then fitted to D = Y − B, as CNMF fits them to the movie less its low-rank background.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse


@dataclass(frozen=True)
class Ring:
    """The ring of radius ``radius_px`` (pixels) in frames of ``shape`` (Y, X): the pixels
    whose distance from the centre is within half a pixel of it."""

    shape: tuple[int, int]
    radius_px: float

    @cached_property
    def offsets(self) -> np.ndarray:
        """(n, 2) int (dy, dx) of the ring's pixels from its centre."""
        reach = int(np.ceil(self.radius_px + 0.5))
        yy, xx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
        on = np.abs(np.hypot(yy, xx) - self.radius_px) <= 0.5
        return np.stack([yy[on], xx[on]], axis=1)

    @cached_property
    def matrix(self) -> scipy.sparse.csr_matrix:
        """(P, P) float32 CSR: row p averages the pixels of p's ring that lie in the frame
        (a sparse product is several times faster than an FFT convolution here)."""
        height, width = self.shape
        ys, xs = np.divmod(np.arange(height * width), width)
        rows, cols = [], []
        for dy, dx in self.offsets:
            y, x = ys + dy, xs + dx
            inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
            rows.append(np.flatnonzero(inside))
            cols.append((y * width + x)[inside])
        row, col = np.concatenate(rows), np.concatenate(cols)
        counts = np.maximum(np.bincount(row, minlength=height * width), 1)
        return scipy.sparse.csr_matrix((1.0 / counts[row].astype(np.float32), (row, col)),
                                       shape=(height * width, height * width))

    def mean(self, pixels: np.ndarray) -> np.ndarray:
        """(P, n) float32 mean over each pixel's ring (its in-frame pixels) of (P, n)
        ``pixels`` (C order in ``shape``) × frames."""
        return np.asarray(self.matrix @ pixels, dtype=np.float32)


@dataclass(frozen=True)
class RingBackground:
    """A fitted ring background: (P,) float64 level b0 and gain w of each pixel."""

    level: np.ndarray
    gain: np.ndarray


def fit_ring_background(data: np.ndarray, ring: Ring, cells: np.ndarray | scipy.sparse.spmatrix,
                        traces: np.ndarray, chunk_frames: int) -> RingBackground:
    """The ring background of (P, T) ``data`` less the cells (P, K) ``cells`` × (K, T)
    ``traces`` (K may be 0): one pass for the levels, one for the gains."""
    level = (np.asarray(data.mean(axis=1, dtype=np.float64))
             - np.asarray(cells @ traces.mean(axis=1)).ravel())
    together = np.zeros(len(level))
    ring_power = np.zeros(len(level))
    for chunk, fluctuation, around in _passes(data, ring, cells, traces, level, chunk_frames):
        together += np.einsum("pt,pt->p", fluctuation, around, dtype=np.float64)
        ring_power += np.einsum("pt,pt->p", around, around, dtype=np.float64)
    gain = np.divide(together, ring_power, out=np.zeros_like(together), where=ring_power > 0)
    return RingBackground(level=level, gain=gain)


def without_ring_background(data: np.ndarray, ring: Ring, background: RingBackground,
                            cells: np.ndarray | scipy.sparse.spmatrix, traces: np.ndarray,
                            chunk_frames: int, out: np.ndarray) -> np.ndarray:
    """Write D = data − B into ``out`` (P, T) float32 (an array or a writable memory map) and
    return it; B from ``background``, its rings read in data less the cells."""
    for chunk, fluctuation, around in _passes(data, ring, cells, traces, background.level,
                                              chunk_frames):
        out[:, chunk] = (np.asarray(data[:, chunk], dtype=np.float32)
                         - background.level[:, None].astype(np.float32)
                         - background.gain[:, None].astype(np.float32) * around)
    return out


def _passes(data: np.ndarray, ring: Ring, cells: np.ndarray | scipy.sparse.spmatrix,
            traces: np.ndarray, level: np.ndarray, chunk_frames: int
            ) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """Per chunk of ``chunk_frames`` frames: its slice, the (P, n) float32 data less the cells
    less ``level`` (P,), and that fluctuation's ring mean."""
    for start in range(0, data.shape[1], chunk_frames):
        chunk = slice(start, min(start + chunk_frames, data.shape[1]))
        fluctuation = (np.asarray(data[:, chunk], dtype=np.float32)
                       - np.asarray(cells @ traces[:, chunk], dtype=np.float32)
                       - level[:, None].astype(np.float32))
        yield chunk, fluctuation, ring.mean(fluctuation)

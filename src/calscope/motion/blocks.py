"""Piecewise-rigid registration: shifts of overlapping blocks after the rigid one, cleaned up and
interpolated to every pixel.

Each block of a frame is cut out at its place in the template moved by the frame's rigid shift
(rounded to whole pixels, so no interpolation), and phase-correlated against the same block of
the template within ``max_block_shift`` of the rigid shift (blocks found within `RETAPER_PX`
of where they were cut skip phase correlation's second pass). A block whose peak is weak (below
half the frame's median block peak: too little texture) or that disagrees with its neighbours
by more than `OUTLIER_PX` takes the peak-weighted mean of its sound neighbours instead (the
rigid shift when it has none). The field between block centres is a natural cubic spline
(constant beyond the outer centres).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.ndimage
from numpy.lib.stride_tricks import sliding_window_view
from scipy.interpolate import CubicSpline

from calscope.motion.phase import BATCH_PIXELS, Reference, estimate, make_reference

#: A block whose shift differs from its neighbours' mean by more than this (pixels) is replaced.
OUTLIER_PX = 2.0
#: Blocks found within this (pixels) of their cut skip the second, re-tapered pass.
RETAPER_PX = 1.0
_WEAK_PEAK = 0.5  # a block peak below this fraction of the frame's median block peak is weak
_NEIGHBOURS = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float32)


@dataclass(frozen=True)
class BlockGrid:
    """Overlapping blocks covering a frame.

    Attributes:
        size: (block height, block width) pixels.
        starts: first row (n_blocks_y,) and first column (n_blocks_x,) of each block, pixels.
        frame: (Y, X) the frame's shape.
    """

    size: tuple[int, int]
    starts: tuple[np.ndarray, np.ndarray]
    frame: tuple[int, int]

    @property
    def centers(self) -> tuple[np.ndarray, np.ndarray]:
        """Block centre rows (n_blocks_y,) and columns (n_blocks_x,), float32 pixels."""
        return tuple((s + (b - 1) / 2).astype(np.float32)  # type: ignore[return-value]
                     for s, b in zip(self.starts, self.size))

    @property
    def shape(self) -> tuple[int, int]:
        """(n_blocks_y, n_blocks_x)."""
        return self.starts[0].size, self.starts[1].size

    def cut(self, image: np.ndarray) -> np.ndarray:
        """(n_blocks_y · n_blocks_x, block height, block width) blocks of a (Y, X) image."""
        rows, cols = self.starts
        by, bx = self.size
        return np.stack([image[r:r + by, c:c + bx] for r in rows for c in cols])


def block_grid(height: int, width: int, block_size: int, overlap: float) -> BlockGrid:
    """Square blocks of ``block_size`` pixels (the frame's side where it is smaller), sharing
    at least ``overlap`` of their side with each neighbour, spread evenly from edge to edge."""
    size = (min(block_size, height), min(block_size, width))
    starts = tuple(_starts(n, b, overlap) for n, b in zip((height, width), size))
    return BlockGrid(size, starts, (height, width))  # type: ignore[arg-type]


def _starts(n: int, block: int, overlap: float) -> np.ndarray:
    step = max(1, round(block * (1 - overlap)))
    count = math.ceil((n - block) / step) + 1
    return np.rint(np.linspace(0, n - block, count)).astype(np.int64)


def block_reference(template: np.ndarray, grid: BlockGrid, smooth_sigma: float,
                    workers: int) -> Reference:
    """The template's blocks as one stacked `Reference`."""
    return make_reference(grid.cut(template), smooth_sigma, workers)


def block_shifts(frames: np.ndarray, rigid: np.ndarray, grid: BlockGrid, ref: Reference,
                 max_block_shift: float) -> np.ndarray:
    """(n, n_blocks_y, n_blocks_x, 2) float32 displacement of each block of (n, Y, X) frames
    beyond their (n, 2) rigid shifts (pixels, regularised); the frames are cut into blocks a few
    at a time (`BATCH_PIXELS` of blocks)."""
    n = frames.shape[0]
    step = max(1, BATCH_PIXELS // (grid.size[0] * grid.size[1] * grid.shape[0] * grid.shape[1]))
    out = np.empty((n, *grid.shape, 2), dtype=np.float32)
    for i in range(0, n, step):
        out[i:i + step] = _raw_block_shifts(frames[i:i + step], rigid[i:i + step], grid, ref,
                                            max_block_shift)
    return out


def _raw_block_shifts(frames: np.ndarray, rigid: np.ndarray, grid: BlockGrid, ref: Reference,
                      max_block_shift: float) -> np.ndarray:
    n = frames.shape[0]
    by, bx = grid.size
    offset = np.rint(rigid).astype(np.int64)  # (n, 2)
    # each frame's blocks start at the template's block moved by the whole-pixel rigid shift,
    # kept inside the frame; ``moved`` is how far that actually is
    rows = np.clip(grid.starts[0] + offset[:, :1], 0, grid.frame[0] - by)  # (n, nby)
    cols = np.clip(grid.starts[1] + offset[:, 1:], 0, grid.frame[1] - bx)  # (n, nbx)
    windows = sliding_window_view(frames, (by, bx), axis=(1, 2))
    blocks = windows[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    moved = np.stack(np.broadcast_arrays((rows - grid.starts[0])[:, :, None],
                                         (cols - grid.starts[1])[:, None, :]), axis=-1)
    radius = min(max_block_shift, min(by, bx) / 2 - 1)
    count = grid.shape[0] * grid.shape[1]
    found, peaks = estimate(blocks.reshape(-1, by, bx), ref,
                            (rigid[:, None, None, :] - moved).reshape(-1, 2), radius,
                            np.tile(np.arange(count), n), retaper_beyond=RETAPER_PX)
    residual = found.reshape(moved.shape) + moved - rigid[:, None, None, :]
    return regularise(residual, peaks.reshape(n, *grid.shape))


def regularise(residual: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Replace weak or outlying blocks of (n, nby, nbx, 2) shifts (peaks (n, nby, nbx)) by the
    peak-weighted mean of their sound neighbours (0, i.e. the rigid shift, when none)."""
    weight = np.clip(peaks, 0, None).astype(np.float64)
    weak = weight < _WEAK_PEAK * np.median(weight, axis=(1, 2), keepdims=True)
    outlier = np.abs(residual - _neighbour_mean(residual, weight)).max(axis=-1) > OUTLIER_PX
    sound = ~(weak | outlier)
    if sound.all():
        return residual.astype(np.float32)
    replacement = _neighbour_mean(residual, weight * sound)
    return np.where(sound[..., None], residual, replacement).astype(np.float32)


def _neighbour_mean(residual: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(n, nby, nbx, 2) weighted mean of each block's 8 neighbours (0 where they weigh 0)."""
    kernel = _NEIGHBOURS[None]
    total = scipy.ndimage.correlate(weight, kernel, mode="constant")
    out = np.zeros(residual.shape)
    for k in range(2):
        summed = scipy.ndimage.correlate(weight * residual[..., k], kernel, mode="constant")
        np.divide(summed, total, out=out[..., k], where=total > 0)
    return out


def interpolation_weights(centers: np.ndarray, n: int) -> np.ndarray:
    """(n, len(centers)) float32 weights that interpolate values at block ``centers`` to the
    pixels 0..n-1 along one axis: a natural cubic spline, constant beyond the outer centres."""
    if centers.size == 1:
        return np.ones((n, 1), dtype=np.float32)
    spline = CubicSpline(centers, np.eye(centers.size), bc_type="natural")
    return spline(np.clip(np.arange(n), centers[0], centers[-1])).astype(np.float32)


def pixel_field(residual: np.ndarray, weights_y: np.ndarray, weights_x: np.ndarray) -> np.ndarray:
    """(n, 2, Y, X) float32 displacement at every pixel from (n, nby, nbx, 2) block shifts and
    the (Y, nby), (X, nbx) `interpolation_weights`."""
    return weights_y @ np.moveaxis(residual, -1, 1) @ weights_x.T

"""Resampling frames by a displacement: ``registered(y, x) = frame(y + dy, x + dx)``.

Bilinear interpolation (order 1). Positions outside the frame take the value of the nearest
edge pixel ('nearest'), so registered frames have no holes; `valid_pixels` and
`Registration.valid_mask` say which pixels came from inside the frame, for cropping.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage


def shift_frames(frames: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """(n, Y, X) float32 frames moved back by their rigid (n, 2) (dy, dx) pixel shifts."""
    out = np.empty(frames.shape, dtype=np.float32)
    for frame, shift, target in zip(frames, shifts, out):
        scipy.ndimage.shift(frame, -np.asarray(shift, dtype=np.float64), output=target, order=1,
                            mode="nearest")
    return out


def warp_frame(frame: np.ndarray, displacement: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(Y, X) float32 ``frame`` sampled at ``grid + displacement`` (both (2, Y, X) pixels;
    ``grid`` is ``np.indices((Y, X))``)."""
    return scipy.ndimage.map_coordinates(frame, grid + displacement, order=1, mode="nearest",
                                         output=np.float32)


def valid_pixels(displacement: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(Y, X) bool: pixels that the (n, 2, Y, X) ``displacement`` (or (n, 2, 1, 1) for rigid
    shifts) keeps inside a ``shape`` frame in all n frames (False where the registered value
    is an edge pixel repeated)."""
    low = displacement.min(axis=0)
    high = displacement.max(axis=0)
    y = np.arange(shape[0])[:, None]
    x = np.arange(shape[1])[None, :]
    slack = 1e-3  # a shift of 1e-4 px is no reason to drop a row
    return ((y + low[0] >= -slack) & (y + high[0] <= shape[0] - 1 + slack)
            & (x + low[1] >= -slack) & (x + high[1] <= shape[1] - 1 + slack))

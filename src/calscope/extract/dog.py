"""The difference-of-Gaussians filter that CNMF's initialization looks for cells through: a
centre Gaussian of σ matched to a cell minus a surround of `SURROUND` σ that removes smooth
neuropil and background. Edges are reflected (as `scipy.ndimage`'s default mode).

The filter is applied as dense matrix products, one per axis: the Gaussians of a frame's
height and width are (n, n) matrices, so a block of frames is filtered by two BLAS calls
instead of a pass of short convolutions per line (several times faster on a movie, where this
is most of the initialization's time). The same matrices give the filtered noise exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage

#: Surround σ of the difference of Gaussians, in units of the centre σ.
SURROUND = 3.0
#: Gaussian kernels are cut at this many σ.
TRUNCATE = 3.0


def _gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) float64 matrix of the 1-D Gaussian filter (reflected edges): row i holds the
    weights output i gives each input."""
    return ndimage.gaussian_filter1d(np.eye(n), sigma, axis=0, truncate=TRUNCATE)


@dataclass(frozen=True)
class DogFilter:
    """The difference of Gaussians for frames of ``shape`` (Y, X) and centre σ ``sigma``
    (pixels)."""

    shape: tuple[int, int]
    sigma: float

    @cached_property
    def _rows(self) -> np.ndarray:
        """(2, Y, Y) float64: the centre's and the surround's Gaussian along y."""
        return np.stack([_gaussian_matrix(self.shape[0], s)
                         for s in (self.sigma, SURROUND * self.sigma)])

    @cached_property
    def _cols(self) -> np.ndarray:
        """(2, X, X) float64: the same along x."""
        return np.stack([_gaussian_matrix(self.shape[1], s)
                         for s in (self.sigma, SURROUND * self.sigma)])

    @cached_property
    def _rows32(self) -> np.ndarray:
        """(2·Y, Y) float32: both Gaussians along y stacked, for one product."""
        return self._rows.reshape(-1, self.shape[0]).astype(np.float32)

    @cached_property
    def _cols32(self) -> np.ndarray:
        return self._cols.astype(np.float32)

    def apply(self, block: np.ndarray) -> np.ndarray:
        """Filtered copy of ``block`` (Y, X) or (Y, X, n) (n frames, any float dtype), in
        float32, of the same shape."""
        height, width = self.shape
        if block.shape[:2] != (height, width):
            raise ValueError(f"block of shape {block.shape} for a {self.shape} filter")
        flat = np.asarray(block, dtype=np.float32).reshape(height, -1)
        along_y = (self._rows32 @ flat).reshape(2, height, width, -1)
        out = np.matmul(self._cols32[0], along_y[0])
        out -= np.matmul(self._cols32[1], along_y[1])
        return out.reshape(block.shape)

    def apply_region(self, image: np.ndarray, rows: slice, cols: slice
                     ) -> tuple[np.ndarray, slice, slice]:
        """The filtered frame of an image that is zero outside ``rows`` × ``cols`` (slices
        with start and stop), whose values there are ``image``. Returns the float64 filtered
        values on that region grown by the surround's reach (clipped to the frame), outside
        which they are all zero, and the grown region's row and column slices. The same
        numbers as `apply` on the whole frame, at the cost of the region only.
        """
        reach = int(TRUNCATE * SURROUND * self.sigma + 0.5)
        grown = [slice(max(span.start - reach, 0), min(span.stop + reach, size))
                 for span, size in zip((rows, cols), self.shape)]
        along_y = self._rows[:, grown[0], rows]  # (2, h', h)
        along_x = self._cols[:, grown[1], cols]  # (2, w', w)
        values = np.asarray(image, dtype=np.float64)
        out = along_y[0] @ values @ along_x[0].T - along_y[1] @ values @ along_x[1].T
        return out, grown[0], grown[1]

    def noise(self, noise: np.ndarray) -> np.ndarray:
        """(Y, X) float64 noise σ of the filtered movie, for independent pixel noise of σ
        ``noise`` (Y, X): var_p = Σ_q L_pq² σ_q² for the filter's matrix L = G₁ − G₂. The
        squares of the separable Gaussians' entries are separable too (L² = G₁² + G₂² − 2 G₁G₂
        entrywise, each a product of a row and a column factor), so this is a few small
        matrix products."""
        variance = np.asarray(noise, dtype=np.float64) ** 2
        rows, cols = self._rows, self._cols
        total = np.zeros_like(variance)
        for (i, j), weight in (((0, 0), 1.0), ((1, 1), 1.0), ((0, 1), -2.0)):
            total += weight * (rows[i] * rows[j]) @ variance @ (cols[i] * cols[j]).T
        return np.sqrt(np.maximum(total, 0.0))

"""Quality of extracted components, and which to accept as cells.

Two tests per component (in the spirit of CaImAn's component evaluation, Giovannucci et al.
2019):

* **spatial correlation r**: over the frames where the cell is active (denoised calcium above
  ``active_sigma`` noise σ), the data minus background and all other components, averaged over
  those frames, is an image of what the cell added; r is its Pearson correlation with the
  footprint over the footprint's support grown by a few pixels. A real cell's image has the
  footprint's shape (r near 1); a component fitted to noise or to smooth neuropil does not.
* **SNR**: the peak of the denoised calcium over the noise σ of the raw trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from calscope.extract.hals import support_masks


@dataclass(frozen=True)
class Quality:
    """Per-component quality measures, each (cells,).

    Attributes:
        spatial_r: correlation of the footprint with the data during the cell's active frames
            (see the module docstring); 0 when the cell is never active.
        snr: peak denoised calcium over the raw trace's noise σ.
        size_px: number of pixels in the footprint's support.
        active_frames: number of frames the cell was active in.
    """

    spatial_r: np.ndarray
    snr: np.ndarray
    size_px: np.ndarray
    active_frames: np.ndarray


def evaluate(data: np.ndarray, footprints: np.ndarray, traces: np.ndarray,
             calcium: np.ndarray, sn: np.ndarray, background: tuple[np.ndarray, np.ndarray],
             shape: tuple[int, int], *, active_sigma: float = 2.0, grow_px: int = 2) -> Quality:
    """Quality of each component.

    Args:
        data: (P, T) float32 movie, pixels × frames (an ndarray or a memory map: only the
            rows of each cell's neighbourhood are read).
        footprints: (P, K) A ≥ 0, dense or sparse.
        traces: (K, T) C as in the model (denoised calcium plus baseline).
        calcium: (K, T) denoised calcium above the baseline (≥ 0).
        sn: (K,) noise σ of each raw trace (trace units).
        background: ``(B, F)``: (P, nb) background images (dense or sparse) and (nb, T) their
            time courses.
        shape: (Y, X) frame shape.
        active_sigma: a frame is active when calcium exceeds this many σ.
        grow_px: support growth (pixels) for the spatial correlation.

    Returns:
        `Quality`.
    """
    b, f = background
    n_cells = footprints.shape[1]
    if scipy.sparse.issparse(footprints):
        footprints = scipy.sparse.csc_matrix(footprints)
    masks = support_masks(footprints, shape, grow_px)
    rows_of = _row_reader(footprints)
    b_rows = _row_reader(b)
    r = np.zeros(n_cells)
    active_count = np.zeros(n_cells, dtype=int)
    safe_sn = np.where(np.isfinite(sn) & (sn > 0), sn, np.inf)
    for k in range(n_cells):
        active = np.flatnonzero(calcium[k] > active_sigma * safe_sn[k])
        active_count[k] = active.size
        pixels = masks[k]
        if active.size == 0 or pixels.size < 3:
            continue
        local = rows_of(pixels)
        model = local @ traces[:, active] + b_rows(pixels) @ f[:, active]
        added = (data[pixels][:, active] - model).mean(axis=1)
        added += local[:, k] * traces[k, active].mean()
        if added.std() > 0 and local[:, k].std() > 0:
            r[k] = np.corrcoef(added, local[:, k])[0, 1]
    peak = np.max(calcium, axis=1, initial=0.0)
    snr = np.where(np.isfinite(safe_sn), peak / safe_sn, 0.0)
    return Quality(spatial_r=r.astype(np.float32), snr=snr.astype(np.float32),
                   size_px=np.asarray((footprints > 0).sum(axis=0)).ravel().astype(int),
                   active_frames=active_count)


def _row_reader(matrix: np.ndarray | scipy.sparse.spmatrix
                ) -> Callable[[np.ndarray], np.ndarray]:
    """A function giving the given rows of (P, n) ``matrix`` (dense or sparse) as a dense
    (rows, n) array."""
    if not scipy.sparse.issparse(matrix):
        return lambda rows: matrix[rows]
    by_row = scipy.sparse.csr_matrix(matrix)
    return lambda rows: by_row[rows].toarray()

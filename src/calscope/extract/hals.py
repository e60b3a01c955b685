"""Hierarchical alternating least squares (HALS) for the non-negative factorisation Y ≈ A C.

Cichocki & Phan (2009); as used for CNMF by Friedrich et al. (2017): each column of A (and each
row of C) in turn gets its exact non-negative least-squares optimum with all others held, a
closed form because a single non-negative coefficient's least squares is the unconstrained
optimum clipped at 0. Every such step lowers ‖Y − A C‖² (or leaves it), so sweeps never raise it
and, run to convergence, reach the non-negative least-squares solution of the block being
updated. Cells' columns of A are confined to a mask (a neighbourhood of the cell), which keeps
them local and each step cheap; the background's columns span the whole frame.

Arrays: data Y (P, T) float32 (P = Y*X pixels in C order, T frames); A (P, K) dense float64;
C (K, T) float64. Components here are cells and background alike.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
from scipy import ndimage


def update_traces(data: np.ndarray, footprints: np.ndarray | scipy.sparse.spmatrix,
                  traces: np.ndarray, sweeps: int = 1,
                  rows: np.ndarray | None = None) -> np.ndarray:
    """HALS sweeps over the rows of C with A fixed: each c_k ← max(0, c_k + (U_k − V_k C)/V_kk),
    U = Aᵀ Y, V = Aᵀ A.

    Args:
        data: (P, T) movie pixels × frames.
        footprints: (P, K) A, dense or sparse.
        traces: (K, T) C to start from (not modified).
        sweeps: passes over the rows.
        rows: indices of the rows to update (default all); the others stay fixed.

    Returns:
        (K, T) float64 updated C; rows of all-zero columns of A are left as they were.
    """
    return hals_rows(times_data(footprints.T, data), gram(footprints), traces, sweeps, rows)


def times_data(left: np.ndarray | scipy.sparse.spmatrix, data: np.ndarray) -> np.ndarray:
    """``left @ data`` as float64 for (n, P) ``left`` (dense or sparse) and (P, T) ``data``,
    multiplied in the data's precision (no float64 copy of the data)."""
    if scipy.sparse.issparse(left):
        return np.asarray(scipy.sparse.csr_matrix(left, dtype=data.dtype) @ data,
                          dtype=np.float64)
    return np.asarray(np.asarray(left, dtype=data.dtype) @ data, dtype=np.float64)


def gram(footprints: np.ndarray | scipy.sparse.spmatrix) -> np.ndarray:
    """(K, K) float64 Aᵀ A of (P, K) footprints, dense or sparse."""
    if scipy.sparse.issparse(footprints):
        a = scipy.sparse.csc_matrix(footprints, dtype=np.float64)
        return (a.T @ a).toarray()
    a = np.asarray(footprints, dtype=np.float64)
    return a.T @ a


def hals_rows(u: np.ndarray, v: np.ndarray, traces: np.ndarray, sweeps: int,
              rows: np.ndarray | None = None) -> np.ndarray:
    """HALS sweeps of `update_traces` from its sufficient statistics U = Aᵀ Y (K, T) and
    V = Aᵀ A (K, K); returns the updated (K, T) float64 C."""
    c = np.array(traces, dtype=np.float64, copy=True)
    order = np.arange(len(c)) if rows is None else np.asarray(rows)
    for _ in range(sweeps):
        for k in order:
            if v[k, k] > 0:
                c[k] = np.maximum(c[k] + (u[k] - v[k] @ c) / v[k, k], 0.0)
    return c


def update_footprints(data: np.ndarray, footprints: np.ndarray, traces: np.ndarray,
                      masks: list[np.ndarray | None], sweeps: int = 1) -> np.ndarray:
    """HALS sweeps over the columns of A with C fixed, column k confined to ``masks[k]``:
    a_k ← max(0, a_k + (W_k − A V_k)/V_kk) on the mask, 0 elsewhere; W = Y Cᵀ, V = C Cᵀ.

    Args:
        data: (P, T) movie pixels × frames.
        footprints: (P, K) dense A to start from (not modified); each column's non-zeros
            must lie inside its mask, or zeroing them outside may raise the objective.
        traces: (K, T) C.
        masks: per column, the pixel indices (into P) it may use, or None for all pixels.
        sweeps: passes over the columns.

    Returns:
        (P, K) float64 updated A.
    """
    a = np.array(footprints, dtype=np.float64, copy=True)
    c = np.asarray(traces, dtype=np.float64)
    v = c @ c.T
    c32 = c.astype(data.dtype)
    pixels = [np.arange(len(a)) if m is None else m for m in masks]
    w = [np.asarray(data[p] @ c32[k], dtype=np.float64) for k, p in enumerate(pixels)]
    for k, p in enumerate(pixels):
        inside = a[p, k]
        a[:, k] = 0.0
        a[p, k] = inside
    for _ in range(sweeps):
        for k, p in enumerate(pixels):
            if v[k, k] > 0:
                a[p, k] = np.maximum(a[p, k] + (w[k] - a[p] @ v[:, k]) / v[k, k], 0.0)
    return a


def objective(data: np.ndarray, footprints: np.ndarray | scipy.sparse.spmatrix,
              traces: np.ndarray) -> float:
    """‖Y − A C‖²_F without forming A C: ‖Y‖² − 2 tr(Aᵀ Y Cᵀ) + tr(Aᵀ A C Cᵀ)."""
    c = np.asarray(traces, dtype=np.float64)
    u = times_data(footprints.T, data)
    data_norm = float(np.einsum("pt,pt->", data, data, dtype=np.float64))
    return data_norm - 2.0 * float(np.sum(u * c)) + float(np.sum(gram(footprints) * (c @ c.T)))


def support_masks(footprints: np.ndarray | scipy.sparse.spmatrix, shape: tuple[int, int],
                  grow_px: int) -> list[np.ndarray]:
    """Per column of (P, K) ``footprints`` (dense or sparse), the pixel indices (C order in
    ``shape``) of its support grown by ``grow_px`` pixels (a disk-shaped dilation): where the
    footprint may spread in one update. An empty column gets an empty mask."""
    height, width = shape
    disk = _disk(grow_px)
    masks = []
    for k in range(footprints.shape[1]):
        support = column_support(footprints, k)
        if support.size == 0:
            masks.append(support)
            continue
        ys, xs = np.divmod(support, width)
        y0, x0 = max(ys.min() - grow_px, 0), max(xs.min() - grow_px, 0)
        y1, x1 = min(ys.max() + grow_px + 1, height), min(xs.max() + grow_px + 1, width)
        box = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        box[ys - y0, xs - x0] = True
        grown = ndimage.binary_dilation(box, disk) if grow_px > 0 else box
        gy, gx = np.nonzero(grown)
        masks.append((gy + y0) * width + gx + x0)
    return masks


def column_support(footprints: np.ndarray | scipy.sparse.spmatrix, k: int) -> np.ndarray:
    """The sorted pixel indices where column ``k`` of (P, K) ``footprints`` (dense or sparse)
    is positive."""
    if scipy.sparse.issparse(footprints):
        column = footprints[:, [k]].tocoo()
        return np.sort(column.row[column.data > 0])
    return np.flatnonzero(footprints[:, k] > 0)


def normalize(footprints: np.ndarray, traces: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Scale each column of (P, K) A to unit L2 norm and row of (K, T) C by that norm, so
    A C is unchanged; all-zero columns stay zero. Returns new arrays."""
    norms = np.linalg.norm(footprints, axis=0)
    scale = np.where(norms > 0, norms, 1.0)
    return footprints / scale, traces * scale[:, None]


def _disk(radius: int) -> np.ndarray:
    """(2r + 1, 2r + 1) bool disk of ``radius`` pixels."""
    yy, xx = np.mgrid[-radius: radius + 1, -radius: radius + 1]
    return yy ** 2 + xx ** 2 <= radius ** 2 + 0.5

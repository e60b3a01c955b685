"""Merging components that are one cell: overlapping footprints and correlated traces.

Two cells whose footprints share pixels and whose traces correlate above a threshold are taken
for pieces of one cell (a cell split at initialization, or found twice); every connected group
of such pairs becomes one component, the best rank-1 non-negative fit of the group's summed
contribution Σ_k a_k c_kᵀ (a few alternating least-squares rounds on the low-rank form, never
forming the pixels × frames product).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components

#: Alternating rounds of the rank-1 fit of a merged group.
RANK1_ROUNDS = 5


def merge_components(footprints: np.ndarray | scipy.sparse.spmatrix, traces: np.ndarray,
                     threshold: float
                     ) -> tuple[np.ndarray | scipy.sparse.csc_matrix, np.ndarray, int]:
    """Merge overlapping, correlated components.

    Args:
        footprints: (P, K) A ≥ 0, dense or sparse.
        traces: (K, T) C.
        threshold: merge pairs whose footprints overlap and whose traces' Pearson correlation
            is above this.

    Returns:
        (P, K') footprints (dense for dense ``footprints``, else CSC), (K', T) traces (merged
        components replace their group, in the position of the group's first member) and the
        number of groups merged.
    """
    n = footprints.shape[1]
    if n < 2:
        return footprints, traces, 0
    sparse = scipy.sparse.issparse(footprints)
    a = scipy.sparse.csc_matrix(footprints) if sparse else footprints
    support = scipy.sparse.csc_matrix(a > 0, dtype=np.float32)
    overlap = (support.T @ support).toarray() > 0
    with np.errstate(invalid="ignore", divide="ignore"):  # a flat trace correlates with none
        correlated = np.corrcoef(traces) > threshold if traces.shape[1] > 1 else overlap
    pairs = np.triu(overlap & np.nan_to_num(correlated).astype(bool), k=1)
    n_groups, labels = connected_components(scipy.sparse.csr_matrix(pairs), directed=False)
    if n_groups == n:
        return footprints, traces, 0
    keep_a, keep_c, merged = [], [], 0
    for group in range(n_groups):
        members = np.flatnonzero(labels == group)
        if members.size == 1:
            keep_a.append(a[:, members[0]] if sparse else a[:, [members[0]]])
            keep_c.append(traces[members[0]])
            continue
        footprint, trace = _rank1(a[:, members], traces[members])
        keep_a.append(scipy.sparse.csc_matrix(footprint[:, None]) if sparse
                      else footprint[:, None])
        keep_c.append(trace)
        merged += 1
    order = np.argsort([np.flatnonzero(labels == g)[0] for g in range(n_groups)])
    stacked = (scipy.sparse.hstack(keep_a, format="csc") if sparse else np.hstack(keep_a))
    return stacked[:, order], np.stack(keep_c)[order], merged


def _rank1(a: np.ndarray | scipy.sparse.spmatrix, c: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """(P,) a ≥ 0 and (T,) c fitting A C (A (P, m), dense or sparse; C (m, T)) in least
    squares: starting from the norm-weighted sum of the traces, a = max(0, A C c / ‖c‖²),
    c = aᵀ A C / ‖a‖²."""
    norms = (np.sqrt(np.asarray(a.multiply(a).sum(axis=0))).ravel()
             if scipy.sparse.issparse(a) else np.linalg.norm(a, axis=0))
    trace = norms @ c
    footprint = np.zeros(a.shape[0])
    for _ in range(RANK1_ROUNDS):
        norm = trace @ trace
        if norm <= 0:
            break
        footprint = np.maximum(np.asarray(a @ (c @ trace)).ravel() / norm, 0.0)
        size = footprint @ footprint
        if size <= 0:
            break
        trace = np.asarray(a.T @ footprint).ravel() @ c / size
    return footprint, trace

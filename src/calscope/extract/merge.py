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


def merge_components(footprints: np.ndarray, traces: np.ndarray, threshold: float
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """Merge overlapping, correlated components.

    Args:
        footprints: (P, K) dense A ≥ 0.
        traces: (K, T) C.
        threshold: merge pairs whose footprints overlap and whose traces' Pearson correlation
            is above this.

    Returns:
        (P, K') footprints, (K', T) traces (merged components replace their group, in the
        position of the group's first member) and the number of groups merged.
    """
    n = footprints.shape[1]
    if n < 2:
        return footprints, traces, 0
    support = scipy.sparse.csc_matrix(footprints > 0, dtype=np.float32)
    overlap = (support.T @ support).toarray() > 0
    correlated = np.corrcoef(traces) > threshold if traces.shape[1] > 1 else overlap
    pairs = np.triu(overlap & np.nan_to_num(correlated).astype(bool), k=1)
    n_groups, labels = connected_components(scipy.sparse.csr_matrix(pairs), directed=False)
    if n_groups == n:
        return footprints, traces, 0
    keep_a, keep_c, merged = [], [], 0
    for group in range(n_groups):
        members = np.flatnonzero(labels == group)
        if members.size == 1:
            keep_a.append(footprints[:, members[0]])
            keep_c.append(traces[members[0]])
            continue
        a, c = _rank1(footprints[:, members], traces[members])
        keep_a.append(a)
        keep_c.append(c)
        merged += 1
    order = np.argsort([np.flatnonzero(labels == g)[0] for g in range(n_groups)])
    return (np.stack(keep_a, axis=1)[:, order], np.stack(keep_c)[order], merged)


def _rank1(a: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P,) a ≥ 0 and (T,) c fitting A C (A (P, m), C (m, T)) in least squares: starting from
    the norm-weighted sum of the traces, a = max(0, A C c / ‖c‖²), c = aᵀ A C / ‖a‖²."""
    trace = np.linalg.norm(a, axis=0) @ c
    footprint = np.zeros(a.shape[0])
    for _ in range(RANK1_ROUNDS):
        norm = trace @ trace
        if norm <= 0:
            break
        footprint = np.maximum(a @ (c @ trace) / norm, 0.0)
        size = footprint @ footprint
        if size <= 0:
            break
        trace = (footprint @ a) @ c / size
    return footprint, trace

"""Scores of found structure against a simulated truth: cell assemblies
(:func:`assembly_match`) and cells' footprints (:func:`match_footprints`), each a one-to-one
(Hungarian) pairing of what was found with what was there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment


def assembly_match(found: Sequence[np.ndarray], planted: Sequence[np.ndarray]) -> float:
    """How well detected assemblies match planted ones: found and planted are paired one to
    one to maximise the summed Jaccard index of their member sets (Hungarian assignment), and
    the sum is divided by the larger of the two counts, so a missed or a spurious assembly
    counts as 0.

    Args:
        found, planted: one array of member cell indices per assembly.

    Returns:
        A score in [0, 1]: 1 when the member sets are the same; 1.0 when both are empty.
    """
    if not found and not planted:
        return 1.0
    if not found or not planted:
        return 0.0
    jaccard = np.array([[np.intersect1d(f, p).size / max(np.union1d(f, p).size, 1)
                         for p in planted] for f in found])
    rows, cols = linear_sum_assignment(-jaccard)
    return float(jaccard[rows, cols].sum() / max(len(found), len(planted)))


class FootprintMatch(NamedTuple):
    """Result of :func:`match_footprints`.

    Attributes:
        precision: matched / found (1.0 when nothing was found and nothing was there).
        recall: matched / true.
        f1: harmonic mean of precision and recall (0 when either is 0).
        pairs: (n_matched, 2) int (found index, true index) of the matched pairs.
        iou: (n_matched,) intersection over union of each matched pair's masks.
    """

    precision: float
    recall: float
    f1: float
    pairs: np.ndarray
    iou: np.ndarray


def match_footprints(found: Any, truth: Any, *, min_iou: float = 0.3,
                     mask_fraction: float = 0.2) -> FootprintMatch:
    """Match found cells to true cells one-to-one by the overlap of their masks.

    Each footprint (a column of a (pixels, cells) dense or scipy.sparse matrix, pixels in the
    same order in both) becomes a mask: its pixels at or above ``mask_fraction`` of its own
    maximum. The Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) pairs found
    and true masks to maximise the total intersection over union (IoU); pairs with IoU below
    ``min_iou`` do not count as matches.

    Returns:
        `FootprintMatch` (precision, recall, F1, matched pairs, their IoU).
    """
    masks = []
    for name, matrix in (("found", found), ("truth", truth)):
        dense = matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
        if dense.ndim != 2:
            raise ValueError(f"{name}: expected a (pixels, cells) matrix, got shape "
                             f"{dense.shape}")
        peak = dense.max(axis=0, initial=0.0)
        masks.append((dense >= mask_fraction * peak) & (dense > 0))
    a, b = (m.astype(np.float64) for m in masks)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"found has {a.shape[0]} pixels and truth {b.shape[0]}; footprints "
                         "of the same field of view are needed")
    n_found, n_true = a.shape[1], b.shape[1]
    if n_found == 0 or n_true == 0:
        empty = np.zeros((0, 2), dtype=int)
        precision = 1.0 if n_found == 0 else 0.0
        recall = 1.0 if n_true == 0 else 0.0
        f1 = 1.0 if n_found == n_true == 0 else 0.0
        return FootprintMatch(precision, recall, f1, empty, np.zeros(0))
    inter = a.T @ b
    union = a.sum(axis=0)[:, None] + b.sum(axis=0)[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    rows, cols = linear_sum_assignment(-iou)
    good = iou[rows, cols] >= min_iou
    pairs = np.stack([rows[good], cols[good]], axis=1).astype(int)
    matched = int(good.sum())
    precision, recall = matched / n_found, matched / n_true
    f1 = 0.0 if matched == 0 else 2 * precision * recall / (precision + recall)
    return FootprintMatch(precision, recall, f1, pairs, iou[rows[good], cols[good]])

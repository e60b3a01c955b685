"""Neuron order for display: rastermap (default) or a simple order for small populations.

rastermap (Stringer et al. 2024) places neurons with similar activity next to each other along
one axis, so a raster sorted by it shows the population's structure. For a few dozen neurons the
simple orders are as good and cheaper: the loading on the first principal component, or the leaf
order of average-linkage clustering on correlation distance.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.cluster import hierarchy

from calscope.errors import InputError
from calscope.population.activity import checked_activity

SortMethod = Literal["rastermap", "pc1", "hierarchical"]
#: Neurons beyond which hierarchical clustering (N² memory) is refused.
MAX_HIERARCHICAL = 5000
#: Below this many neurons rastermap sorts neurons directly instead of clustering them first.
_RASTERMAP_DIRECT = 200


@dataclass(frozen=True)
class Sorting:
    """A neuron order: ``order`` (cells,) int64 row indices, top to bottom (unusable rows
    last), the ``method`` that made it and a ``note`` (e.g. a fallback and why)."""

    order: np.ndarray
    method: str
    note: str = ""


def _zscored(values: np.ndarray) -> np.ndarray:
    """Rows z-scored over time with NaN set to 0 (the row mean after scoring)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (values - np.nanmean(values, axis=1, keepdims=True)) / np.nanstd(
            values, axis=1, keepdims=True)
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def _pc1_order(z: np.ndarray) -> np.ndarray:
    u, _, _ = np.linalg.svd(z - z.mean(axis=0, keepdims=True), full_matrices=False)
    return np.argsort(u[:, 0], kind="stable")


def _hierarchical_order(z: np.ndarray) -> np.ndarray:
    if z.shape[0] > MAX_HIERARCHICAL:
        raise InputError(f"sort='hierarchical': {z.shape[0]} neurons is more than "
                         f"{MAX_HIERARCHICAL} (its memory grows as N²); use sort='rastermap'")
    r = np.corrcoef(z.astype(np.float64))
    r = np.nan_to_num(r, nan=0.0)
    distance = np.clip(1.0 - r[np.triu_indices_from(r, k=1)], 0.0, 2.0)
    tree = hierarchy.linkage(distance, method="average", optimal_ordering=z.shape[0] <= 2000)
    return hierarchy.leaves_list(tree)


def _rastermap_order(z: np.ndarray, seed: int) -> np.ndarray:
    from rastermap import Rastermap

    n, t = z.shape
    n_pcs = int(max(1, min(200, n - 1, t - 1)))
    if n < _RASTERMAP_DIRECT:
        model = Rastermap(n_clusters=None, n_PCs=n_pcs, locality=0.1, time_lag_window=5,
                          verbose=False, random_state=seed)
    else:
        model = Rastermap(n_clusters=int(min(100, n // 4)), n_PCs=n_pcs, verbose=False,
                          random_state=seed)
    logging.getLogger("rastermap").setLevel(logging.WARNING)
    with warnings.catch_warnings():  # "data has <= 50 samples": expected for small populations
        warnings.filterwarnings("ignore", message="data has <= 50 samples")
        model.fit(z)
    return np.asarray(model.isort, dtype=np.int64)


def sort_neurons(activity: np.ndarray, method: SortMethod = "rastermap", *,
                 seed: int = 0) -> Sorting:
    """Order neurons so that neurons with similar activity sit together.

    Args:
        activity: (cells, T) activity (spike probabilities or ΔF/F), NaN where missing.
        method: "rastermap" (the `rastermap` package), "pc1" (first-PC loading) or
            "hierarchical" (average linkage on 1 − r, optimal leaf order up to 2000 neurons).
        seed: seed of rastermap's clustering.

    Returns:
        `Sorting` whose ``order`` holds every row once: usable rows in the method's order,
        then unusable rows (all NaN or constant). If rastermap fails on a small or degenerate
        population, the first-PC order is used and ``note`` says why.

    Raises:
        InputError: bad activity (see `checked_activity`), an unknown method, or too many
            neurons for "hierarchical".
    """
    act = checked_activity(activity)
    usable = np.flatnonzero(act.usable)
    z = _zscored(act.values[usable])
    note = ""
    if method == "rastermap":
        try:
            local = _rastermap_order(z, seed)
        except (ValueError, IndexError, np.linalg.LinAlgError) as error:
            local, method = _pc1_order(z), "pc1"
            note = f"rastermap could not sort these {len(usable)} neurons ({error}); first-PC order"
    elif method == "pc1":
        local = _pc1_order(z)
    elif method == "hierarchical":
        local = _hierarchical_order(z)
    else:
        raise InputError(f"sort={method!r}: unknown; use 'rastermap', 'pc1' or 'hierarchical'")
    order = np.concatenate([usable[local], np.flatnonzero(~act.usable)]).astype(np.int64)
    return Sorting(order=order, method=method, note=note)

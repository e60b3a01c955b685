"""Mixing a network's spike estimate with calscope's OASIS solution (an output ensemble)."""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

import numpy as np

from calscope.errors import InputError

Model = TypeVar("Model")


def blend_with_oasis(net: np.ndarray, oasis: np.ndarray, weight: float,
                     observed: np.ndarray | None = None) -> np.ndarray:
    """(1 − weight) · network + weight · OASIS spikes scaled to the network's count, per cell.

    A network's errors and those of the convex model-based solution differ, so their mixture
    is often better than either: a supervised network learned its corrections of OASIS on the
    training indicators only, and an amortized posterior can settle in a poor optimum of its
    ELBO (e.g. two half spikes per event on slow indicators).

    Args:
        net: (cells, T) expected spikes per frame from a network.
        oasis: (cells, T) OASIS spikes of the same traces, in any per-cell scale.
        weight: w in [0, 1].
        observed: (cells, T) bool, the frames whose counts are matched (default: all).

    Returns:
        (cells, T) blended expected spikes per frame: the network's total count per cell (over
        the observed frames) is kept; cells where OASIS found no spike keep the network alone.
    """
    if weight == 0:
        return net
    oasis = np.asarray(oasis, dtype=np.float64)
    total = oasis.sum(axis=1, keepdims=True)
    kept = net if observed is None else np.where(observed, net, 0.0)
    scale = np.divide(kept.sum(axis=1, keepdims=True), total, out=np.zeros_like(total),
                      where=total > 0)
    scaled = np.where(total > 0, oasis * scale, net)  # no OASIS spikes: the network alone
    return (1.0 - weight) * net + weight * scaled


def with_weight(model: Model, weight: float) -> Model:
    """A copy of a frozen model dataclass whose ``settings.oasis_blend`` is ``weight``."""
    if not 0.0 <= weight <= 1.0:
        raise InputError(f"oasis_blend: must be a weight in [0, 1], got {weight}")
    return replace(model, settings=model.settings.model_copy(update={"oasis_blend": weight}))

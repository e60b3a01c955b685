"""Mixing a network's spike estimate with calscope's OASIS solution (an output ensemble)."""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar, get_args

import numpy as np
from scipy.ndimage import gaussian_filter1d

from calscope.config import BlendForm
from calscope.errors import InputError

Model = TypeVar("Model")
BLEND_FORMS: tuple[str, ...] = get_args(BlendForm)

#: σ (frames) of the Gaussian that spreads OASIS's spikes before a geometric blend: OASIS puts
#: each spike on one frame where a network spreads it over its neighbours, and a product of the
#: two must not vanish for a spike placed one frame off
GEOMETRIC_SPREAD_FRAMES = 1.0
#: floor added to both factors of a geometric blend, relative to the cell's largest network
#: output: where one of them is zero the product is small, not zero
GEOMETRIC_FLOOR = 1e-3


def blend_with_oasis(net: np.ndarray, oasis: np.ndarray, weight: float,
                     observed: np.ndarray | None = None, form: BlendForm = "linear",
                     spread: float = GEOMETRIC_SPREAD_FRAMES) -> np.ndarray:
    """The network's spikes mixed with OASIS's, per cell, keeping the network's spike count.

    A network's errors and those of the convex model-based solution differ, so their mixture
    is often better than either: a supervised network learned its corrections of OASIS on the
    training indicators only, and an amortized posterior can settle in a poor optimum of its
    ELBO (e.g. two half spikes per event on slow indicators).

    ``form="linear"``: (1 − w) · network + w · OASIS, with OASIS's spikes scaled to the
    network's count. ``form="geometric"``: the weighted geometric mean
    exp((1 − w) · log(network + ε) + w · log(OASIS′ + ε)), with OASIS′ the scaled spikes spread
    by a Gaussian of σ = ``spread`` frames and ε = :data:`GEOMETRIC_FLOOR` × the
    cell's largest network output, scaled to the network's count. It keeps the events the two
    agree on and suppresses those only one of them has (an AND where the linear form is an OR).

    Args:
        net: (cells, T) expected spikes per frame from a network (≥ 0).
        oasis: (cells, T) OASIS spikes of the same traces, in any per-cell scale.
        weight: w in [0, 1].
        observed: (cells, T) bool, the frames whose counts are matched (default: all).
        form: "linear" or "geometric".
        spread: σ (frames) of the geometric form's spread of OASIS (0: none).

    Returns:
        (cells, T) blended expected spikes per frame: the network's total count per cell (over
        the observed frames) is kept; cells where OASIS found no spike keep the network alone.
    """
    _check_form(form)
    if weight == 0:
        return net
    oasis = np.asarray(oasis, dtype=np.float64)
    net_total, oasis_total = _observed_total(net, observed), _observed_total(oasis, observed)
    found = oasis_total > 0  # rows without OASIS spikes: the network alone
    scaled = np.where(found, _rescaled(oasis, oasis_total, net_total), net)
    if form == "linear":
        return (1.0 - weight) * net + weight * scaled
    positive = np.maximum(net, 0.0)
    floor = GEOMETRIC_FLOOR * np.maximum(positive.max(axis=1, keepdims=True), 1e-9)
    if spread > 0:
        scaled = gaussian_filter1d(scaled, spread, axis=1)
    mixed = np.exp((1.0 - weight) * np.log(positive + floor) + weight * np.log(scaled + floor))
    mixed = _rescaled(mixed, _observed_total(mixed, observed), _observed_total(positive, observed))
    return np.where(found, mixed, net)


def _observed_total(x: np.ndarray, observed: np.ndarray | None) -> np.ndarray:
    """(cells, 1) sum of (cells, T) ``x`` over the observed frames (all when None)."""
    return (x if observed is None else np.where(observed, x, 0.0)).sum(axis=1, keepdims=True)


def _rescaled(x: np.ndarray, total: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(cells, T) ``x`` whose (cells, 1) ``total`` becomes ``target`` (zero where total is 0)."""
    return x * np.divide(target, total, out=np.zeros_like(total), where=total > 0)


def _check_form(form: str) -> None:
    if form not in BLEND_FORMS:
        raise InputError(f"oasis_blend_form: one of {', '.join(BLEND_FORMS)}, got {form!r}")


def with_weight(model: Model, weight: float | None, form: BlendForm | None = None) -> Model:
    """A copy of a frozen model dataclass whose ``settings.oasis_blend`` is ``weight`` and
    ``settings.oasis_blend_form`` is ``form`` (None: keep the model's)."""
    update: dict = {}
    if weight is not None:
        if not 0.0 <= weight <= 1.0:
            raise InputError(f"oasis_blend: must be a weight in [0, 1], got {weight}")
        update["oasis_blend"] = weight
    if form is not None:
        _check_form(form)
        update["oasis_blend_form"] = form
    return replace(model, settings=model.settings.model_copy(update=update))

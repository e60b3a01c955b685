"""HALS updates against independent non-negative least-squares references (scipy nnls)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from calscope.extract.hals import (normalize, objective, support_masks, update_footprints,
                                   update_traces)


def _problem(seed: int = 0, pixels: int = 40, cells: int = 4, frames: int = 60):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, (pixels, cells)) * (rng.uniform(size=(pixels, cells)) < 0.5)
    c = rng.exponential(1.0, (cells, frames))
    data = (a @ c + 0.3 * rng.standard_normal((pixels, frames))).astype(np.float32)
    return data, a, c, rng


def test_footprint_update_converges_to_per_pixel_nnls():
    data, a, c, rng = _problem()
    start = rng.uniform(0, 1, a.shape)
    found = update_footprints(data, start, c, [None] * a.shape[1], sweeps=2000)
    for p in range(data.shape[0]):
        reference, _ = nnls(c.T, data[p].astype(np.float64))
        np.testing.assert_allclose(found[p], reference, atol=1e-5)


def test_trace_update_converges_to_per_frame_nnls():
    data, a, c, rng = _problem(seed=1)
    found = update_traces(data, a, rng.uniform(0, 1, c.shape), sweeps=2000)
    for t in range(data.shape[1]):
        reference, _ = nnls(a, data[:, t].astype(np.float64))
        np.testing.assert_allclose(found[:, t], reference, atol=1e-5)


def test_masked_footprints_stay_in_their_masks_and_trace_rows_can_be_held():
    data, a, c, _ = _problem(seed=2)
    masks = [np.arange(0, 10), np.arange(5, 20), None, np.arange(30, 40)]
    start = np.zeros_like(a)
    for k, m in enumerate(masks):
        start[m if m is not None else slice(None), k] = 1.0
    found = update_footprints(data, start, c, masks, sweeps=5)
    assert not found[10:, 0].any() and not found[:5, 1].any() and not found[:30, 3].any()
    held = update_traces(data, a, c, sweeps=3, rows=np.array([1, 2]))
    np.testing.assert_array_equal(held[[0, 3]], c[[0, 3]])


def test_objective_never_increases():
    data, a, c, rng = _problem(seed=3, pixels=64, cells=5, frames=80)
    a_now, c_now = rng.uniform(0, 1, a.shape), rng.uniform(0, 1, c.shape)
    shape = (8, 8)
    values = [objective(data, a_now, c_now)]
    direct = np.sum((data - a_now @ c_now) ** 2)
    np.testing.assert_allclose(values[0], direct, rtol=1e-6)
    for _ in range(15):
        c_now = update_traces(data, a_now, c_now, sweeps=1)
        values.append(objective(data, a_now, c_now))
        masks = support_masks(a_now, shape, 1)
        a_now = update_footprints(data, a_now, c_now, masks, sweeps=1)
        a_now, c_now = normalize(a_now, c_now)
        values.append(objective(data, a_now, c_now))
    steps = np.diff(values)
    assert np.all(steps <= 1e-9 * values[0]), steps.max()
    assert values[-1] < 0.5 * values[0]


def test_support_masks_grow_by_a_disk():
    footprints = np.zeros((81, 2))
    footprints[4 * 9 + 4, 0] = 1.0  # centre pixel of a 9 × 9 frame
    masks = support_masks(footprints, (9, 9), 2)
    grown = np.zeros(81, dtype=bool)
    grown[masks[0]] = True
    yy, xx = np.divmod(np.arange(81), 9)
    np.testing.assert_array_equal(grown, (yy - 4) ** 2 + (xx - 4) ** 2 <= 4)
    assert masks[1].size == 0

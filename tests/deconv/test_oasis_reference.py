"""The OASIS solvers agree with CVXPY on the same convex problems (objective and solution)."""

import numpy as np
import pytest

from calscope.deconv.oasis import solve_trace
from calscope.deconv.reference import solve_constrained_reference, solve_l1_reference

pytest.importorskip("cvxpy")

KERNELS = {"ar1": (0.95, 0.0), "ar2": (1.7, -0.712)}


def _ar_trace(g1, g2, sn, T=300, p=0.05, offset=0.0, seed=0):
    rng = np.random.default_rng(seed)
    s = (rng.random(T) < p).astype(float)
    c = np.zeros(T)
    for t in range(T):
        c[t] = s[t] + (g1 * c[t - 1] if t > 0 else 0.0) + (g2 * c[t - 2] if t > 1 else 0.0)
    return c + offset + sn * rng.standard_normal(T)


def _objective(y, c, b, g1, g2, lam, w):
    s = c.copy()
    s[1:] -= g1 * c[:-1]
    s[2:] -= g2 * c[:-2]
    return 0.5 * np.sum(w * (y - b - c) ** 2) + lam * s.sum(), s


def _scale(c_ref):
    return max(1.0, np.abs(c_ref).max())


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("lam", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("fit_b", [False, True])
def test_l1_matches_cvxpy(kernel, lam, fit_b):
    g1, g2 = KERNELS[kernel]
    y = _ar_trace(g1, g2, 0.3, offset=0.7 if fit_b else 0.0, seed=1)
    w = np.ones_like(y)
    c, s, b, _, _ = solve_trace(y, w, g1, g2, lam, 0.0, 0.3, fit_b, False, False, 0.0)
    c_ref, b_ref = solve_l1_reference(y, [g1, g2], lam, b=None if fit_b else 0.0)
    obj, s_check = _objective(y, c, b, g1, g2, lam, w)
    obj_ref, _ = _objective(y, c_ref, b_ref, g1, g2, lam, w)
    assert s_check.min() > -1e-9
    assert obj <= obj_ref * (1 + 1e-6) + 1e-8
    if lam == 0.0 and fit_b:
        return  # b and a constant calcium level trade off freely: only the objective is unique
    assert np.abs(c - c_ref).max() < 1e-3 * _scale(c_ref)
    assert abs(b - b_ref) < 1e-4


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("fit_b", [False, True])
@pytest.mark.parametrize("gap", [False, True])
def test_noise_constrained_matches_cvxpy(kernel, fit_b, gap):
    g1, g2 = KERNELS[kernel]
    sn = 0.3
    y = _ar_trace(g1, g2, sn, offset=0.7 if fit_b else 0.0, seed=2)
    w = np.ones_like(y)
    if gap:
        w[100:120] = 0.0
        y = y * w
    c, s, b, lam, _ = solve_trace(y, w, g1, g2, 0.0, 0.0, sn, fit_b, True, False, 0.0)
    c_ref, b_ref = solve_constrained_reference(y, [g1, g2], sn, b=None if fit_b else 0.0, w=w)
    rss = np.sum(w * (y - b - c) ** 2)
    assert rss == pytest.approx(sn ** 2 * w.sum(), rel=1e-6)
    assert lam > 0
    l1 = s.sum()
    _, s_ref = _objective(y, c_ref, b_ref, g1, g2, 0.0, w)
    assert l1 <= s_ref.sum() * (1 + 1e-4)
    assert np.abs(c - c_ref).max() < 2e-3 * _scale(c_ref)
    assert abs(b - b_ref) < 1e-3


def test_l0_spikes_respect_threshold_and_noise():
    g1, g2 = KERNELS["ar1"]
    y = _ar_trace(g1, g2, 0.2, seed=3)
    w = np.ones_like(y)
    c, s, _, _, s_min = solve_trace(y, w, g1, g2, 0.0, 0.0, 0.2, False, False, True, 0.0)
    assert s_min > 0
    assert np.all((s[1:] == 0) | (s[1:] >= s_min - 1e-9))
    assert np.sum((y - c) ** 2) <= 0.2 ** 2 * y.size * (1 + 1e-6)
    # a given threshold is obeyed
    c, s, _, _, used = solve_trace(y, w, g1, g2, 0.0, 0.0, 0.2, False, False, True, 0.6)
    assert used == 0.6
    assert np.all((s[1:] == 0) | (s[1:] >= 0.6 - 1e-9))

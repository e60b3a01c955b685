"""Generative calcium models: kernels, convolution, likelihood, prior, profiled drift."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from calscope.infer.generative import STUDENT_DOF, CalciumModel


def _model(kind, n=3, fs=30.0, tau_d=0.5, tau_r=0.05, gain=4.0):
    return CalciumModel(kind, fs, np.full(n, tau_d), np.full(n, tau_r), np.full(n, gain), 1.0)


@pytest.mark.parametrize("kind", ["scf", "scdf", "mlphys"])
def test_kernel_shape_peak_and_decay(kind):
    m = _model(kind)
    h = m.kernel(torch.tensor([0, 2]), 200).detach().numpy()
    assert h.shape == (2, 200)
    assert h.max(axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    assert np.all(h >= -1e-7) and h[:, -1].max() < 1e-4
    if kind == "scf":
        np.testing.assert_allclose(h[0], np.exp(-np.arange(200) / (0.5 * 30.0)), rtol=1e-5)


@pytest.mark.parametrize("kind", ["scf", "scdf"])
def test_calcium_is_the_causal_convolution(kind):
    m = _model(kind)
    rng = np.random.default_rng(0)
    s = (rng.random((2, 3, 120)) < 0.05).astype(np.float32)
    cells = torch.tensor([0, 1, 2])
    c = m.calcium(torch.from_numpy(s), cells).detach().numpy()
    h = m.kernel(cells, 120).detach().numpy()
    for k in range(2):
        for b in range(3):
            ref = np.convolve(s[k, b], h[b])[:120]
            np.testing.assert_allclose(c[k, b], ref, atol=1e-5)


@pytest.mark.parametrize("likelihood", ["gaussian", "student-t"])
def test_log_likelihood_and_prior_match_scipy(likelihood):
    m = CalciumModel("scdf", 30.0, np.full(2, 0.5), np.full(2, 0.05), np.full(2, 4.0), 1.0,
                     noise=np.array([0.7, 2.5]), likelihood=likelihood)
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(2, 50)) * 2).astype(np.float32)
    mask = np.ones((2, 50), np.float32)
    mask[1, 10:20] = 0
    s = (rng.random((4, 2, 50)) < 0.1).astype(np.float32)
    args = (torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(s), torch.tensor([0, 1]))
    ll = m.log_likelihood(*args).detach().numpy()
    pred = m.predict(torch.from_numpy(s), torch.tensor([0, 1])).detach().numpy()
    scale = np.array([0.7, 2.5])[:, None]
    if likelihood == "gaussian":
        dens = stats.norm.logpdf(x, loc=pred, scale=scale)
    else:
        dens = stats.t.logpdf(x, df=STUDENT_DOF, loc=pred, scale=scale)
    np.testing.assert_allclose(ll, (dens * mask).sum(-1), rtol=1e-5)
    p0 = 1.0 / 30.0
    lp = m.log_prior(torch.from_numpy(s), torch.from_numpy(mask)).numpy()
    ref_p = ((s * math.log(p0) + (1 - s) * math.log(1 - p0)) * mask).sum(-1)
    np.testing.assert_allclose(lp, ref_p, rtol=1e-5)


def test_unknown_likelihood_is_refused():
    with pytest.raises(ValueError, match="likelihood must be one of"):
        CalciumModel("scdf", 30.0, np.ones(1), np.full(1, 0.05), np.ones(1), likelihood="cauchy")


def test_mlphys_profiles_out_a_linear_drift():
    m = _model("mlphys", n=1)
    s = torch.zeros(1, 1, 300)
    s[0, 0, [50, 150]] = 1.0
    cells = torch.tensor([0])
    clean = m.predict(s, cells).detach()
    drift = torch.linspace(-1, 1, 300) * 0.7 + 0.3
    x = (clean[0] + drift).float()
    ll = m.log_likelihood(x, torch.ones(1, 300), s, cells)
    assert float(ll.detach()) == pytest.approx(-0.5 * math.log(2 * math.pi) * 300, abs=1e-2)


def test_mlphys_saturates_and_gains_flow():
    m = _model("mlphys", n=1, gain=2.0)
    s = torch.zeros(1, 1, 100)
    s[0, 0, 10] = 1.0
    one = m.predict(s, torch.tensor([0]))[0, 0].max().detach()
    s[0, 0, 11:14] = 1.0
    four = m.predict(s, torch.tensor([0]))[0, 0].max().detach()
    assert float(one) == pytest.approx(2.0, rel=0.05)
    assert float(four) < 4 * float(one)  # saturation: four spikes give less than 4×
    x = torch.randn(1, 100)
    m.log_likelihood(x, torch.ones(1, 100), s, torch.tensor([0])).sum().backward()
    assert m.log_gain.grad is not None and m.log_tau_decay.grad is not None
    assert m.log_hill_k.grad is not None

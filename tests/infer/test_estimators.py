"""Tests of calscope.infer.estimators: Bernoulli log-probability, VIMCO and the relaxed ELBO.

VIMCO is checked against exact enumeration: with 6 frames there are 64 spike patterns, so the
expectation of any two-sample estimator is a finite sum over 64 × 64 pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch.func import grad, vmap

from calscope.errors import InputError
from calscope.infer.estimators import (
    bernoulli_kl,
    bernoulli_log_prob,
    relaxed_bernoulli_sample,
    relaxed_elbo_loss,
    vimco_surrogate,
)

T = 6
PRIOR_LOGIT = -1.5
# Recognition logits (one per frame) and generative parameters (decay logit, log gain).
PHI = torch.tensor([-1.0, 0.8, -2.0, 1.2, -0.3, -1.6], dtype=torch.float64)
THETA = torch.tensor([0.4, 0.2], dtype=torch.float64)
X = torch.tensor([0.1, 1.3, 0.9, 1.9, 1.6, 0.7], dtype=torch.float64)


def all_patterns() -> torch.Tensor:
    """(64, T) every binary spike pattern of T frames."""
    codes = torch.arange(2**T).unsqueeze(1)
    return ((codes >> torch.arange(T)) & 1).to(torch.float64)


def toy_log_p(theta: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
    """log p(x, s) of the toy model, (..., T) spikes → (...).

    Calcium c = s convolved with γ^t (γ = σ(θ₀)), x ~ N(exp(θ₁) c, 1), s_t ~ Bern(σ(PRIOR_LOGIT)).
    """
    decay = torch.sigmoid(theta[0])
    lags = torch.arange(T).unsqueeze(1) - torch.arange(T).unsqueeze(0)
    kernel = torch.where(lags >= 0, decay ** lags.clamp(min=0), torch.zeros((), dtype=X.dtype))
    calcium = spikes @ kernel.T
    residual = X - torch.exp(theta[1]) * calcium
    log_lik = -0.5 * (residual**2).sum(-1) - 0.5 * T * math.log(2 * math.pi)
    return log_lik + bernoulli_log_prob(torch.full((T,), PRIOR_LOGIT, dtype=X.dtype), spikes)


def vimco_objective(phi: torch.Tensor, theta: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
    """−loss of vimco_surrogate for one sample pair (2, T): its gradient is the VIMCO estimate."""
    spikes = pair.unsqueeze(1)
    loss, _ = vimco_surrogate(toy_log_p(theta, spikes), bernoulli_log_prob(phi, spikes))
    return -loss


def naive_objective(phi: torch.Tensor, theta: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
    """Score-function surrogate without baselines: L_2 + L_2.detach() · Σ_k log q_k."""
    log_q = bernoulli_log_prob(phi, pair)
    bound = torch.logsumexp(toy_log_p(theta, pair) - log_q, dim=0) - math.log(2)
    return bound + bound.detach() * log_q.sum()


def pair_grid() -> tuple[torch.Tensor, torch.Tensor]:
    """Every sample pair (4096, 2, T) and its probability q(s1) q(s2) (4096,), detached."""
    patterns = all_patterns()
    first, second = torch.meshgrid(torch.arange(2**T), torch.arange(2**T), indexing="ij")
    pairs = torch.stack([patterns[first.reshape(-1)], patterns[second.reshape(-1)]], dim=1)
    log_q = bernoulli_log_prob(PHI, patterns)
    weights = torch.exp(log_q[first.reshape(-1)] + log_q[second.reshape(-1)])
    return pairs, weights


def exact_gradient() -> tuple[torch.Tensor, torch.Tensor]:
    """∇ E_{q×q}[L_2] with respect to (φ, θ), by autograd through the exact 4096-term sum."""
    phi = PHI.clone().requires_grad_(True)
    theta = THETA.clone().requires_grad_(True)
    patterns = all_patterns()
    log_q = bernoulli_log_prob(phi, patterns)
    log_w = toy_log_p(theta, patterns) - log_q
    bound = torch.logaddexp(log_w.unsqueeze(1), log_w.unsqueeze(0)) - math.log(2)
    weights = torch.exp(log_q.unsqueeze(1) + log_q.unsqueeze(0))
    expected = (weights * bound).sum()
    grad_phi, grad_theta = torch.autograd.grad(expected, (phi, theta))
    return grad_phi, grad_theta


def per_pair_gradients(
    objective: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    pairs: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The estimator's value for every pair: (4096, T) for φ and (4096, 2) for θ."""
    per_pair = vmap(grad(objective, argnums=(0, 1)), in_dims=(None, None, 0))
    return per_pair(PHI, THETA, pairs)


def total_variance(estimates: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Trace of the covariance of an estimator taking value estimates[i] with probability w_i."""
    mean = (weights.unsqueeze(1) * estimates).sum(0)
    return (weights.unsqueeze(1) * (estimates - mean) ** 2).sum()


def test_bernoulli_log_prob_matches_direct_computation_and_mask() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, generator=gen) * 3
    spikes = (torch.rand(4, 3, 5, generator=gen) < 0.4).float()
    prob = torch.sigmoid(logits)
    direct = torch.log(torch.where(spikes > 0, prob, 1 - prob)).sum(-1)
    torch.testing.assert_close(bernoulli_log_prob(logits, spikes), direct)

    mask = torch.ones(3, 5)
    mask[1, 2:] = 0
    changed = spikes.clone()
    changed[:, 1, 2:] = 1 - changed[:, 1, 2:]
    masked = bernoulli_log_prob(logits, spikes, mask)
    torch.testing.assert_close(masked, bernoulli_log_prob(logits, changed, mask))
    unobserved = bernoulli_log_prob(logits[1, 2:], spikes[:, 1, 2:])
    torch.testing.assert_close(masked[:, 1], direct[:, 1] - unobserved)


def test_bernoulli_log_prob_is_finite_for_extreme_logits() -> None:
    logits = torch.tensor([[200.0, -200.0]])
    value = bernoulli_log_prob(logits, torch.tensor([[0.0, 1.0]]))
    torch.testing.assert_close(value, torch.tensor([-400.0]))


def test_vimco_bound_is_the_importance_weighted_bound() -> None:
    log_p = torch.tensor([[-3.0, -1.0], [-2.0, -5.0], [-4.0, -2.0]])
    log_q = torch.tensor([[-1.0, -0.5], [-0.2, -2.0], [-1.5, -1.0]])
    _, bound = vimco_surrogate(log_p, log_q)
    expected = torch.log(torch.exp(log_p - log_q).mean(0))
    torch.testing.assert_close(bound, expected)
    assert not bound.requires_grad


def test_vimco_is_unbiased_and_beats_the_naive_score_estimator() -> None:
    pairs, weights = pair_grid()
    torch.testing.assert_close(weights.sum(), torch.tensor(1.0, dtype=torch.float64))
    exact_phi, exact_theta = exact_gradient()

    vimco_phi, vimco_theta = per_pair_gradients(vimco_objective, pairs)
    naive_phi, naive_theta = per_pair_gradients(naive_objective, pairs)
    for estimate, exact in [
        (vimco_phi, exact_phi),
        (vimco_theta, exact_theta),
        (naive_phi, exact_phi),
        (naive_theta, exact_theta),
    ]:
        expectation = (weights.unsqueeze(1) * estimate).sum(0)
        torch.testing.assert_close(expectation, exact, rtol=1e-5, atol=1e-10)

    # The baselines only change the recognition gradient; it has lower variance with them.
    torch.testing.assert_close(vimco_theta, naive_theta)
    ratio = total_variance(vimco_phi, weights) / total_variance(naive_phi, weights)
    assert ratio < 0.1


def test_vimco_rejects_a_single_sample_and_mismatched_shapes() -> None:
    with pytest.raises(InputError, match="K >= 2"):
        vimco_surrogate(torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(InputError, match="shape"):
        vimco_surrogate(torch.zeros(2, 3), torch.zeros(2, 4))


def test_vimco_is_finite_for_widely_spread_weights() -> None:
    log_p = torch.tensor([[-1e4], [-1.0], [-3.0]], requires_grad=True)
    log_q = torch.tensor([[-1.0], [-2.0], [-0.5]], requires_grad=True)
    loss, bound = vimco_surrogate(log_p, log_q)
    loss.backward()
    assert torch.isfinite(bound).all()
    assert torch.isfinite(log_p.grad).all() and torch.isfinite(log_q.grad).all()


def test_relaxed_samples_shape_range_and_reproducibility() -> None:
    logits = torch.tensor([[-30.0, -1.0, 0.0], [2.0, 30.0, 0.5]])
    first = relaxed_bernoulli_sample(logits, 0.1, 500, torch.Generator().manual_seed(3))
    again = relaxed_bernoulli_sample(logits, 0.1, 500, torch.Generator().manual_seed(3))
    other = relaxed_bernoulli_sample(logits, 0.1, 500, torch.Generator().manual_seed(4))
    assert first.shape == (500, 2, 3)
    assert first.dtype == logits.dtype
    assert ((first > 0) & (first < 1)).all()
    torch.testing.assert_close(first, again)
    assert not torch.equal(first, other)


def test_relaxed_samples_approach_hard_bernoulli_at_low_temperature() -> None:
    logits = torch.tensor([[-2.0, -0.5, 0.0], [0.7, 1.5, 3.0]])
    fractions = []
    for temperature in (1.0, 0.1, 0.01):
        samples = relaxed_bernoulli_sample(
            logits, temperature, 20000, torch.Generator().manual_seed(5)
        )
        fractions.append(((samples < 0.01) | (samples > 0.99)).float().mean())
        # At any temperature a sample exceeds 1/2 with probability σ(l).
        torch.testing.assert_close(
            (samples > 0.5).float().mean(0), torch.sigmoid(logits), rtol=0, atol=0.015
        )
    assert fractions[0] < fractions[1] < fractions[2] and fractions[2] > 0.97
    torch.testing.assert_close(samples.mean(0), torch.sigmoid(logits), rtol=0, atol=0.015)


def test_relaxed_samples_reject_bad_arguments() -> None:
    with pytest.raises(InputError, match="temperature"):
        relaxed_bernoulli_sample(torch.zeros(1, 2), 0.0, 3)
    with pytest.raises(InputError, match="n_samples"):
        relaxed_bernoulli_sample(torch.zeros(1, 2), 0.5, 0)


def gaussian_log_likelihood(
    x: torch.Tensor, mask: torch.Tensor, gain: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Masked N(x; gain · s̃, 1) up to a constant, as a function (K, B, T) → (K, B)."""
    return lambda spikes: -0.5 * (mask * (x - gain * spikes) ** 2).sum(-1)


def test_relaxed_elbo_gradients_reach_logits_and_likelihood_parameters() -> None:
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(2, 8, generator=gen)
    mask = torch.ones(2, 8)
    logits = torch.zeros(2, 8, requires_grad=True)
    gain = torch.tensor(1.5, requires_grad=True)
    loss, elbo = relaxed_elbo_loss(
        logits, gaussian_log_likelihood(x, mask, gain), -2.0, mask, 0.5, 4, gen
    )
    loss.backward()
    assert loss.shape == () and elbo.shape == (2,) and not elbo.requires_grad
    torch.testing.assert_close(loss.detach(), -elbo.mean())
    for gradient in (logits.grad, gain.grad):
        assert gradient is not None and torch.isfinite(gradient).all()
        assert gradient.abs().sum() > 0


def test_relaxed_elbo_kl_is_analytic_and_zero_at_the_prior() -> None:
    mask = torch.ones(2, 4)

    def no_likelihood(spikes: torch.Tensor) -> torch.Tensor:
        return torch.zeros(spikes.shape[:2])

    prior = torch.tensor([-1.0, -2.0, 0.5, 0.0])
    _, elbo = relaxed_elbo_loss(prior.expand(2, 4), no_likelihood, prior, mask, 0.5, 3)
    torch.testing.assert_close(elbo, torch.zeros(2))

    logits = torch.tensor([[0.3, -4.0, 2.0, 1.0], [-1.0, 0.0, 0.0, 5.0]])
    prob, prior_prob = torch.sigmoid(logits), torch.sigmoid(prior)
    kl = prob * torch.log(prob / prior_prob) + (1 - prob) * torch.log((1 - prob) / (1 - prior_prob))
    _, elbo = relaxed_elbo_loss(logits, no_likelihood, prior, mask, 0.5, 3)
    torch.testing.assert_close(elbo, -kl.sum(-1))
    torch.testing.assert_close(bernoulli_kl(logits, prior), kl.sum(-1))


def test_relaxed_elbo_ignores_masked_frames() -> None:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 6, generator=gen)
    mask = torch.ones(2, 6)
    mask[0, 3:] = 0
    gain = torch.tensor(1.0)
    logits = torch.randn(2, 6, generator=gen).requires_grad_(True)
    changed = logits.detach().clone()
    changed[0, 3:] += 5.0

    def run(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(8)
        loss_fn = gaussian_log_likelihood(x, mask, gain)
        return relaxed_elbo_loss(values, loss_fn, -1.0, mask, 0.3, 5, generator)

    loss, elbo = run(logits)
    torch.testing.assert_close(elbo, run(changed)[1])
    loss.backward()
    assert logits.grad is not None
    assert (logits.grad[0, 3:] == 0).all() and (logits.grad[0, :3] != 0).all()

"""Gradient estimators for amortized spike inference with binary spikes.

The recognition model q(s | x) puts a Bernoulli distribution on every frame (logits of shape
(B, T)); spikes are discrete, so the ELBO's gradient with respect to the recognition parameters
needs either a score-function estimator or a continuous relaxation. This module provides both:

- :func:`vimco_surrogate`: the multi-sample bound L_K with the VIMCO leave-one-out baselines
  (Mnih & Rezende 2016), for exact binary samples.
- :func:`relaxed_elbo_loss`: the single-bound ELBO with reparameterised binary-concrete
  (Gumbel-sigmoid) samples and an analytic KL to a Bernoulli prior.

Shapes follow the package conventions: B traces, T frames, K samples first ((K, B, T) spikes,
(K, B) per-trace quantities). Every function works in the dtype and on the device of its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from calscope.errors import InputError


def bernoulli_log_prob(logits: Tensor, spikes: Tensor, mask: Tensor | None = None) -> Tensor:
    """Log-probability of spikes under independent per-frame Bernoulli distributions.

    Σ_t mask_t · [s_t log σ(l_t) + (1 − s_t) log σ(−l_t)], computed with ``logsigmoid`` so it
    stays finite for any logit.

    Args:
        logits: (..., T) logits l; broadcast against ``spikes`` (e.g. (B, T) against (K, B, T)).
        spikes: (..., T) spikes s in {0, 1} (values in [0, 1] give the cross-entropy form).
        mask: (B, T) (or anything broadcastable), 1 for observed frames and 0 for missing
            ones; ``None`` counts every frame.

    Returns:
        (...) the log-probability summed over frames, the broadcast shape without T.
    """
    log_prob = spikes * F.logsigmoid(logits) + (1.0 - spikes) * F.logsigmoid(-logits)
    if mask is not None:
        log_prob = log_prob * mask
    return log_prob.sum(dim=-1)


def vimco_surrogate(log_p: Tensor, log_q: Tensor) -> tuple[Tensor, Tensor]:
    """Surrogate loss whose gradient is minus the VIMCO estimate of ∇ E[L_K].

    With log w_k = log p(x, s_k) − log q(s_k | x) and K samples s_k ~ q(· | x),
    L_K = log (1/K) Σ_k w_k. The leave-one-out bound L_{−k} is L_K with log w_k replaced by the
    mean of the other log w_j; the surrogate objective per trace is
    L_K + Σ_k (L_K − L_{−k}).detach() · log q_k, whose gradient is the VIMCO estimator: the
    pathwise term Σ_k w̃_k ∇ log w_k plus the score terms with per-sample baselines.

    Args:
        log_p: (K, B) log p(x_b, s_k), differentiable with respect to the generative parameters.
        log_q: (K, B) log q(s_k | x_b), differentiable with respect to the recognition
            parameters. The samples themselves carry no gradient. K ≥ 2.

    Returns:
        loss: () scalar, minus the surrogate objective averaged over the B traces.
        bound: (B,) L_K per trace (nats), detached, for monitoring.

    Raises:
        InputError: when the shapes differ or K < 2.
    """
    if log_p.shape != log_q.shape or log_p.dim() != 2:
        raise InputError(
            f"vimco_surrogate: log_p {tuple(log_p.shape)} and log_q {tuple(log_q.shape)} must "
            "both have shape (K, B): pass one row per sample"
        )
    n_samples = log_p.shape[0]
    if n_samples < 2:
        raise InputError(
            f"vimco_surrogate: needs K >= 2 samples per trace for its baselines, got "
            f"{n_samples}: draw more samples"
        )
    log_k = math.log(n_samples)
    log_w = log_p - log_q
    bound = torch.logsumexp(log_w, dim=0) - log_k

    fixed = log_w.detach()
    others_mean = (fixed.sum(dim=0, keepdim=True) - fixed) / (n_samples - 1)
    # leave_out[k, j, b]: log w_j for j != k, and the mean of the others at j == k.
    diagonal = torch.eye(n_samples, dtype=torch.bool, device=log_w.device).unsqueeze(-1)
    leave_out = torch.where(diagonal, others_mean.unsqueeze(1), fixed.unsqueeze(0))
    bound_minus = torch.logsumexp(leave_out, dim=1) - log_k
    signal = bound.detach().unsqueeze(0) - bound_minus

    surrogate = bound + (signal * log_q).sum(dim=0)
    return -surrogate.mean(), bound.detach()


def relaxed_bernoulli_sample(
    logits: Tensor,
    temperature: float,
    n_samples: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Reparameterised binary-concrete (Gumbel-sigmoid) samples.

    s̃ = σ((l + log u − log(1 − u)) / τ) with u ~ U(0, 1) clamped away from 0 and 1. For any τ,
    P(s̃ > 1/2) = σ(l); as τ → 0 the samples become hard Bernoulli(σ(l)) spikes. Gradients flow
    to ``logits`` through the samples.

    Args:
        logits: (B, T) logits l.
        temperature: τ > 0 (dimensionless).
        n_samples: K ≥ 1.
        generator: source of the uniform noise; ``None`` uses torch's global generator.

    Returns:
        (K, B, T) samples in (0, 1): values that σ rounds to 0 or 1 in the working precision
        are moved one step inside, where σ has no gradient anyway.

    Raises:
        InputError: when τ ≤ 0 or K < 1.
    """
    if not temperature > 0:
        raise InputError(f"relaxed samples: temperature must be > 0, got {temperature}")
    if n_samples < 1:
        raise InputError(f"relaxed samples: n_samples must be >= 1, got {n_samples}")
    finfo = torch.finfo(logits.dtype)
    uniform = torch.rand(
        (n_samples, *logits.shape), generator=generator, dtype=logits.dtype, device=logits.device
    ).clamp(finfo.eps, 1.0 - finfo.eps)
    noise = torch.log(uniform) - torch.log1p(-uniform)
    samples = torch.sigmoid((logits + noise) / temperature)
    return samples.clamp(finfo.tiny, 1.0 - finfo.eps / 2)


def bernoulli_kl(logits: Tensor, prior_logit: float | Tensor, mask: Tensor | None = None) -> Tensor:
    """KL(Bern(σ(l)) ‖ Bern(σ(l₀))) summed over (observed) frames, in nats.

    Args:
        logits: (B, T) posterior logits l.
        prior_logit: prior logit l₀, a float or a tensor broadcastable to (B, T).
        mask: (B, T), 1 for observed frames and 0 for missing ones; ``None`` counts every frame.

    Returns:
        (B,) the KL per trace.
    """
    prior = torch.as_tensor(prior_logit, dtype=logits.dtype, device=logits.device)
    prob = torch.sigmoid(logits)
    kl = prob * (F.logsigmoid(logits) - F.logsigmoid(prior)) + (1.0 - prob) * (
        F.logsigmoid(-logits) - F.logsigmoid(-prior)
    )
    if mask is not None:
        kl = kl * mask
    return kl.sum(dim=-1)


def relaxed_elbo_loss(
    logits: Tensor,
    log_likelihood: Callable[[Tensor], Tensor],
    prior_logit: float | Tensor,
    mask: Tensor,
    temperature: float,
    n_samples: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Negative ELBO with relaxed spikes: −mean_b [mean_k log p(x_b | s̃_k) − KL_b].

    The likelihood is evaluated at binary-concrete samples s̃ (so its gradient reaches ``logits``
    by reparameterisation); the KL to the Bernoulli prior is analytic per frame and summed over
    observed frames only. ``log_likelihood`` is responsible for masking its own frames.

    Args:
        logits: (B, T) recognition logits.
        log_likelihood: maps relaxed spikes (K, B, T) to log p(x_b | s̃_k) of shape (K, B).
        prior_logit: prior logit of a spike per frame, a float or a tensor broadcastable to (B, T).
        mask: (B, T), 1 for observed frames and 0 for missing ones.
        temperature: relaxation temperature τ > 0.
        n_samples: K ≥ 1 relaxed samples per trace.
        generator: source of the sampling noise; ``None`` uses torch's global generator.

    Returns:
        loss: () scalar, −mean over traces of the ELBO, differentiable.
        elbo: (B,) ELBO per trace (nats), detached.
    """
    samples = relaxed_bernoulli_sample(logits, temperature, n_samples, generator)
    elbo = log_likelihood(samples).mean(dim=0) - bernoulli_kl(logits, prior_logit, mask)
    return -elbo.mean(), elbo.detach()

"""ELBO training of a recognition network against a generative calcium model (torch).

Windows of `window_s` seconds are cut from every cell's normalised trace; each step takes a
minibatch of windows, draws K spike samples from q(s | x), and follows the gradient of the
multi-sample bound (VIMCO) or of the relaxed-Bernoulli ELBO. A tenth of the windows is held
out; training stops when their bound has not improved for `patience` epochs, at `max_epochs`,
or when the time budget is spent, and the best held-out state is kept.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from calscope.config import AmortizedSettings
from calscope.infer.estimators import (
    bernoulli_log_prob,
    relaxed_elbo_loss,
    vimco_surrogate,
)
from calscope.infer.generative import CalciumModel

WARM_EPOCHS = 5  # cross-entropy epochs toward the OASIS spikes before the ELBO phase
# progress(epoch, max_epochs, held-out bound per frame)
Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class TrainingLog:
    """What training did: per-epoch held-out bound (nats per observed frame) and timing."""

    heldout_bound: tuple[float, ...]
    best_epoch: int
    epochs: int
    seconds: float
    stopped: str  # "patience", "max_epochs" or "time"


def cut_windows(x: np.ndarray, mask: np.ndarray, length: int,
                device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Tile every row into windows of ``length`` frames (the last one zero-padded, mask 0).

    Returns:
        xw, mw: (N, length) float32; cells: (N,) long, the row each window came from; all on
        ``device``. Windows without any observed frame are dropped.
    """
    cells, T = x.shape
    n = -(-T // length)
    pad = n * length - T
    xp = np.pad(x, ((0, 0), (0, pad))).reshape(cells * n, length)
    mp = np.pad(mask, ((0, 0), (0, pad))).reshape(cells * n, length)
    rows = np.repeat(np.arange(cells), n)
    keep = mp.sum(axis=1) > 0
    return (torch.as_tensor(np.ascontiguousarray(xp[keep]), device=device),
            torch.as_tensor(np.ascontiguousarray(mp[keep]), device=device),
            torch.as_tensor(rows[keep], dtype=torch.long, device=device))


def window_loss(recognition: torch.nn.Module, model: CalciumModel, x: Tensor, mask: Tensor,
                cells: Tensor, settings: AmortizedSettings,
                generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """(loss, bound (B,)) of one minibatch of windows for the chosen estimator."""
    K = settings.n_samples
    if settings.estimator == "relaxed":
        logits = recognition(x, mask)
        return relaxed_elbo_loss(
            logits, lambda s: model.log_likelihood(x, mask, s, cells), model.prior_logit,
            mask, settings.temperature, K, generator)
    if hasattr(recognition, "sample"):
        spikes, log_q = recognition.sample(x, mask, K, generator)
    else:
        logits = recognition(x, mask)
        probs = torch.sigmoid(logits).detach().expand(K, *logits.shape)
        spikes = torch.bernoulli(probs, generator=generator)
        log_q = bernoulli_log_prob(logits, spikes, mask)
    log_p = model.log_joint(x, mask, spikes, cells)
    return vimco_surrogate(log_p, log_q)


def train(recognition: torch.nn.Module, model: CalciumModel, x: np.ndarray, mask: np.ndarray,
          fs: float, settings: AmortizedSettings, progress: Progress | None = None,
          warm_targets: np.ndarray | None = None) -> TrainingLog:
    """Fit ``recognition`` and ``model`` in place on normalised traces (cells, T).

    Args:
        recognition: maps (B, T) x and mask to logits, or has ``sample`` (autoregressive).
        model: the generative model, one parameter row per cell of ``x``.
        x, mask: (cells, T) float32 normalised traces and observation mask (numpy; training
            runs on the device of ``recognition`` and ``model``).
        fs: sampling rate (Hz).
        settings: training settings (estimator, K, window, batch, learning rate, stopping).
        progress: called after every epoch with (epoch, max_epochs, held-out bound).
        warm_targets: (cells, T) spike probabilities in [0, 1] (e.g. OASIS spikes over each
            cell's gain): q is first fitted to them by cross-entropy for `WARM_EPOCHS`
            epochs (teacher-forced for the autoregressive network), so the ELBO phase starts
            from sharp posteriors (no spike labels are used: the targets come from the
            unsupervised OASIS solution).

    Returns:
        The `TrainingLog`; both modules end in their best held-out state.
    """
    torch.manual_seed(settings.seed)
    device = next(recognition.parameters()).device
    generator = torch.Generator(device).manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    length = max(16, int(round(settings.window_s * fs)))
    xw, mw, cw = cut_windows(x, mask, length, device)
    if warm_targets is not None:
        _warm_start(recognition, xw, mw, cut_windows(warm_targets, mask, length, device)[0],
                    settings, rng)
    order = rng.permutation(len(xw))
    n_val = max(1, len(xw) // 10) if len(xw) > 1 else 0  # one window: trained and scored
    val, tr = order[:n_val], order[n_val:]
    params = list(recognition.parameters()) + list(model.parameters())
    optimizer = torch.optim.Adam(params, lr=settings.learning_rate)
    start = time.perf_counter()
    history: list[float] = []
    best = (-np.inf, 0, copy.deepcopy(recognition.state_dict()), copy.deepcopy(model.state_dict()))
    stopped = "max_epochs"
    for epoch in range(settings.max_epochs):
        recognition.train()
        perm = rng.permutation(tr)
        for i in range(0, len(perm), settings.batch_windows):
            idx = torch.as_tensor(perm[i:i + settings.batch_windows], device=device)
            loss, _ = window_loss(recognition, model, xw[idx], mw[idx], cw[idx], settings,
                                  generator)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            optimizer.step()
        score = _heldout_bound(recognition, model, xw, mw, cw, val if n_val else tr, settings)
        history.append(score)
        if progress is not None:
            progress(epoch + 1, settings.max_epochs, score)
        if score > best[0]:
            best = (score, epoch, copy.deepcopy(recognition.state_dict()),
                    copy.deepcopy(model.state_dict()))
        if epoch - best[1] >= settings.patience:
            stopped = "patience"
            break
        if time.perf_counter() - start > settings.max_time_s:
            stopped = "time"
            break
    recognition.load_state_dict(best[2])
    model.load_state_dict(best[3])
    recognition.eval()
    return TrainingLog(tuple(history), best[1], len(history), time.perf_counter() - start,
                       stopped)


def _warm_start(recognition: torch.nn.Module, xw: Tensor, mw: Tensor, targets: Tensor,
                settings: AmortizedSettings, rng: np.random.Generator) -> None:
    """Fit q's marginal spike probabilities to ``targets`` by masked cross-entropy."""
    optimizer = torch.optim.Adam(recognition.parameters(), lr=settings.learning_rate)
    recognition.train()
    for _ in range(WARM_EPOCHS):
        perm = torch.as_tensor(rng.permutation(len(xw)), device=xw.device)
        for i in range(0, len(perm), settings.batch_windows):
            idx = perm[i:i + settings.batch_windows]
            loss = _cross_entropy(recognition, xw[idx], mw[idx], targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def _cross_entropy(recognition: torch.nn.Module, x: Tensor, mask: Tensor,
                   targets: Tensor) -> Tensor:
    """Masked cross-entropy per observed frame of q against soft spike targets (B, T).

    The autoregressive network is teacher-forced with the targets as its previous spikes.
    """
    if hasattr(recognition, "log_prob"):
        total = -recognition.log_prob(x, mask, targets[None]).sum()
    else:
        total = (torch.nn.functional.binary_cross_entropy_with_logits(
            recognition(x, mask), targets, reduction="none") * mask).sum()
    return total / mask.sum().clamp_min(1.0)


def _heldout_bound(recognition: torch.nn.Module, model: CalciumModel, xw: Tensor, mw: Tensor,
                   cw: Tensor, idx: np.ndarray, settings: AmortizedSettings) -> float:
    """Mean bound per observed frame on the held-out windows (fixed seed: comparable epochs)."""
    recognition.eval()
    generator = torch.Generator(xw.device).manual_seed(settings.seed + 1)
    sel = torch.as_tensor(np.asarray(idx), device=xw.device)
    with torch.no_grad():
        _, bound = window_loss(recognition, model, xw[sel], mw[sel], cw[sel], settings,
                               generator)
    return float(bound.sum() / mw[sel].sum().clamp_min(1.0))

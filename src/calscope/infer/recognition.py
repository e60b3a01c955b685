"""Recognition networks q(s | x) for amortized spike inference (after Speiser et al. 2017).

Both networks read a noise-normalised trace ``x`` (B, T) (unitless: (y − baseline) / σ) and its
``mask`` (B, T) (1 observed, 0 missing) and describe a distribution over binary spikes
s ∈ {0, 1}^(B, T), at most one spike per frame.

- :class:`FactorizedRecognition`: independent Bernoulli spikes, one logit per frame.
- :class:`AutoregressiveRecognition`: a GRU runs forward in time and conditions each frame's spike
  probability on the spikes already sampled (explaining-away).

Both share one non-causal dilated CNN whose receptive field covers ``past_s`` seconds before and
``future_s`` seconds after each frame. The trace is taken as zero and missing outside [0, T), so a
frame's output depends only on the inputs in its receptive field; :func:`split_windows` and
:func:`stitch` use this to run the networks on overlapping windows of a long trace and reassemble
exactly the whole-trace output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from calscope.errors import InputError

PRIOR_RATE = 0.02
"""Spike probability per frame that an untrained network starts from (sparse prior)."""

GRU_HIDDEN = 24
"""State size of the GRU in :class:`AutoregressiveRecognition`."""

_PRIOR_LOGIT = math.log(PRIOR_RATE / (1.0 - PRIOR_RATE))


def _frames(seconds: float, fs: float) -> int:
    """``seconds`` at ``fs`` Hz, rounded up to whole frames (float noise ignored)."""
    return max(math.ceil(seconds * fs - 1e-6), 0)


def _checked_mask(x: Tensor, mask: Tensor | None) -> Tensor:
    """``mask`` (B, T) as a float tensor like ``x`` (all ones when None); checks the shapes."""
    if x.dim() != 2:
        raise InputError(f"x: expected traces of shape (B, T), got shape {tuple(x.shape)}")
    if mask is None:
        return torch.ones_like(x)
    if mask.shape != x.shape:
        raise InputError(
            f"mask: shape {tuple(mask.shape)} differs from x's {tuple(x.shape)}; give one flag "
            "per frame (1 observed, 0 missing)"
        )
    return mask.to(x.dtype)


class _DilatedFeatures(nn.Module):
    """Non-causal residual CNN: (x, mask) (B, T) → features (B, channels, T).

    A pointwise lift of the two input channels (x, 0 where missing; mask), then ``layers`` residual blocks
    h ← h + ELU(conv(h)), each a kernel-3 Conv1d with dilation 1, 2, 4, …. The convolutions are
    unpadded; instead the input is padded with zeros (and mask 0) by the receptive field, so the
    output at frame t depends exactly on the inputs at frames t − before … t + after.
    """

    def __init__(
        self, fs: float, channels: int, past_s: float, future_s: float, hidden_layers: int | None
    ) -> None:
        super().__init__()
        if not fs > 0:
            raise InputError(f"fs: the sampling rate must be > 0 Hz, got {fs}")
        if channels < 1:
            raise InputError(f"channels: must be ≥ 1, got {channels}")
        if past_s < 0 or future_s < 0:
            raise InputError(f"past_s, future_s: must be ≥ 0 s, got {past_s}, {future_s}")
        past, future = _frames(past_s, fs), _frames(future_s, fs)
        layers = hidden_layers
        if layers is None:
            layers = max(math.ceil(math.log2((past + future) / 2 + 1)), 1)
        if layers < 1:
            raise InputError(f"hidden_layers: must be ≥ 1 (or None to fit fs), got {layers}")
        total = 2 * (2**layers - 1)
        before = min(max(past + (total - past - future) // 2, 0), total)
        self.receptive_field = (before, total - before)
        self.lift = nn.Conv1d(2, channels, 1)
        self.blocks = nn.ModuleList(
            nn.Conv1d(channels, channels, 3, dilation=2**i) for i in range(layers)
        )

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """Features (B, channels, T) of traces ``x`` (B, T) with ``mask`` (B, T) or None."""
        mask = _checked_mask(x, mask)
        observed = torch.where(mask > 0, x, 0.0)  # missing samples (even NaN) read as 0
        h = self.lift(F.pad(torch.stack((observed, mask), dim=1), self.receptive_field))
        for conv in self.blocks:
            d = conv.dilation[0]
            h = h[..., d:-d] + F.elu(conv(h))
        return h


class _ConvRecognition(nn.Module):
    """What both recognition networks share: the dilated CNN and a read-out biased to the prior.

    Parameters
    ----------
    fs:
        Sampling rate (Hz); sets the receptive field in frames.
    channels:
        Feature channels of the CNN.
    past_s, future_s:
        Seconds before and after each frame that its features must see (a spike's transient
        rises and decays after it, so the future matters most).
    hidden_layers:
        Number of dilated layers; None picks the fewest whose field covers past_s and future_s.
        With fewer layers than that the field falls short of both sides evenly.
    """

    def __init__(
        self,
        fs: float,
        channels: int = 16,
        past_s: float = 0.3,
        future_s: float = 1.5,
        hidden_layers: int | None = None,
    ) -> None:
        super().__init__()
        self.features = _DilatedFeatures(fs, channels, past_s, future_s, hidden_layers)
        self.head = self._make_head(channels)
        nn.init.constant_(self.head.bias, _PRIOR_LOGIT)

    def _make_head(self, channels: int) -> nn.Conv1d | nn.Linear:
        """The layer that turns the last hidden values into one spike logit per frame."""
        raise NotImplementedError

    @property
    def receptive_field(self) -> tuple[int, int]:
        """(frames before, frames after) each frame that its CNN features depend on."""
        return self.features.receptive_field


class FactorizedRecognition(_ConvRecognition):
    """q(s | x) = Π_t Bernoulli(s_t; sigmoid(logit_t)), logits from a dilated residual CNN.

    Constructor: ``FactorizedRecognition(fs, channels=16, past_s=0.3, future_s=1.5,
    hidden_layers=None)``, the arguments described in :class:`_ConvRecognition`. The logit at
    frame t depends on the inputs at frames t − before … t + after, (before, after) =
    :attr:`receptive_field`.
    """

    def _make_head(self, channels: int) -> nn.Conv1d:
        """A pointwise convolution: features (B, channels, T) → logits (B, 1, T)."""
        return nn.Conv1d(channels, 1, 1)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Spike logits (B, T) for traces ``x`` (B, T) (normalised units), ``mask`` (B, T)."""
        return self.head(self.features(x, mask)).squeeze(1)


class AutoregressiveRecognition(_ConvRecognition):
    """q(s | x) = Π_t Bernoulli(s_t; sigmoid(logit_t(x, s_<t))): CNN features, then a GRU.

    Constructor: ``AutoregressiveRecognition(fs, channels=16, past_s=0.3, future_s=1.5,
    hidden_layers=None)``, the arguments described in :class:`_ConvRecognition`; the GRU has
    :data:`GRU_HIDDEN` units. At frame t the GRU reads [features_t, s_{t−1}], so each spike
    probability is conditioned on the spikes sampled before it. At masked frames q puts s_t = 0
    with certainty: samples are 0 there and those frames add nothing to log q.
    """

    def _make_head(self, channels: int) -> nn.Linear:
        """Builds the GRU (input: features_t and s_{t−1}) and returns its read-out to a logit."""
        self.gru = nn.GRUCell(channels + 1, GRU_HIDDEN)
        return nn.Linear(GRU_HIDDEN, 1)

    def _roll(
        self,
        x: Tensor,
        mask: Tensor,
        n_samples: int,
        generator: torch.Generator | None,
        spikes: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Run the GRU over K·B copies of the traces, sampling spikes or teacher-forcing ``spikes``.

        ``mask`` (B, T) must be checked already; the random numbers come from ``generator`` and
        are drawn only when sampling. Returns the spikes (K·B, T) (0 at masked frames, no gradient) and the logits (K·B, T);
        copy k of trace b is row k·B + b.
        """
        if n_samples < 1:
            raise InputError(f"n_samples: must be ≥ 1, got {n_samples}")
        feats = self.features(x, mask).permute(2, 0, 1)  # (T, B, C)
        rows = n_samples * feats.shape[1]
        observed = mask.repeat(n_samples, 1)  # (K·B, T)
        if spikes is None:
            forced = None
            uniform = torch.rand(rows, x.shape[1], generator=generator, device=x.device)
        else:
            forced = spikes.reshape(rows, -1).to(x.dtype) * observed
        state = feats.new_zeros(rows, self.gru.hidden_size)
        previous = feats.new_zeros(rows, 1)
        drawn, logits = [], []
        for t in range(feats.shape[0]):
            state = self.gru(torch.cat((feats[t].repeat(n_samples, 1), previous), dim=1), state)
            logit = self.head(state).squeeze(1)
            if forced is None:
                spike = (uniform[:, t] < torch.sigmoid(logit.detach())).to(x.dtype)
                spike = spike * observed[:, t]
            else:
                spike = forced[:, t]
            previous = spike.unsqueeze(1)
            drawn.append(spike)
            logits.append(logit)
        return torch.stack(drawn, dim=1), torch.stack(logits, dim=1)

    @staticmethod
    def _log_q(spikes: Tensor, logits: Tensor, mask: Tensor, n_samples: int) -> Tensor:
        """log q (K, B) from spikes and logits (K·B, T); frames with mask 0 add nothing."""
        observed = mask.repeat(n_samples, 1)
        per_frame = -F.binary_cross_entropy_with_logits(logits, spikes, reduction="none")
        return (per_frame * observed).sum(dim=1).reshape(n_samples, -1)

    def sample(
        self,
        x: Tensor,
        mask: Tensor | None,
        n_samples: int,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Draw ``n_samples`` spike trains per trace.

        x, mask: (B, T) normalised traces and observation flags (mask None: all observed).
        Returns spikes (K, B, T) in {0, 1} (float, no gradient; 0 at masked frames) and their
        log q (K, B) in nats, differentiable with respect to the network parameters.
        """
        mask = _checked_mask(x, mask)
        spikes, logits = self._roll(x, mask, n_samples, generator)
        log_q = self._log_q(spikes, logits, mask, n_samples)
        return spikes.reshape(n_samples, *x.shape), log_q

    def log_prob(self, x: Tensor, mask: Tensor | None, spikes: Tensor) -> Tensor:
        """log q(spikes | x) (K, B) in nats for given ``spikes`` (K, B, T) (teacher forcing).

        Spikes at masked frames are taken as 0, where q puts them with certainty.
        """
        mask = _checked_mask(x, mask)
        if spikes.dim() != 3 or spikes.shape[1:] != x.shape:
            raise InputError(
                f"spikes: expected shape (K, {x.shape[0]}, {x.shape[1]}), got {tuple(spikes.shape)}"
            )
        n_samples = spikes.shape[0]
        forced, logits = self._roll(x, mask, n_samples, None, spikes)
        return self._log_q(forced, logits, mask, n_samples)

    def marginals(
        self,
        x: Tensor,
        mask: Tensor | None,
        n_samples: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Monte Carlo spike probability q(s_t = 1 | x) (B, T), without gradient.

        The average over ``n_samples`` sampled histories of the conditional probability
        q(s_t = 1 | s_<t, x): the same estimate as the mean of the sampled spikes, with less
        variance. 0 at masked frames.
        """
        mask = _checked_mask(x, mask)
        with torch.no_grad():
            _, logits = self._roll(x, mask, n_samples, generator)
            probs = torch.sigmoid(logits) * mask.repeat(n_samples, 1)
        return probs.reshape(n_samples, *x.shape).mean(dim=0)


@dataclass(frozen=True)
class WindowPlan:
    """How :func:`split_windows` cut traces (B, T) into windows (N, length), N = B · len(starts).

    Window row b · len(starts) + i holds frames starts[i] … starts[i] + length − 1 of trace b
    (zero-padded, mask 0, beyond T), and supplies the output frames cuts[i] … cuts[i + 1] − 1.
    """

    n_traces: int
    n_frames: int
    length: int
    starts: tuple[int, ...]
    cuts: tuple[int, ...]


def split_windows(
    x: Tensor, mask: Tensor, length: int, margin: int
) -> tuple[Tensor, Tensor, WindowPlan]:
    """Cut traces ``x`` and ``mask`` (B, T) into overlapping windows (N, length).

    Windows step by length − 2·margin frames, the last one ending at frame T; each frame is
    assigned to the window in which it lies farthest from an edge, which is at least ``margin``
    frames from both edges except within ``margin`` frames of the trace's ends. With margin ≥
    both sides of a network's receptive field, :func:`stitch` of the windows' outputs equals the
    whole-trace output. A trace shorter than ``length`` becomes one zero-padded window.
    """
    mask = _checked_mask(x, mask)
    if length < 1 or margin < 0 or length <= 2 * margin:
        raise InputError(
            f"length, margin: need length ≥ 1, margin ≥ 0 and length > 2·margin, got {length}, "
            f"{margin}; make the windows longer or the margin smaller"
        )
    n_traces, n_frames = x.shape
    if n_frames <= length:
        starts = [0]
    else:
        stride = length - 2 * margin
        count = 1 + math.ceil((n_frames - length) / stride)
        starts = [min(i * stride, n_frames - length) for i in range(count)]
    inner = [(a + b + length + 1) // 2 for a, b in zip(starts, starts[1:])]
    plan = WindowPlan(n_traces, n_frames, length, tuple(starts), (0, *inner, n_frames))
    index = torch.tensor(starts, device=x.device).unsqueeze(1) + torch.arange(length, device=x.device)
    pad = (0, max(length - n_frames, 0))
    windows = [F.pad(v, pad)[:, index].reshape(-1, length) for v in (x, mask)]
    return windows[0], windows[1], plan


def stitch(values: Tensor, plan: WindowPlan) -> Tensor:
    """Reassemble per-window values (N, length) or (K, N, length) into (B, T) or (K, B, T).

    Each frame is read from the window that :func:`split_windows` assigned it to.
    """
    count = len(plan.starts)
    expected = (plan.n_traces * count, plan.length)
    if values.dim() not in (2, 3) or tuple(values.shape[-2:]) != expected:
        raise InputError(
            f"values: expected shape (N, length) or (K, N, length) with (N, length) = {expected}, "
            f"got {tuple(values.shape)}"
        )
    frame = torch.arange(plan.n_frames, device=values.device)
    inner = torch.tensor(plan.cuts[1:-1], device=values.device, dtype=frame.dtype)
    window = torch.searchsorted(inner, frame, right=True)
    starts = torch.tensor(plan.starts, device=values.device)
    source = window * plan.length + frame - starts[window]
    flat = values.reshape(*values.shape[:-2], plan.n_traces, count * plan.length)
    return flat[..., source]

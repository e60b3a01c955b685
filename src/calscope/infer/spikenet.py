"""The supervised network: a fully convolutional, non-causal dilated temporal CNN.

One pass over a whole (cells, channels, T) batch gives every frame's expected spike count and a
90% band, sharing computation between neighbouring frames (no window per frame).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

#: The band's quantiles (5th and 95th percentiles: a 90% band).
QUANTILES = (0.05, 0.95)


class SpikeNet(nn.Module):
    """Residual dilated 1-D CNN: (n, in_channels, T) → (n, 3, T) = mean, lower, upper.

    Each block is ``h + W₂ · gelu(conv_d(gelu(h)))`` with a kernel-3 convolution at dilation d;
    the receptive field is ``1 + 2·Σd`` frames, centred on the output frame.

    Args:
        in_channels: input channels (:data:`calscope.infer.features.N_CHANNELS`).
        channels: hidden width.
        dilations: one block per dilation.
    """

    def __init__(self, in_channels: int, channels: int = 32,
                 dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)) -> None:
        super().__init__()
        self.dilations = tuple(int(d) for d in dilations)
        self.inp = nn.Conv1d(in_channels, channels, 1)
        self.temporal = nn.ModuleList(
            nn.Conv1d(channels, channels, 3, dilation=d, padding=d) for d in self.dilations)
        self.mix = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in self.dilations)
        self.out = nn.Conv1d(channels, 3, 1)
        with torch.no_grad():  # start near "no spikes" (softplus(−3) ≈ 0.05 per frame)
            self.out.weight.mul_(0.1)
            self.out.bias.copy_(torch.tensor([-3.0, -4.0, -3.0]))

    @property
    def receptive_field(self) -> int:
        """Frames each output sees (odd, centred)."""
        return 1 + 2 * sum(self.dilations)

    def forward(self, x: Tensor) -> Tensor:
        """(n, in_channels, T) → (n, 3, T): expected spikes per frame, and the 5th and 95th
        percentiles, all ≥ 0 with lower ≤ upper."""
        h = self.inp(x)
        for conv, mix in zip(self.temporal, self.mix):
            h = h + mix(F.gelu(conv(F.gelu(h))))
        raw = self.out(F.gelu(h))
        mean = F.softplus(raw[:, 0])
        lower = F.softplus(raw[:, 1])
        upper = lower + F.softplus(raw[:, 2])
        return torch.stack([mean, lower, upper], dim=1)


class SpikeEnsemble(nn.Module):
    """Several :class:`SpikeNet` of one architecture: (n, in_channels, T) → (n, 3, T), the
    members' outputs averaged (the mean, and the band's percentiles, each averaged).

    Args:
        members: the trained networks.
    """

    def __init__(self, members: list[SpikeNet]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    @property
    def receptive_field(self) -> int:
        """Frames each output sees (odd, centred)."""
        return max(m.receptive_field for m in self.members)

    def forward(self, x: Tensor) -> Tensor:
        """The members' (n, 3, T) outputs, averaged."""
        out = self.members[0](x)
        for member in self.members[1:]:
            out = out + member(x)
        return out / len(self.members)


def supervised_loss(pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """Poisson loss of the mean plus the pinball losses of the two quantiles, over valid frames.

    Args:
        pred: (n, 3, T) network output.
        target: (n, T) smoothed spikes per frame.
        valid: (n, T) bool.
    """
    w = valid.to(pred.dtype)
    total = w.sum().clamp_min(1.0)
    loss = (w * (pred[:, 0] - target * torch.log(pred[:, 0] + 1e-4))).sum()
    for k, q in enumerate(QUANTILES, start=1):
        err = target - pred[:, k]
        loss = loss + (w * torch.maximum(q * err, (q - 1.0) * err)).sum()
    return loss / total

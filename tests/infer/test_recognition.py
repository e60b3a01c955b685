"""Recognition networks and the windowing of long traces (calscope.infer.recognition)."""

from __future__ import annotations

import math

import pytest
import torch

from calscope.errors import InputError
from calscope.infer.recognition import (
    AutoregressiveRecognition,
    FactorizedRecognition,
    split_windows,
    stitch,
)

RATES = (7.5, 30.0, 100.0)


def _traces(n: int, frames: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random traces (n, frames) and a mask with about a tenth of the frames missing."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, frames, generator=gen)
    mask = (torch.rand(n, frames, generator=gen) > 0.1).float()
    return x, mask


@pytest.mark.parametrize("fs", RATES)
def test_output_shapes(fs: float) -> None:
    torch.manual_seed(0)
    factorized = FactorizedRecognition(fs)
    autoregressive = AutoregressiveRecognition(fs)
    for frames in (1, 50, 3000):
        x, mask = _traces(2, frames)
        assert factorized(x, mask).shape == (2, frames)
        assert factorized(x).shape == (2, frames)
        spikes, log_q = autoregressive.sample(x, mask, 3)
        assert spikes.shape == (3, 2, frames)
        assert log_q.shape == (3, 2)
        assert autoregressive.log_prob(x, mask, spikes).shape == (3, 2)
        assert autoregressive.marginals(x, None, 2).shape == (2, frames)


@pytest.mark.parametrize("fs", RATES)
def test_receptive_field_covers_past_and_future(fs: float) -> None:
    for net in (FactorizedRecognition(fs), AutoregressiveRecognition(fs)):
        before, after = net.receptive_field
        assert before >= math.ceil(0.3 * fs - 1e-6)
        assert after >= math.ceil(1.5 * fs - 1e-6)
        layers = len(net.features.blocks)
        assert before + after == 2 * (2**layers - 1)
        # the fewest layers that cover: one layer less would fall short
        assert 2 * (2 ** (layers - 1) - 1) < math.ceil(0.3 * fs - 1e-6) + math.ceil(1.5 * fs - 1e-6)
    assert sum(FactorizedRecognition(30.0, hidden_layers=2).receptive_field) == 6


def test_impulse_changes_logits_only_within_receptive_field() -> None:
    torch.manual_seed(1)
    net = FactorizedRecognition(30.0, channels=8)
    before, after = net.receptive_field
    x = torch.zeros(1, 400)
    kicked = x.clone()
    onset = 200
    kicked[0, onset] = 5.0
    with torch.no_grad():
        changed = (net(kicked) - net(x))[0].abs() > 0
    # the output at t reads inputs t − before … t + after, so an input at t0 reaches t0 − after … t0 + before
    expected = torch.zeros(400, dtype=torch.bool)
    expected[onset - after : onset + before + 1] = True
    assert torch.equal(changed, expected)


@pytest.mark.parametrize(("frames", "length"), [(3000, 400), (457, 400), (50, 400), (400, 400)])
def test_stitched_windows_equal_whole_trace(frames: int, length: int) -> None:
    torch.manual_seed(2)
    net = FactorizedRecognition(30.0, channels=8)
    margin = max(net.receptive_field)
    x, mask = _traces(3, frames, seed=3)
    xw, mw, plan = split_windows(x, mask, length, margin)
    with torch.no_grad():
        whole = net(x, mask)
        stitched = stitch(net(xw, mw), plan)
    assert stitched.shape == whole.shape
    torch.testing.assert_close(stitched, whole, atol=1e-5, rtol=0)
    stacked = torch.stack((net(xw, mw), -net(xw, mw))).detach()
    torch.testing.assert_close(stitch(stacked, plan), torch.stack((whole, -whole)), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("frames", "length", "margin"), [(1, 10, 2), (10, 10, 0), (11, 10, 4), (1000, 64, 20), (997, 100, 0)]
)
def test_window_plan_covers_each_frame_once_far_from_edges(frames: int, length: int, margin: int) -> None:
    x = torch.arange(2 * frames, dtype=torch.float32).reshape(2, frames)
    xw, mw, plan = split_windows(x, torch.ones_like(x), length, margin)
    count = len(plan.starts)
    assert xw.shape == mw.shape == (2 * count, length)
    assert plan.cuts[0] == 0 and plan.cuts[-1] == frames
    assert all(a < b for a, b in zip(plan.cuts, plan.cuts[1:]))  # cores tile [0, T) exactly once
    torch.testing.assert_close(stitch(xw, plan), x)  # every frame read back from its own position
    assert mw.sum() == 2 * sum(min(length, frames - s) for s in plan.starts)  # padding is masked
    starts = torch.tensor(plan.starts).unsqueeze(1)
    frame = torch.arange(frames)
    depth = torch.minimum(frame - starts, starts + length - 1 - frame)  # (windows, T); < 0 outside
    chosen = torch.searchsorted(torch.tensor(plan.cuts[1:-1]), frame, right=True)
    best = depth.max(dim=0).values
    assert torch.equal(depth[chosen, frame], best)
    inside = (frame >= margin) & (frame < frames - margin)
    assert bool((best[inside] >= margin).all())


def test_split_windows_rejects_margin_too_wide() -> None:
    x = torch.zeros(1, 100)
    with pytest.raises(InputError):
        split_windows(x, x, 10, 5)


def test_log_prob_equals_sample_log_q() -> None:
    torch.manual_seed(4)
    net = AutoregressiveRecognition(30.0, channels=8)
    x, mask = _traces(3, 120, seed=5)
    spikes, log_q = net.sample(x, mask, 4, torch.Generator().manual_seed(6))
    torch.testing.assert_close(net.log_prob(x, mask, spikes), log_q, atol=1e-5, rtol=1e-6)


def test_samples_binary_and_reproducible() -> None:
    torch.manual_seed(7)
    net = AutoregressiveRecognition(30.0, channels=8)
    with torch.no_grad():
        net.head.bias.fill_(0.0)  # about half the frames spike: both values get drawn
    x, mask = _traces(2, 200, seed=8)
    first, log_first = net.sample(x, mask, 5, torch.Generator().manual_seed(9))
    again, log_again = net.sample(x, mask, 5, torch.Generator().manual_seed(9))
    other, _ = net.sample(x, mask, 5, torch.Generator().manual_seed(10))
    assert set(first.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(first, again) and torch.equal(log_first, log_again)
    assert not torch.equal(first, other)
    probs = net.marginals(x, mask, 5, torch.Generator().manual_seed(9))
    assert bool(((probs >= 0) & (probs <= 1)).all())


def test_masked_frames_add_nothing_to_log_q() -> None:
    torch.manual_seed(11)
    net = AutoregressiveRecognition(30.0, channels=8)
    with torch.no_grad():
        net.head.bias.fill_(0.0)
    x, mask = _traces(2, 150, seed=12)
    spikes, log_q = net.sample(x, mask, 3, torch.Generator().manual_seed(13))
    assert bool((spikes[:, mask == 0] == 0).all())
    flipped = torch.where(mask == 0, 1.0, spikes)  # spikes at masked frames are ignored
    torch.testing.assert_close(net.log_prob(x, mask, flipped), log_q)
    assert bool((net.marginals(x, mask, 3)[mask == 0] == 0).all())
    nothing, log_nothing = net.sample(x, torch.zeros_like(mask), 3)
    assert bool((nothing == 0).all()) and bool((log_nothing == 0).all())


def test_gradients_reach_parameters_through_log_q() -> None:
    torch.manual_seed(14)
    net = AutoregressiveRecognition(30.0, channels=8)
    x, mask = _traces(2, 80, seed=15)
    spikes, log_q = net.sample(x, mask, 3, torch.Generator().manual_seed(16))
    assert not spikes.requires_grad
    log_q.sum().backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name

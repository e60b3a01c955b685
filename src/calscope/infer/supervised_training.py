"""Training loop of the supervised network, with checkpoints that let a long run continue."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from calscope.config import SupervisedSettings
from calscope.infer.features import input_channels
from calscope.infer.simulated_truth import SIMULATED_PREFIX
from calscope.infer.spikenet import SpikeEnsemble, SpikeNet, supervised_loss
from calscope.infer.training_set import TrainingTrace, augment, sample_windows
from calscope.io.writers import atomic_open

#: progress(epoch, epochs, mean training loss of the epoch)
Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class SupervisedLog:
    """What training did: per-epoch mean loss, epochs run, seconds, and why it stopped
    (``"epochs"`` or ``"time"``)."""

    losses: tuple[float, ...]
    epochs: int
    seconds: float
    stopped: str


def new_network(settings: SupervisedSettings) -> SpikeNet:
    """A freshly initialised network for ``settings`` (seeded)."""
    torch.manual_seed(settings.seed)
    return _architecture(settings)


def network_for(settings: SupervisedSettings) -> SpikeNet | SpikeEnsemble:
    """An untrained network of ``settings``' architecture (to load weights into): one
    :class:`SpikeNet`, or a :class:`SpikeEnsemble` of ``settings.ensemble`` of them."""
    if settings.ensemble == 1:
        return _architecture(settings)
    return SpikeEnsemble([_architecture(settings) for _ in range(settings.ensemble)])


def _architecture(settings: SupervisedSettings) -> SpikeNet:
    return SpikeNet(input_channels(settings.cell_context), settings.channels, settings.dilations)


def train_members(traces: Sequence[TrainingTrace], settings: SupervisedSettings,
                  progress: Progress | None = None, checkpoint: str | Path | None = None,
                  device: torch.device | None = None
                  ) -> tuple[SpikeNet | SpikeEnsemble, SupervisedLog]:
    """Train ``settings.ensemble`` networks (:func:`train_network` each), member k exactly as a
    single network of seed ``settings.seed + k``; one member is returned as a :class:`SpikeNet`,
    several as a :class:`SpikeEnsemble`.

    With a ``checkpoint``, each finished member is kept beside it (``<checkpoint>.member<k>``)
    until all are done, so an interrupted run continues with the member it stopped in.
    ``settings.max_time_s`` is each member's budget. The log joins the members' logs (losses in
    order, epochs and seconds summed; ``"time"`` if any member stopped on time).
    """
    if settings.ensemble == 1:
        return train_network(traces, settings, progress, checkpoint, device)
    n = settings.ensemble
    nets: list[SpikeNet] = []
    logs: list[SupervisedLog] = []
    for k in range(n):
        member = settings.model_copy(update={"seed": settings.seed + k, "ensemble": 1})
        done = None if checkpoint is None else Path(f"{checkpoint}.member{k}")
        finished = _finished_member(done, member, device)
        if finished is None:
            def step(epoch: int, epochs: int, loss: float, k: int = k) -> None:
                if progress is not None:
                    progress(k * epochs + epoch, n * epochs, loss)
            finished = train_network(traces, member, step, checkpoint, device)
            if done is not None:
                with atomic_open(done) as fh:
                    torch.save({"net": finished[0].state_dict(), "log": asdict(finished[1]),
                                "settings": member.model_dump(mode="json")}, fh)
        nets.append(finished[0])
        logs.append(finished[1])
    if checkpoint is not None:
        for k in range(n):
            Path(f"{checkpoint}.member{k}").unlink(missing_ok=True)
    stopped = "time" if any(log.stopped == "time" for log in logs) else "epochs"
    return SpikeEnsemble(nets), SupervisedLog(tuple(x for log in logs for x in log.losses),
                                              sum(log.epochs for log in logs),
                                              sum(log.seconds for log in logs), stopped)


def _finished_member(done: Path | None, member: SupervisedSettings,
                     device: torch.device | None) -> tuple[SpikeNet, SupervisedLog] | None:
    """A member an interrupted run finished (kept in ``done`` with the same settings), or None."""
    if done is None or not done.is_file():
        return None
    state = torch.load(done, map_location="cpu", weights_only=False)
    if state["settings"] != member.model_dump(mode="json"):
        return None
    net = _architecture(member).to(device or torch.device("cpu"))
    net.load_state_dict(state["net"])
    net.eval()
    return net, SupervisedLog(**state["log"])


def train_network(traces: Sequence[TrainingTrace], settings: SupervisedSettings,
                  progress: Progress | None = None, checkpoint: str | Path | None = None,
                  device: torch.device | None = None) -> tuple[SpikeNet, SupervisedLog]:
    """Train a :class:`SpikeNet` on noise-matched windows of ground-truth recordings.

    Each epoch augments every recording afresh (:func:`augment`: fresh noise) and draws
    ``windows_per_epoch`` dataset-balanced windows; Adam with a cosine learning-rate decay over
    all epochs. With ``settings.pretrain_epochs`` > 0, that many epochs on the simulated
    recordings alone (dataset names starting with
    :data:`~calscope.infer.simulated_truth.SIMULATED_PREFIX`) come first, with their own
    optimiser and decay. Deterministic on CPU for a given ``settings.seed``; on a GPU the
    windows are the same but the arithmetic is not bit-identical.

    Args:
        traces: prepared ground truth (:func:`calscope.infer.training_set.training_traces`).
        settings: network and training settings.
        progress: called after every epoch (pre-training epochs included).
        checkpoint: a file written after every epoch; when it exists (from an interrupted run
            with the same settings) training continues from it. Removed at the end.
            ``settings.max_time_s`` counts the interrupted run's seconds too; training stops
            at the first epoch's end past it, after one epoch at least.
        device: where the network trains (None: the CPU); windows are drawn on the CPU.

    Returns:
        The trained network (eval mode) and its log (pre-training epochs included).

    Raises:
        ValueError: no training traces, or pre-training without simulated recordings.
    """
    if not traces:
        raise ValueError("no training recordings (each needs ≥ 2 s of data and a spike)")
    phases = [(list(traces), settings.epochs)]  # (recordings, epochs), in order
    if settings.pretrain_epochs:
        simulated = [t for t in traces if t.dataset.startswith(SIMULATED_PREFIX)]
        if not simulated:
            raise ValueError("pretrain_epochs > 0 needs simulated recordings "
                             "(simulated_minutes > 0)")
        phases.insert(0, (simulated, settings.pretrain_epochs))
    device = device or torch.device("cpu")
    net = new_network(settings).to(device)
    rng = np.random.default_rng(settings.seed)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    saved = _resume(ckpt, settings, net, rng)
    losses = list(saved["losses"]) if saved else []
    done = len(losses)  # epochs already run
    t0 = time.perf_counter() - (saved["seconds"] if saved else 0.0)
    total = sum(epochs for _, epochs in phases)
    steps_per_epoch = max(1, settings.windows_per_epoch // settings.batch_windows)
    stopped = "epochs"
    net.train()
    first = 0  # epochs before the current phase
    for recordings, epochs in phases:
        opt = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch)
        if saved and first < done < first + epochs:  # interrupted within this phase
            opt.load_state_dict(saved["opt"])
            sched.load_state_dict(saved["sched"])
        for epoch in range(max(done, first), first + epochs):
            budget = settings.max_time_s
            if losses and budget is not None and time.perf_counter() - t0 > budget:
                stopped = "time"  # at the first epoch's end past the budget (≥ 1 epoch)
                break
            losses.append(_epoch(net, opt, sched, recordings, rng, settings, steps_per_epoch,
                                 device))
            if ckpt is not None:
                _save_checkpoint(ckpt, net, opt, sched, rng, settings, losses,
                                 time.perf_counter() - t0)
            if progress is not None:
                progress(epoch + 1, total, losses[-1])
        if stopped == "time":
            break
        first += epochs
    if ckpt is not None:
        ckpt.unlink(missing_ok=True)
    net.eval()
    return net, SupervisedLog(tuple(losses), len(losses), time.perf_counter() - t0, stopped)


def _resume(ckpt: Path | None, settings: SupervisedSettings, net: SpikeNet,
            rng: np.random.Generator) -> dict | None:
    """Load an interrupted run's checkpoint of the same settings into ``net`` and ``rng`` (and
    torch's generator); returns it (its optimiser state, losses, seconds), or None."""
    if ckpt is None or not ckpt.is_file():
        return None
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    if state["settings"] != settings.model_dump(mode="json"):
        return None
    net.load_state_dict(state["net"])
    rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    return state


def _epoch(net: SpikeNet, opt: torch.optim.Optimizer,
           sched: torch.optim.lr_scheduler.LRScheduler, traces: Sequence[TrainingTrace],
           rng: np.random.Generator, settings: SupervisedSettings, steps: int,
           device: torch.device) -> float:
    """One epoch: every trace augmented afresh, ``steps`` minibatches; the mean loss."""
    inputs = [augment(tr, rng, settings) for tr in traces]
    total = 0.0
    for _ in range(steps):
        w = sample_windows(traces, inputs, settings.batch_windows, settings.window_frames, rng,
                           settings.balance)
        x, target, valid = (torch.from_numpy(a).to(device) for a in (w.x, w.target, w.valid))
        loss = supervised_loss(net(x), target, valid)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        total += float(loss.detach())
    return total / steps


def _save_checkpoint(path: Path, net: SpikeNet, opt: torch.optim.Optimizer,
                     sched: torch.optim.lr_scheduler.LRScheduler, rng: np.random.Generator,
                     settings: SupervisedSettings, losses: list[float], seconds: float) -> None:
    """Everything a later run needs to continue after the epochs in ``losses``."""
    state = {"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
             "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
             "settings": settings.model_dump(mode="json"), "losses": losses, "seconds": seconds}
    with atomic_open(path) as fh:
        torch.save(state, fh)

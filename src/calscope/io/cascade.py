"""CASCADE ground-truth files: one MATLAB file per neuron, its trials as ΔF/F with spike times.

``loadmat(f)["CAttached"]`` is a 1 × trials cell array and each non-empty entry a 1 × 1
struct with ``fluo_time`` (s), ``fluo_mean`` (ΔF/F), ``events_AP`` (spike times as sample
indices at 10 kHz) and, in DS28 only, ``fluo_raw``/``neuropil``. ``events_AP / 1e4`` is on the
same clock as ``fluo_time``; no offset is applied (see ``calscope.io.ground_truth``).

This module parses the trials as stored; ``read_traces`` uses ``cascade_trial_table`` to read
them as plain traces, ``calscope.io.ground_truth`` pairs them with their spikes.
``write_cascade_neuron`` writes a lab's own ground truth in the same layout.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from calscope.errors import InputError
from calscope.io.matlab import load_mat
from calscope.io.writers import atomic_open
from calscope.validation import check_fs

EPHYS_RATE_HZ = 1e4


@dataclass(frozen=True)
class CascadeTrial:
    """One non-empty trial of a CASCADE file, as stored (spikes not yet clipped).

    Attributes:
        index: position of the trial in ``CAttached``.
        dff: (T,) float64 ``fluo_mean``.
        time: (T,) float64 frame times in s (``frame_times``).
        fs: frame rate in Hz.
        events_s: (n,) float64 sorted spike times in s, or None when the trial has no
            ``events_AP`` (no ground truth).
    """

    index: int
    dff: np.ndarray
    time: np.ndarray
    fs: float
    events_s: np.ndarray | None


def frame_times(fluo_time: np.ndarray, n_frames: int) -> tuple[np.ndarray, float] | None:
    """Frame times (s) for ``n_frames`` frames, and the frame rate (Hz), from ``fluo_time``.

    The rate is 1 / nanmedian(diff(fluo_time)). Stored times are kept where they are finite and
    increase; the others (NaN runs, a repeated last time, frames past the end of a short
    ``fluo_time``) are filled on the frame grid: linearly between known times, and t0 + k/fs
    steps before the first or after the last known one. None when no rate can be derived.
    """
    steps = np.diff(np.asarray(fluo_time, dtype=np.float64).ravel())
    steps = steps[np.isfinite(steps)]
    if steps.size == 0 or not np.median(steps) > 0:
        return None
    step = float(np.median(steps))
    stored = np.full(n_frames, np.nan)
    count = min(n_frames, np.size(fluo_time))
    stored[:count] = np.ravel(fluo_time)[:count]
    finite = np.isfinite(stored)
    latest_before = np.maximum.accumulate(np.where(finite, stored, -np.inf))
    known = np.flatnonzero(finite & (stored > np.r_[-np.inf, latest_before[:-1]]))
    if known.size == 0:
        return None
    frames = np.arange(n_frames)
    times = np.interp(frames, known, stored[known])
    first, last = known[0], known[-1]
    times[:first] = stored[first] - (first - frames[:first]) * step
    times[last + 1 :] = stored[last] + (frames[last + 1 :] - last) * step
    return times, 1.0 / step


def read_cascade_trials(path: str | Path) -> list[CascadeTrial]:
    """Every non-empty trial of a CASCADE ground-truth file, in file order.

    A trial is empty when its cell is not a struct, ``fluo_mean`` has no finite sample, or
    ``fluo_time`` gives no frame rate. Raises InputError for a missing or unreadable file or
    one without a ``CAttached`` variable.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such CASCADE file; check the path")
    variables = load_mat(path)
    if "CAttached" not in variables:
        raise InputError(f"{path}: not a CASCADE ground-truth file (no CAttached variable)")
    trials = []
    for index, cell in enumerate(np.ravel(variables["CAttached"])):
        trial = _parse_trial(index, cell)
        if trial is not None:
            trials.append(trial)
    return trials


def _parse_trial(index: int, cell: np.ndarray) -> CascadeTrial | None:
    """One ``CAttached`` entry (a 1 × 1 struct array); None for an empty trial."""
    fields = cell.dtype.names
    if not fields or "fluo_mean" not in fields or "fluo_time" not in fields or cell.size == 0:
        return None
    struct = cell.ravel()[0]
    dff = np.asarray(struct["fluo_mean"], dtype=np.float64).ravel()
    axis = frame_times(np.asarray(struct["fluo_time"], dtype=np.float64), dff.size)
    if axis is None or not np.isfinite(dff).any():
        return None
    events = None
    if "events_AP" in fields:
        events = np.sort(np.asarray(struct["events_AP"], dtype=np.float64).ravel()) / EPHYS_RATE_HZ
    return CascadeTrial(index=index, dff=dff, time=axis[0], fs=axis[1], events_s=events)


def cascade_trial_table(path: str | Path) -> tuple[np.ndarray, float, np.ndarray]:
    """Every non-empty trial of a CASCADE file as a row, for use as plain traces.

    Returns:
        dff: (trials, T) float64 ΔF/F, NaN-padded to the longest trial.
        fs: the first trial's frame rate in Hz (a warning names the file when the trials'
            rates differ by more than 1 %).
        rows: (trials,) int64 positions of these trials in ``CAttached``.
    """
    trials = read_cascade_trials(path)
    if not trials:
        raise InputError(f"{path}: this CASCADE file holds no non-empty trial")
    dff = np.full((len(trials), max(trial.dff.size for trial in trials)), np.nan)
    for row, trial in enumerate(trials):
        dff[row, : trial.dff.size] = trial.dff
    rates = np.array([trial.fs for trial in trials])
    if np.any(np.abs(rates / rates[0] - 1) > 0.01):
        warnings.warn(
            f"{path}: trials have different frame rates ({rates.min():.3g}–{rates.max():.3g} Hz);"
            f" using the first trial's {rates[0]:.4g} Hz for all",
            stacklevel=2,
        )
    return dff, float(rates[0]), np.array([trial.index for trial in trials], dtype=np.int64)


def write_cascade_neuron(path: str | Path,
                         trials: Sequence[tuple[np.ndarray, float, np.ndarray]]) -> Path:
    """Write one neuron's simultaneous imaging and electrophysiology as a CASCADE ground-truth
    file, which ``calscope train --method supervised --ground-truth`` (and CASCADE) can read.

    A training folder holds one folder per dataset (its name is the dataset's name, e.g.
    ``my_ground_truth/DS90-jGCaMP8m-m-V1/``) and in it one file per neuron. Written atomically
    (a failed write leaves no file).

    Args:
        path: the ``.mat`` file to write.
        trials: one ``(dff, fs, spike_times)`` per recording of the neuron: (T,) ΔF/F as a
            fraction (NaN where nothing was recorded), its frame rate (Hz), and (n,) spike
            times (s) counted from the first frame (frame k is at k / fs), within the recording.

    Returns:
        ``path``.

    Raises:
        InputError: not a ``.mat`` path, no trials, or a trial whose trace is not 1-D with two
            finite samples, whose rate is not positive, or whose spike times are not finite
            or fall outside its recording (the message names the trial).
    """
    path = Path(path)
    if path.suffix.lower() != ".mat":
        raise InputError(f"{path}: a CASCADE ground-truth file must end in .mat")
    if len(trials) == 0:
        raise InputError(f"{path}: no trials to write; give at least one (dff, fs, spike_times)")
    cells = np.empty((1, len(trials)), dtype=object)
    for index, (dff, fs, spike_times) in enumerate(trials):
        where = f"{path}: trial {index}"
        dff = np.asarray(dff, dtype=np.float64)
        if dff.ndim != 1 or np.isfinite(dff).sum() < 2:
            raise InputError(f"{where}: dff must be one trace (T,) with at least two finite "
                             f"samples, got shape {dff.shape}")
        rate = check_fs(fs, f"{where}: fs")
        spikes = np.sort(np.asarray(spike_times, dtype=np.float64).ravel())
        duration = dff.size / rate
        if not np.isfinite(spikes).all() or (spikes.size and not (
                spikes[0] >= 0 and spikes[-1] < duration)):
            raise InputError(f"{where}: spike times must be finite seconds from the first "
                             f"frame, within the recording's [0, {duration:.6g}) s")
        cells[0, index] = {
            "fluo_time": (np.arange(dff.size) / rate)[None, :],
            "fluo_mean": dff[None, :],
            "events_AP": np.round(spikes * EPHYS_RATE_HZ)[:, None],
        }
    with atomic_open(path) as handle:
        scipy.io.savemat(handle, {"CAttached": cells})
    return path

"""Ground-truth recordings: calcium imaging with simultaneously recorded spikes.

Two sources, both in ``shared/data/ground_truth`` (see its README):

* CASCADE (``cascade/<dataset>/<neuron>.mat``): one MATLAB file per neuron;
  ``loadmat(f)["CAttached"]`` is a 1 × trials cell array and each non-empty entry a 1 × 1
  struct with ``fluo_time`` (s), ``fluo_mean`` (ΔF/F), ``events_AP`` (spike times as sample
  indices at 10 kHz) and, in DS28 only, ``fluo_raw``/``neuropil``.
* Spikefinder (``spikefinder/<n>.train.{calcium,spikes}.csv``): 100 Hz, one column per neuron,
  spike counts per 10 ms bin, NaN padding at the end of shorter neurons.

Timing of ``events_AP``: ``events_AP / 1e4`` is on the same clock as ``fluo_time`` (0 = start
of the recording; first frames sit at 0–0.15 s). Checked on the real files: spikes fall inside
the imaging span, the one recording whose spikes start before its first finite frame time
(DS07 Fish1_cell1 trial 0) has NaN frame times over exactly those first 40 s, and the
spike-triggered ΔF/F rises 0–2 frames after the spike in every dataset except DS03 (500 Hz line
scans), where it rises 20–40 ms before: the loader applies no offset.

Quirks handled (each covered by a test): trials without ``events_AP`` and empty trials are
skipped; NaN runs in ``fluo_time`` and a ``fluo_time`` shorter than ``fluo_mean`` are filled on
the frame grid (see ``frame_times``); spikes outside the imaging window are dropped; frame
rates differ between trials of one neuron. DS33 mixes indicators (mostly jGCaMP8, plus two
XCaMPgf files from the DS28 mouse and one jGCaMP7f file): the loader reports them as they are
and leaves grouping for leave-one-dataset-out to the benchmark.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calscope.errors import InputError
from calscope.io.traces import load_mat, read_traces

EPHYS_RATE_HZ = 1e4
SPIKEFINDER_RATE_HZ = 100.0


@dataclass(frozen=True)
class GroundTruthRecording:
    """One imaging recording with its spike times.

    Attributes:
        dataset: folder name, e.g. "DS09-GCaMP6f-m-V1" ("spikefinder-4" for Spikefinder).
        neuron: file stem (CASCADE) or column name (Spikefinder).
        trial: trial index within the neuron's file (0 for Spikefinder).
        dff: (T,) float64 ΔF/F (fluorescence for Spikefinder), NaN where missing.
        time: (T,) float64 frame times in s.
        fs: frame rate in Hz, 1 / nanmedian(diff(fluo_time)).
        spike_times: (n,) float64 sorted spike times in s within [time[0], time[-1] + 1/fs).
    """

    dataset: str
    neuron: str
    trial: int
    dff: np.ndarray
    time: np.ndarray
    fs: float
    spike_times: np.ndarray


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


def _in_window(spike_times: np.ndarray, time: np.ndarray, fs: float) -> np.ndarray:
    """The spike times (s) within the imaging window [time[0], time[-1] + 1/fs)."""
    inside = (spike_times >= time[0]) & (spike_times < time[-1] + 1.0 / fs)
    return spike_times[inside]


def load_cascade_neuron(path: str | Path) -> list[GroundTruthRecording]:
    """The recordings of one CASCADE neuron file that have ground truth.

    Trials without ``events_AP`` and empty trials are skipped; spikes are clipped to each
    recording's imaging window. ``dataset`` is the parent folder's name, ``neuron`` the stem.
    """
    path = Path(path)
    return [
        GroundTruthRecording(
            dataset=path.parent.name,
            neuron=path.stem,
            trial=trial.index,
            dff=trial.dff,
            time=trial.time,
            fs=trial.fs,
            spike_times=_in_window(trial.events_s, trial.time, trial.fs),
        )
        for trial in read_cascade_trials(path)
        if trial.events_s is not None
    ]


def cascade_dataset_dirs(root: Path) -> list[Path]:
    """The dataset folders (holding ``.mat`` files) under ``root``, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder; pass the CASCADE ground-truth folder")
    return sorted(d for d in root.iterdir() if d.is_dir() and any(d.glob("*.mat")))


def load_cascade_dataset(folder: Path) -> list[GroundTruthRecording]:
    """Every recording with ground truth of every neuron file in ``folder`` (sorted by file)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder; pass a CASCADE dataset folder")
    return [rec for file in sorted(folder.glob("*.mat")) for rec in load_cascade_neuron(file)]


def load_spikefinder(root: Path, name: str) -> list[GroundTruthRecording]:
    """The Spikefinder training set ``name`` ("4", "6", ...): one recording per neuron.

    Reads ``<root>/<name>.train.calcium.csv`` (fluorescence) and ``.spikes.csv`` (counts per
    10 ms bin) at 100 Hz. Trailing NaN padding is dropped; ``time`` = arange(T) / 100 s and a
    bin holding k spikes gives k spike times at its centre, (i + 0.5) / 100 s.
    """
    calcium, spikes = (
        read_traces(Path(root) / f"{name}.train.{kind}.csv", fs=SPIKEFINDER_RATE_HZ)
        for kind in ("calcium", "spikes")
    )
    if calcium.traces.shape != spikes.traces.shape or calcium.names != spikes.names:
        raise InputError(
            f"{spikes.source}: columns or length differ from {calcium.source}; "
            "use the calcium and spikes files of the same Spikefinder set"
        )
    recordings = []
    for column, neuron in enumerate(calcium.names):
        fluorescence = calcium.traces[column].astype(np.float64)
        finite = np.flatnonzero(np.isfinite(fluorescence))
        if finite.size == 0:
            continue
        length = int(finite[-1]) + 1
        counts = np.nan_to_num(spikes.traces[column, :length]).round().clip(0).astype(np.int64)
        time = np.arange(length) / SPIKEFINDER_RATE_HZ
        recordings.append(
            GroundTruthRecording(
                dataset=f"spikefinder-{name}",
                neuron=neuron,
                trial=0,
                dff=fluorescence[:length],
                time=time,
                fs=SPIKEFINDER_RATE_HZ,
                spike_times=np.repeat(time + 0.5 / SPIKEFINDER_RATE_HZ, counts),
            )
        )
    return recordings

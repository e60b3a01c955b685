"""Ground-truth recordings: calcium imaging with simultaneously recorded spikes.

Two sources, both in ``shared/data/ground_truth`` (see its README):

* CASCADE (``cascade/<dataset>/<neuron>.mat``): one MATLAB file per neuron, its trials
  parsed by ``calscope.io.cascade`` (file layout described there).
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
the frame grid (see ``calscope.io.cascade.frame_times``); spikes outside the imaging window are
dropped; frame rates differ between trials of one neuron. DS33 mixes indicators (mostly
jGCaMP8, plus two XCaMPgf files from the DS28 mouse and one jGCaMP7f file): the loader reports
them as they are and leaves grouping for leave-one-dataset-out to the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calscope.errors import InputError
from calscope.io.cascade import read_cascade_trials
from calscope.io.traces import read_traces

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

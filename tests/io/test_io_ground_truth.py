"""Ground-truth loaders: each quirk of the real CASCADE and Spikefinder files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from calscope.errors import InputError
from calscope.io import (
    cascade_dataset_dirs,
    frame_times,
    load_cascade_dataset,
    load_cascade_neuron,
    load_spikefinder,
    read_cascade_trials,
    write_cascade_neuron,
)


@pytest.fixture(scope="module")
def cascade(shared_data: Path) -> Path:
    return shared_data / "ground_truth" / "cascade"


def _neuron(cascade: Path, dataset: str, stem_end: str) -> Path:
    (path,) = cascade.glob(f"{dataset}*/*{stem_end}_mini.mat")
    return path


def _check_recording(rec: object) -> None:
    """Invariants every recording satisfies."""
    dff, time, spikes, fs = rec.dff, rec.time, rec.spike_times, rec.fs  # type: ignore[attr-defined]
    assert dff.dtype == time.dtype == spikes.dtype == np.float64
    assert dff.shape == time.shape and np.isfinite(time).all()
    assert np.all(np.diff(time) > 0) and fs > 0
    assert np.all(np.diff(spikes) >= 0)
    assert np.all(spikes >= time[0]) and np.all(spikes < time[-1] + 1 / fs)


# -- frame_times on synthetic axes ---------------------------------------------------------------


def test_frame_times_keeps_a_clean_axis() -> None:
    stored = 0.02 + np.arange(20) / 10
    times, fs = frame_times(stored, 20)  # type: ignore[misc]
    np.testing.assert_array_equal(times, stored)
    assert fs == pytest.approx(10)


def test_frame_times_fills_nan_runs_and_extends_a_short_axis() -> None:
    stored = np.arange(10) / 10
    stored[:3] = np.nan
    stored[5:7] = np.nan
    times, fs = frame_times(stored, 15)  # type: ignore[misc]
    np.testing.assert_allclose(times, np.arange(15) / 10, atol=1e-12)


def test_frame_times_replaces_a_repeated_time() -> None:
    stored = np.r_[np.arange(9) / 10, 0.8]
    times, _ = frame_times(stored, 10)  # type: ignore[misc]
    np.testing.assert_allclose(times, np.arange(10) / 10)


def test_frame_times_without_rate() -> None:
    assert frame_times(np.full(5, np.nan), 5) is None
    assert frame_times(np.array([1.0]), 5) is None
    assert frame_times(np.r_[np.nan, np.nan, 1.0, 2.0], 2) is None
    assert frame_times(np.arange(5.0), 0) is None


# -- a synthetic CASCADE file ----------------------------------------------------------------------


def test_synthetic_file_skips_empty_and_unscored_trials_and_clips(tmp_path: Path) -> None:
    time = 0.05 + np.arange(50) / 10
    cells = np.empty((1, 3), dtype=object)
    cells[0, 0] = {
        "fluo_time": time[None],
        "fluo_mean": np.sin(time)[None],
        "events_AP": np.array([[0], [2000], [30000], [52000]]),  # 0, 0.2, 3.0, 5.2 s
    }
    cells[0, 1] = np.zeros((0, 0))
    cells[0, 2] = {"fluo_time": time[None], "fluo_mean": np.cos(time)[None]}
    path = tmp_path / "DSxx-test" / "CAttached_cell1_mini.mat"
    path.parent.mkdir()
    scipy.io.savemat(path, {"CAttached": cells})
    assert [t.index for t in read_cascade_trials(path)] == [0, 2]
    assert read_cascade_trials(path)[1].events_s is None
    (rec,) = load_cascade_neuron(path)
    assert (rec.dataset, rec.neuron, rec.trial) == ("DSxx-test", "CAttached_cell1_mini", 0)
    np.testing.assert_allclose(rec.spike_times, [0.2, 3.0])
    _check_recording(rec)


def test_not_a_cascade_file(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "x.mat", {"dF": np.ones((2, 20))})
    with pytest.raises(InputError, match="x.mat.*no CAttached"):
        read_cascade_trials(tmp_path / "x.mat")
    with pytest.raises(InputError, match="absent.mat"):
        load_cascade_neuron(tmp_path / "absent.mat")


# -- real files: the quirks listed in shared/data/README.md --------------------------------------


def test_leading_nan_run_keeps_the_early_spikes(cascade: Path) -> None:
    path = _neuron(cascade, "DS07", "190522_Fish1_cell1")
    rec = load_cascade_neuron(path)[0]
    assert rec.trial == 0 and rec.dff.size == 3600
    assert np.isnan(rec.dff[:1201]).all() and np.isfinite(rec.dff[1201:]).all()
    assert rec.fs == pytest.approx(30, rel=0.01)
    raw = scipy.io.loadmat(path)["CAttached"][0, 0][0, 0]["fluo_time"].ravel()
    np.testing.assert_array_equal(rec.time[1201:], raw[1201:])
    assert rec.time[0] == pytest.approx(raw[1201] - 1201 / rec.fs)  # 40.03 s - 40 s
    assert rec.spike_times[0] < 1.0  # spikes during the NaN run are kept
    _check_recording(rec)


def test_trailing_nan_run(cascade: Path) -> None:
    rec = load_cascade_neuron(_neuron(cascade, "DS19", "S1_cell2"))[1]
    assert np.isnan(rec.dff[-50:]).all()
    _check_recording(rec)


@pytest.mark.parametrize(
    ("dataset", "stem_end", "stored"),
    [("DS04", "190115_Fish2_cellA", 468), ("DS05", "Fish1_cell2", 340)],
)
def test_short_fluo_time_is_extended(
    cascade: Path, dataset: str, stem_end: str, stored: int
) -> None:
    path = _neuron(cascade, dataset, stem_end)
    rec = load_cascade_neuron(path)[0]
    raw = scipy.io.loadmat(path)["CAttached"][0, 0][0, 0]["fluo_time"].ravel()
    assert raw.size == stored and rec.dff.size == rec.time.size == 900
    np.testing.assert_array_equal(rec.time[:stored], raw)
    np.testing.assert_allclose(np.diff(rec.time[stored - 1 :]), 1 / rec.fs)
    assert rec.time[-1] > 100  # 900 frames at 7.8 Hz
    _check_recording(rec)


def test_dataset_05_spikes_run_to_the_extended_end(cascade: Path) -> None:
    rec = load_cascade_neuron(_neuron(cascade, "DS05", "Fish1_cell2"))[0]
    assert rec.spike_times[-1] > 110


def test_empty_trials_and_trials_without_events_are_skipped(cascade: Path) -> None:
    cell5 = load_cascade_neuron(_neuron(cascade, "DS03", "Cal520_cell5"))
    assert [rec.trial for rec in cell5] == [0]
    cell3 = _neuron(cascade, "DS03", "Cal520_cell3")
    assert len(read_cascade_trials(cell3)) == 10
    assert [rec.trial for rec in load_cascade_neuron(cell3)] == [2, 3, 4, 6]


def test_spikes_after_the_imaging_are_clipped(cascade: Path) -> None:
    path = _neuron(cascade, "DS04", "190301_Fish1_cell3")
    stored = read_cascade_trials(path)[3]
    rec = load_cascade_neuron(path)[3]
    assert stored.events_s is not None and stored.events_s.max() > 100
    assert rec.spike_times.size < stored.events_s.size
    _check_recording(rec)


def test_dataset_folders_and_a_whole_dataset(cascade: Path) -> None:
    folders = cascade_dataset_dirs(cascade)
    names = [folder.name for folder in folders]
    assert len(folders) == 27 and names == sorted(names) and names[0].startswith("DS03")
    recordings = load_cascade_dataset(cascade / "DS03-Cal520-m-S1")
    assert len(recordings) == 161 - 24  # README: 161 non-empty recordings, 24 without events
    assert all(rec.dataset == "DS03-Cal520-m-S1" for rec in recordings)
    for rec in recordings:
        _check_recording(rec)


def test_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nowhere"):
        cascade_dataset_dirs(tmp_path / "nowhere")
    with pytest.raises(InputError, match="nowhere"):
        load_cascade_dataset(tmp_path / "nowhere")


# -- Spikefinder -----------------------------------------------------------------------------------


def test_spikefinder_4(shared_data: Path) -> None:
    root = shared_data / "ground_truth" / "spikefinder"
    recordings = load_spikefinder(root, "4")
    assert [rec.neuron for rec in recordings] == ["0", "1", "2", "3", "4", "5"]
    counts = np.genfromtxt(root / "4.train.spikes.csv", delimiter=",", skip_header=1)
    for column, rec in enumerate(recordings):
        assert rec.dataset == "spikefinder-4" and rec.fs == 100.0 and rec.trial == 0
        assert rec.dff.size == 27763 and np.isfinite(rec.dff).all()
        assert rec.spike_times.size == np.nansum(counts[:, column])
        _check_recording(rec)
    first = np.flatnonzero(counts[:, 5])[0]  # the first bin with spikes in neuron 5
    assert recordings[5].spike_times[0] == pytest.approx((first + 0.5) / 100)


def test_spikefinder_6_trims_nan_padding(shared_data: Path) -> None:
    recordings = load_spikefinder(shared_data / "ground_truth" / "spikefinder", "6")
    lengths = [rec.dff.size for rec in recordings]
    assert lengths == [23998, 23998, 5998, 23998, 9598, 23998, 19198, 19198, 23998]
    for rec in recordings:
        assert np.isfinite(rec.dff).all() and rec.dataset == "spikefinder-6"
        _check_recording(rec)


def test_spikefinder_missing_set(shared_data: Path) -> None:
    with pytest.raises(InputError, match="9.train.calcium.csv"):
        load_spikefinder(shared_data / "ground_truth" / "spikefinder", "9")


# -- writing a lab's own ground truth ---------------------------------------------------------------


def test_written_neuron_reads_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    first = (rng.normal(size=300), 30.0, np.array([0.5, 2.25, 9.9]))
    second = (np.r_[rng.normal(size=100), np.nan, rng.normal(size=99)], 7.5, np.array([]))
    path = write_cascade_neuron(tmp_path / "DS90-mine" / "cell01.mat", [first, second])
    recs = load_cascade_neuron(path)
    assert [(r.dataset, r.neuron, r.trial) for r in recs] == [("DS90-mine", "cell01", 0),
                                                              ("DS90-mine", "cell01", 1)]
    for rec, (dff, fs, spikes) in zip(recs, [first, second]):
        np.testing.assert_array_equal(rec.dff, dff)
        assert rec.fs == pytest.approx(fs)
        np.testing.assert_allclose(rec.spike_times, spikes, atol=1e-4)
        _check_recording(rec)
    assert [p.name for p in (tmp_path / "DS90-mine").iterdir()] == ["cell01.mat"]
    assert cascade_dataset_dirs(tmp_path) == [tmp_path / "DS90-mine"]


@pytest.mark.parametrize("trial,message", [
    ((np.ones((2, 50)), 30.0, []), "trial 0: dff must be one trace"),
    ((np.r_[1.0, np.full(49, np.nan)], 30.0, []), "at least two finite samples"),
    ((np.ones(50), 0.0, []), "trial 0: fs=0.0"),
    ((np.ones(50), 30.0, [0.5, np.nan]), "must be finite seconds"),
    ((np.ones(50), 30.0, [-0.1]), r"within the recording's \[0, 1.66667\) s"),
    ((np.ones(50), 30.0, [1.7]), "within the recording"),
])
def test_writing_bad_trials_fails_and_writes_nothing(tmp_path: Path, trial: tuple,
                                                     message: str) -> None:
    path = tmp_path / "DS90" / "cell.mat"
    with pytest.raises(InputError, match=message):
        write_cascade_neuron(path, [trial])
    assert not path.exists()


def test_writing_needs_a_mat_path_and_trials(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="must end in .mat"):
        write_cascade_neuron(tmp_path / "cell.npz", [(np.ones(50), 30.0, [])])
    with pytest.raises(InputError, match="no trials"):
        write_cascade_neuron(tmp_path / "cell.mat", [])


def test_a_real_neuron_written_again_reads_back_the_same(cascade: Path, tmp_path: Path) -> None:
    original = load_cascade_neuron(_neuron(cascade, "DS09", "cell10_full"))
    trials = [(rec.dff, rec.fs, rec.spike_times - rec.time[0]) for rec in original]
    copy = load_cascade_neuron(write_cascade_neuron(tmp_path / "DS09-copy" / "cell10.mat", trials))
    assert len(copy) == len(original) > 0
    for a, b in zip(original, copy):
        np.testing.assert_array_equal(b.dff, a.dff)
        assert b.fs == pytest.approx(a.fs, rel=1e-9)
        np.testing.assert_allclose(b.time, a.time - a.time[0], atol=1e-9 * a.time.size)
        np.testing.assert_allclose(b.spike_times, a.spike_times - a.time[0], atol=1e-4)

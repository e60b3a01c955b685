"""Reading traces: every format round-trips, and the real files read as documented."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from calscope.errors import InputError
from calscope.io import bad_rows, read_cascade_trials, read_traces, validate_traces

RNG = np.random.default_rng(0)
TRACES = RNG.normal(size=(3, 40))


def test_npy_2d_round_trip(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", TRACES)
    data = read_traces(tmp_path / "t.npy", fs=30)
    assert data.traces.dtype == np.float32 and data.traces.shape == (3, 40)
    np.testing.assert_allclose(data.traces, TRACES, rtol=1e-6)
    assert (data.fs, data.fmt, data.was_1d) == (30.0, "npy", False)
    np.testing.assert_array_equal(data.rows, [0, 1, 2])
    assert data.rows.dtype == np.int64
    assert data.names == ("row 0", "row 1", "row 2")
    assert data.source == str(tmp_path / "t.npy")


def test_npy_1d_becomes_one_row(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", TRACES[0])
    data = read_traces(tmp_path / "t.npy", fs=10.5)
    assert data.traces.shape == (1, 40) and data.was_1d
    np.testing.assert_allclose(data.traces[0], TRACES[0], rtol=1e-6)


def test_fs_not_required_gives_none(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", TRACES)
    assert read_traces(tmp_path / "t.npy", require_fs=False).fs is None


def test_csv_spikefinder_layout_with_padding(tmp_path: Path) -> None:
    lines = ["a,b,c"] + [f"{i},{i * 2},{i * 3}" for i in range(12)]
    lines += ["12,,NaN", "13,, nan"]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    data = read_traces(tmp_path / "t.csv", fs=100)
    assert data.fmt == "csv" and data.names == ("a", "b", "c")
    assert data.traces.shape == (3, 14)
    np.testing.assert_array_equal(data.traces[0], np.arange(14))
    assert np.isnan(data.traces[1:, 12:]).all() and np.isfinite(data.traces[:, :12]).all()
    np.testing.assert_array_equal(data.traces[2, :12], np.arange(12) * 3)


def test_mat_picks_the_matrix_and_skips_scalars_and_vectors(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "t.mat", {"dF": TRACES, "rate": 30.0, "time": np.arange(40.0)})
    data = read_traces(tmp_path / "t.mat", fs=30)
    assert data.fmt == "mat"
    np.testing.assert_allclose(data.traces, TRACES, rtol=1e-6)


def test_mat_key_picks_among_several(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "t.mat", {"raw": TRACES, "dff": TRACES * 2})
    data = read_traces(tmp_path / "t.mat", fs=30, key="dff")
    np.testing.assert_allclose(data.traces, TRACES * 2, rtol=1e-6)


def test_mat_vector_is_one_trace(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "t.mat", {"trace": TRACES[0][:, None]})
    data = read_traces(tmp_path / "t.mat", fs=30)
    assert data.traces.shape == (1, 40) and data.was_1d


def test_mat_v73_is_read_through_hdf5_and_transposed(tmp_path: Path) -> None:
    path = tmp_path / "t.mat"
    with h5py.File(path, "w", userblock_size=512) as handle:
        handle["traces"] = TRACES.T  # MATLAB writes column-major: HDF5 sees T × cells
    header = b"MATLAB 7.3 MAT-file".ljust(116) + bytes(8) + b"\x00\x02IM"
    with path.open("r+b") as handle:
        handle.write(header)
    data = read_traces(path, fs=30)
    np.testing.assert_allclose(data.traces, TRACES, rtol=1e-6)


def test_hdf5_nested_dataset_and_key(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "t.h5", "w") as handle:
        handle["group/traces"] = TRACES
        handle["group/time"] = np.arange(40.0)
    data = read_traces(tmp_path / "t.h5", fs=30)
    assert data.fmt == "h5"
    np.testing.assert_allclose(data.traces, TRACES, rtol=1e-6)
    data = read_traces(tmp_path / "t.h5", fs=30, key="/group/traces")
    np.testing.assert_allclose(data.traces, TRACES, rtol=1e-6)


def _suite2p_folder(folder: Path, *, ops: bool = True) -> tuple[np.ndarray, np.ndarray]:
    folder.mkdir(parents=True)
    fluorescence = RNG.normal(100, 5, size=(5, 40)).astype(np.float32)
    neuropil = RNG.normal(50, 5, size=(5, 40)).astype(np.float32)
    np.save(folder / "F.npy", fluorescence)
    np.save(folder / "Fneu.npy", neuropil)
    np.save(folder / "iscell.npy", np.array([[1, 0.9], [0, 0.2], [1, 0.7], [0, 0.1], [0, 0.4]]))
    if ops:
        np.save(folder / "ops.npy", {"fs": 15.0, "nframes": 40}, allow_pickle=True)
    return fluorescence, neuropil


def test_suite2p_folder_neuropil_iscell_ops(tmp_path: Path) -> None:
    fluorescence, neuropil = _suite2p_folder(tmp_path / "s2p")
    data = read_traces(tmp_path / "s2p")
    assert (data.fmt, data.fs) == ("suite2p", 15.0)
    np.testing.assert_array_equal(data.rows, [0, 2])
    assert data.names == ("roi 0", "roi 2")
    expected = fluorescence[[0, 2]] - 0.7 * neuropil[[0, 2]]
    np.testing.assert_allclose(data.traces, expected, rtol=1e-5)
    every = read_traces(tmp_path / "s2p", all_rois=True, fs=20)
    assert every.traces.shape == (5, 40) and every.fs == 20.0


def test_suite2p_plane0_subfolder(tmp_path: Path) -> None:
    _suite2p_folder(tmp_path / "out" / "suite2p" / "plane0")
    assert read_traces(tmp_path / "out").traces.shape == (2, 40)


def test_real_suite2p_folder_needs_fs(shared_data: Path) -> None:
    folder = shared_data / "suite2p_output" / "inscopix_1p"
    with pytest.raises(InputError, match="--fs"):
        read_traces(folder)
    data = read_traces(folder, fs=10)
    assert data.traces.shape == (20, 300) and data.fs == 10.0
    iscell = np.load(folder / "iscell.npy")
    np.testing.assert_array_equal(data.rows, np.flatnonzero(iscell[:, 0] > 0.5))
    np.testing.assert_allclose(data.traces, np.load(folder / "F.npy")[data.rows])
    assert read_traces(folder, fs=10, all_rois=True).traces.shape == (54, 300)


def test_real_population_mat(shared_data: Path) -> None:
    path = next((shared_data / "populations").glob("Allen-Brain-Observatory*.mat"))
    data = read_traces(path, fs=30)
    assert data.traces.shape == (74, 6001) and data.fmt == "mat"
    assert bad_rows(data.traces).size == 0


def test_real_multiplane_mat_keeps_all_nan_rows(shared_data: Path) -> None:
    path = next((shared_data / "populations").glob("Multiplane*_01.mat"))
    data = read_traces(path, fs=7.5)
    assert data.traces.shape == (1005, 260)
    assert bad_rows(data.traces).size == 2


def test_real_cascade_file_trials_become_padded_rows(shared_data: Path) -> None:
    path = (
        shared_data / "ground_truth" / "cascade" / "DS04-OGB1-zf-pDp"
        / "CAttached_OGB_pDp_190301_Fish1_cell3_mini.mat"
    )
    data = read_traces(path)
    trials = read_cascade_trials(path)
    assert data.fmt == "cascade" and data.fs == pytest.approx(7.512, rel=1e-3) == trials[0].fs
    assert data.traces.shape == (5, 900)
    np.testing.assert_array_equal(data.rows, np.arange(5))
    assert data.names[3] == "trial 3"
    assert [t.dff.size for t in trials] == [900, 900, 900, 310, 900]
    assert np.isnan(data.traces[3, 310:]).all()
    np.testing.assert_allclose(data.traces[3, :310], trials[3].dff, rtol=1e-6)


def test_real_cascade_file_skips_empty_trials(shared_data: Path) -> None:
    path = next((shared_data / "ground_truth" / "cascade").glob("DS03*/*_cell5_mini.mat"))
    data = read_traces(path)
    np.testing.assert_array_equal(data.rows, [0])
    assert data.fs == pytest.approx(500.0)


def test_cascade_trials_with_different_rates_warn(shared_data: Path) -> None:
    path = next((shared_data / "ground_truth" / "cascade").glob("DS40*/*211011_cell1_mini.mat"))
    with pytest.warns(UserWarning, match="different frame rates"):
        data = read_traces(path)
    assert data.fs == pytest.approx(43.65, rel=1e-3)


def test_bad_rows_finds_all_nan_and_constant_rows() -> None:
    traces = RNG.normal(size=(5, 20))
    traces[1] = np.nan
    traces[2] = 3.0
    traces[2, :4] = np.nan
    traces[3, 1:] = np.nan  # a single finite sample is constant
    np.testing.assert_array_equal(bad_rows(traces), [1, 2, 3])
    assert bad_rows(TRACES[0]).size == 0


def test_one_bad_row_is_not_an_error(tmp_path: Path) -> None:
    traces = TRACES.copy()
    traces[1] = np.nan
    np.save(tmp_path / "t.npy", traces)
    data = read_traces(tmp_path / "t.npy", fs=30)
    np.testing.assert_array_equal(bad_rows(data.traces), [1])


def test_validate_traces_accepts_good_arrays() -> None:
    validate_traces(TRACES, 30.0, "traces")
    validate_traces(TRACES[0], 30, "trace")
    validate_traces(TRACES, None, "traces", require_fs=False)

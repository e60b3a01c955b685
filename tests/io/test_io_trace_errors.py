"""Bad trace input raises InputError with one line naming the file, the problem and the fix."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from calscope.errors import InputError
from calscope.io import read_traces, validate_traces

GOOD = np.random.default_rng(1).normal(size=(2, 30))


def _raises(path: Path, pattern: str, *, named: str | None = None, **kwargs: object) -> str:
    """Read ``path``; expect InputError matching ``pattern`` and naming ``named`` (default: the
    file read). Returns the message."""
    with pytest.raises(InputError, match=pattern) as caught:
        read_traces(path, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert (named or path.name) in message
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    _raises(tmp_path / "absent.npy", "no such file", fs=30)


def test_unknown_extension_lists_supported(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("1 2 3")
    message = _raises(tmp_path / "t.txt", "unknown trace format", fs=30)
    for suffix in (".npy", ".csv", ".mat", ".h5", "Suite2p"):
        assert suffix in message


@pytest.mark.parametrize("suffix", [".npy", ".mat", ".h5", ".csv"])
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    (tmp_path / f"t{suffix}").write_bytes(b"")
    _raises(tmp_path / f"t{suffix}", "empty|cannot read", fs=30)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", GOOD)
    _truncate(tmp_path / "t.npy")
    _raises(tmp_path / "t.npy", "cannot read this NPY file", fs=30)


def test_truncated_mat(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "t.mat", {"x": GOOD})
    _truncate(tmp_path / "t.mat")
    _raises(tmp_path / "t.mat", "cannot read this MATLAB file", fs=30)


def test_truncated_hdf5(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "t.h5", "w") as handle:
        handle["x"] = GOOD
    _truncate(tmp_path / "t.h5")
    _raises(tmp_path / "t.h5", "cannot read this HDF5 file", fs=30)


def test_csv_non_numeric_field_is_located(tmp_path: Path) -> None:
    rows = ["a,b"] + [f"{i},{i}" for i in range(12)]
    rows[5] = "4,oops"
    (tmp_path / "t.csv").write_text("\n".join(rows))
    message = _raises(tmp_path / "t.csv", "not a number", fs=30)
    assert re.search(r"line 6, column 2 \('b'\): 'oops'", message)


def test_csv_ragged_line(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n" + "1,2\n" * 12 + "1,2,3\n")
    _raises(tmp_path / "t.csv", "line 14 has 3 fields but the header has 2", fs=30)


def test_csv_header_only(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n")
    _raises(tmp_path / "t.csv", "no data rows", fs=30)


@pytest.mark.parametrize("shape", [(), (2, 3, 30)])
def test_wrong_dimensions(tmp_path: Path, shape: tuple[int, ...]) -> None:
    np.save(tmp_path / "t.npy", np.ones(shape))
    _raises(tmp_path / "t.npy", f"{len(shape)}-D array", fs=30)


def test_non_numeric_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", np.array([["a"] * 30]))
    _raises(tmp_path / "t.npy", "real numbers", fs=30)


def test_all_rows_all_nan(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", np.full((3, 30), np.nan))
    _raises(tmp_path / "t.npy", "every trace is all NaN or constant", fs=30)


def test_all_rows_constant(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", np.ones((3, 30)))
    _raises(tmp_path / "t.npy", "every trace is all NaN or constant", fs=30)


def test_too_few_samples(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", GOOD[:, :9])
    _raises(tmp_path / "t.npy", "only 9 samples", fs=30)


def test_infinite_values(tmp_path: Path) -> None:
    values = GOOD.copy()
    values[0, 3] = np.inf
    np.save(tmp_path / "t.npy", values)
    _raises(tmp_path / "t.npy", "infinite", fs=30)


@pytest.mark.parametrize("fs", [0, -5.0, float("nan"), float("inf"), "fast"])
def test_bad_fs(tmp_path: Path, fs: object) -> None:
    np.save(tmp_path / "t.npy", GOOD)
    _raises(tmp_path / "t.npy", "positive number of Hz", fs=fs)


def test_missing_fs_says_pass_fs(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", GOOD)
    _raises(tmp_path / "t.npy", "pass --fs HZ")


def test_bad_fs_in_suite2p_ops(tmp_path: Path) -> None:
    np.save(tmp_path / "F.npy", GOOD)
    np.save(tmp_path / "ops.npy", {"fs": -1.0}, allow_pickle=True)
    _raises(tmp_path, "positive number of Hz", named="ops.npy")


def test_unknown_key_mat(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "t.mat", {"dF": GOOD})
    message = _raises(tmp_path / "t.mat", "no array named 'traces'", fs=30, key="traces")
    assert "dF" in message


def test_unknown_key_hdf5(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "t.h5", "w") as handle:
        handle["dF"] = GOOD
    _raises(tmp_path / "t.h5", "no array named 'traces'", fs=30, key="traces")


def test_key_for_npy_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", GOOD)
    _raises(tmp_path / "t.npy", "does not apply", fs=30, key="x")


def test_mat_with_several_matrices_lists_them(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "t.mat", {"raw": GOOD, "dff": GOOD})
    message = _raises(tmp_path / "t.mat", "several 2-D numeric arrays", fs=30)
    assert "raw" in message and "dff" in message and "--key" in message


def test_mat_without_matrix(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "t.mat", {"name": "cell", "rate": 30.0})
    _raises(tmp_path / "t.mat", "no 2-D numeric array", fs=30)


def test_folder_without_f_npy(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    _raises(tmp_path / "out", "no F.npy", fs=30)


def test_suite2p_shape_mismatches(tmp_path: Path) -> None:
    np.save(tmp_path / "F.npy", GOOD)
    np.save(tmp_path / "iscell.npy", np.ones((3, 2)))
    _raises(tmp_path, "3 entries for 2 ROIs", named="iscell.npy", fs=30)
    np.save(tmp_path / "Fneu.npy", GOOD[:, :20])
    _raises(tmp_path, "differs from F.npy", named="Fneu.npy", fs=30)


def test_suite2p_without_cells(tmp_path: Path) -> None:
    np.save(tmp_path / "F.npy", GOOD)
    np.save(tmp_path / "iscell.npy", np.zeros((2, 2)))
    _raises(tmp_path, "marks no ROI as a cell; pass --all-rois", fs=30)
    assert read_traces(tmp_path, fs=30, all_rois=True).traces.shape == (2, 30)


@pytest.mark.parametrize(
    ("traces", "fs", "pattern"),
    [
        (np.ones((2, 2, 30)), 30.0, "3-D array"),
        (GOOD[:, :5], 30.0, "only 5 samples"),
        (np.zeros((0, 30)), 30.0, "no traces"),
        (np.full((2, 30), np.nan), 30.0, "all NaN or constant"),
        (GOOD, 0.0, "positive number of Hz"),
        (GOOD, None, "pass --fs HZ"),
    ],
)
def test_validate_traces_on_arrays(traces: np.ndarray, fs: float | None, pattern: str) -> None:
    with pytest.raises(InputError, match=pattern) as caught:
        validate_traces(traces, fs, "my_traces")
    assert str(caught.value).startswith("my_traces")

"""Cells written to a new NWB file: read back by calscope and pynwb, and passing
nwbinspector's checks above best-practice suggestions when the subject and area are given."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
import scipy.sparse

from calscope.io.nwb import RESULTS_CONTAINER, read_nwb_fov
from calscope.io.nwb_export import CellsForNwb, SubjectInfo, write_cells_nwb
from calscope.io.traces import read_traces

START = datetime(2026, 3, 1, 14, 5, tzinfo=timezone.utc)


def _cells(with_results: bool) -> CellsForNwb:
    rng = np.random.default_rng(0)
    shape, n_frames = (12, 14), 80
    images = np.zeros((3, *shape))
    for k, (y, x) in enumerate([(3, 3), (6, 10), (9, 4)]):
        images[k, y - 1: y + 2, x - 1: x + 2] = 0.5
        images[k, y, x] = 1.0
    accepted = np.array([True, False, True])
    return CellsForNwb(
        footprints=scipy.sparse.csc_matrix(images.reshape(3, -1).T),
        shape=shape, dff=rng.random((3, n_frames)).astype(np.float32), accepted=accepted,
        snr=np.array([5.0, 1.0, 7.0]), spatial_r=np.array([0.9, 0.2, 0.95]),
        mean_image=rng.random(shape).astype(np.float32) + 1, fs=15.0,
        spikes=rng.random((2, n_frames)).astype(np.float32) if with_results else None,
        spike_rows=np.array([0, 2]) if with_results else None,
        shifts=rng.normal(size=(n_frames, 2)) if with_results else None)


def test_cells_round_trip_through_nwb(tmp_path):
    cells = _cells(with_results=True)
    path = write_cells_nwb(tmp_path / "s.nwb", cells, session_start=START,
                           description="test", source="movie.tif")
    data = read_traces(path)  # the accepted cells' ΔF/F, by the iscell column
    assert data.fs == 15.0 and data.fmt == "nwb"
    np.testing.assert_array_equal(data.rows, [0, 2])
    np.testing.assert_allclose(data.traces, cells.dff[[0, 2]], rtol=1e-6)
    assert read_traces(path, all_rois=True).traces.shape == (3, 80)
    fov = read_nwb_fov(path, data.rows)
    assert fov.kind == "mean image" and fov.image.shape == (12, 14)  # the full frame
    np.testing.assert_allclose(fov.image, cells.mean_image)
    assert fov.labels[3, 3] == 1 and fov.labels[9, 4] == 2 and fov.labels[6, 10] == 0

    from pynwb import NWBHDF5IO
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        module = nwbfile.processing["ophys"]
        spikes = module[RESULTS_CONTAINER]["spikes"]
        np.testing.assert_allclose(spikes.data[:].T, cells.spikes, rtol=1e-6)
        assert list(spikes.rois.data[:]) == [0, 2] and spikes.unit == "spikes per frame"
        np.testing.assert_allclose(module["motion"].data[:], cells.shifts, rtol=1e-6)
        table = module["ImageSegmentation"]["cells"]
        np.testing.assert_allclose(table["snr"].data[:], cells.snr)
        assert nwbfile.session_start_time == START


def test_a_complete_file_passes_nwbinspector(tmp_path):
    from nwbinspector import Importance, inspect_nwbfile

    path = write_cells_nwb(tmp_path / "s.nwb", _cells(with_results=False), session_start=START,
                           description="test", source="movie.tif",
                           subject=SubjectInfo("m1", "Mus musculus", "F", "P90D"),
                           location="VISp", indicator="GCaMP6f")
    problems = [f"{m.importance.name}: {m.message}" for m in inspect_nwbfile(
        path, importance_threshold=Importance.BEST_PRACTICE_VIOLATION)]
    assert problems == []
    # without a subject's details DANDI's requirements are reported, not hidden
    bare = write_cells_nwb(tmp_path / "bare.nwb", _cells(with_results=False),
                           session_start=START, description="test", source="movie.tif")
    critical = [m for m in inspect_nwbfile(bare, importance_threshold=Importance.CRITICAL)]
    assert any("age" in m.message for m in critical)


def test_a_failed_write_leaves_nothing(tmp_path):
    cells = _cells(with_results=False)
    broken = CellsForNwb(**{**cells.__dict__, "dff": cells.dff[:, :, None]})  # 3-D: refused
    with pytest.raises(Exception):
        write_cells_nwb(tmp_path / "s.nwb", broken, session_start=START, description="t",
                        source="m")
    assert list(tmp_path.iterdir()) == []

"""Rigid registration of synthetic movies with known shifts: accuracy, sign, sharper mean image,
chunking, lazy inputs, and applying it."""

import h5py
import numpy as np
import pytest
import zarr

from calscope.config import MotionSettings
from calscope.motion import (RegisteredMovie, apply_registration, crispness, register,
                             registration_metrics)
from calscope.motion.metrics import MetricsGatherer

RIGID = MotionSettings(nonrigid=False)


@pytest.fixture(scope="module")
def rigid(rigid_movie):
    movie, truth = rigid_movie
    return movie, truth, register(movie, RIGID)


def _centred_error(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Estimate minus truth after removing their common offset (the template sits at some
    position of its own)."""
    error = found - truth
    return error - np.median(error, axis=0)


def test_rigid_shifts_match_the_truth(rigid):
    movie, truth, reg = rigid
    error = _centred_error(reg.shifts, truth)
    rms = np.sqrt(np.mean(error ** 2))
    assert rms < 0.2, rms  # measured 0.03 px RMS, shifts within ±6 px, Poisson noise
    assert np.abs(error).max() < 0.5
    assert reg.shifts.dtype == np.float32 and reg.shifts.shape == (movie.shape[0], 2)
    assert reg.block_shifts is None and reg.block_centers is None
    assert reg.template.shape == movie.shape[1:] and reg.correlation.shape == (movie.shape[0],)
    # the template sits at the median position of the recording
    assert np.all(np.abs(np.median(reg.shifts, axis=0)) < 1.0)


def test_sign_convention_with_a_bright_dot():
    """A dot at template row 50 sits at row 50 + dy in a frame whose shift is dy, and the
    registered frame puts it back at row 50."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:96, :96]
    frames = []
    positions = [(50.0, 40.0)] * 15 + [(55.0, 37.0)] * 5
    for y, x in positions:
        dot = 200 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 2.0 ** 2))
        frames.append(rng.poisson(10 + dot))
    movie = np.array(frames, dtype=np.uint16)
    reg = register(movie, RIGID)
    assert np.allclose(reg.shifts[:15], 0, atol=0.3)  # one dot in noise: ~0.1 px
    assert np.allclose(reg.shifts[15:], [5, -3], atol=0.3)
    registered = apply_registration(movie[15:], reg, 15)
    row, col = np.unravel_index(np.argmax(registered.mean(axis=0)), registered.shape[1:])
    assert (row, col) == (50, 40)


def test_registration_sharpens_the_mean_and_raises_correlation(rigid):
    movie, _, reg = rigid
    metrics = registration_metrics(movie, reg)
    assert metrics.crispness_registered > 1.5 * metrics.crispness_raw  # measured 11.1 vs 4.9
    assert np.mean(metrics.correlation_registered) > np.mean(metrics.correlation_raw) + 0.2
    assert np.mean(metrics.correlation_registered > metrics.correlation_raw) > 0.95
    mask = reg.valid_mask()
    assert metrics.crispness_registered == pytest.approx(crispness(metrics.mean_registered, mask))
    summary = metrics.as_dict()
    assert summary["frames_improved"] > 0.95 and summary["valid_fraction"] == mask.mean()
    assert all(isinstance(value, float) for value in summary.values())


def test_metrics_gathered_while_reading_the_registered_movie_are_the_same(rigid):
    """`calscope register` gathers the metrics while it writes the registered movie, instead
    of reading the movie a third time: the same numbers."""
    movie, _, reg = rigid
    gathered = MetricsGatherer(reg)
    view = RegisteredMovie(movie, reg, on_read=gathered.add)
    view[0:60]
    with pytest.raises(ValueError, match="not counted"):
        gathered.result()
    view[40:150]  # frames 40–59 again: counted once
    assert gathered.complete
    found, expected = gathered.result(), registration_metrics(movie, reg)
    np.testing.assert_allclose(found.mean_registered, expected.mean_registered, rtol=1e-6)
    np.testing.assert_allclose(found.correlation_raw, expected.correlation_raw, rtol=1e-6)
    assert found.as_dict() == pytest.approx(expected.as_dict(), rel=1e-6)


def test_a_bad_frame_has_a_low_correlation(rigid_movie):
    movie, _ = rigid_movie
    movie = movie.copy()
    movie[40] = np.random.default_rng(6).poisson(80, size=movie.shape[1:])
    reg = register(movie, RIGID)
    assert np.argmin(reg.correlation) == 40
    assert reg.correlation[40] < 0.3 * np.median(reg.correlation)


def test_chunks_give_the_same_shifts_and_report_progress(rigid_movie):
    movie = rigid_movie[0][:50]
    calls = []
    small = register(movie, MotionSettings(chunk_frames=7),
                     progress=lambda done, total: calls.append((done, total)))
    whole = register(movie, MotionSettings(chunk_frames=1000))
    assert calls == [(min(i + 7, 50), 50) for i in range(0, 50, 7)]
    np.testing.assert_allclose(small.shifts, whole.shifts, atol=1e-4)
    np.testing.assert_allclose(small.block_shifts, whole.block_shifts, atol=1e-4)


def test_hdf5_and_memmap_inputs(rigid_movie, tmp_path):
    """Lazy inputs (HDF5, memmap of uint16 counts, zarr) are read in chunks and give the
    ndarray's result."""
    movie = rigid_movie[0][:40]
    expected = register(movie, RIGID)
    with h5py.File(tmp_path / "movie.h5", "w") as fh:
        fh.create_dataset("mov", data=movie, chunks=(1, *movie.shape[1:]))
    with h5py.File(tmp_path / "movie.h5", "r") as fh:
        from_h5 = register(fh["mov"], MotionSettings(nonrigid=False, chunk_frames=16))
    np.save(tmp_path / "movie.npy", movie.astype(np.uint16))
    mapped = np.load(tmp_path / "movie.npy", mmap_mode="r")
    from_memmap = register(mapped, MotionSettings(nonrigid=False, chunk_frames=16))
    store = zarr.create_array(store=zarr.storage.MemoryStore(), shape=movie.shape,
                              chunks=(8, *movie.shape[1:]), dtype="float32")
    store[:] = movie
    from_zarr = register(store, MotionSettings(nonrigid=False, chunk_frames=16))
    for found in (from_h5, from_memmap, from_zarr):
        np.testing.assert_allclose(found.shifts, expected.shifts, atol=1e-4)


def test_registered_movie_equals_apply_registration(rigid, tilted_movie):
    movie, _, reg = rigid
    view = RegisteredMovie(movie, reg)
    assert view.shape == movie.shape and view.dtype == np.float32 and len(view) == len(movie)
    np.testing.assert_array_equal(view[3:11], apply_registration(movie[3:11], reg, 3))
    np.testing.assert_array_equal(view[5], apply_registration(movie[5:6], reg, 5)[0])
    np.testing.assert_array_equal(view[-1], apply_registration(movie[-1:], reg, len(movie) - 1)[0])
    np.testing.assert_array_equal(view[20:2:-6], np.stack([view[20], view[14], view[8]]))
    np.testing.assert_array_equal(view[3:5, 10:20, 7], view[3:5][:, 10:20, 7])
    tilted = tilted_movie[0][:12]
    nonrigid = register(tilted, MotionSettings(block_size=64))
    np.testing.assert_array_equal(RegisteredMovie(tilted, nonrigid)[2:9],
                                  apply_registration(tilted[2:9], nonrigid, 2))


def test_displacement_and_valid_mask(rigid):
    movie, _, reg = rigid
    field = reg.displacement(slice(0, 4))
    assert field.shape == (4, 2, *movie.shape[1:]) and field.dtype == np.float32
    np.testing.assert_array_equal(field[:, :, 7, 9], reg.shifts[:4])
    mask = reg.valid_mask()
    rows = np.flatnonzero(mask.any(axis=1))
    # rows y whose source y + dy stays inside the frame in every frame
    assert rows[0] == int(np.ceil(-reg.shifts[:, 0].min() - 1e-3))
    assert rows[-1] == movie.shape[1] - 1 - int(np.ceil(reg.shifts[:, 0].max() - 1e-3))


def test_a_blank_movie_has_no_motion():
    reg = register(np.zeros((5, 32, 32), dtype=np.uint16))
    assert not reg.shifts.any() and not reg.block_shifts.any() and not reg.correlation.any()

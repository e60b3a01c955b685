"""Simulated movies: shapes, determinism, the motion sign convention, the noise model, cell
signals, the non-rigid field and validation."""

import numpy as np
import pytest
from scipy.fft import fft2, ifft2
from scipy.ndimage import map_coordinates

from calscope.errors import InputError
from calscope.simulate import SimulatedMovie, get_indicator, movie

SMALL = dict(n_cells=12, n_frames=120, shape=(64, 72), cell_radius_px=4.0)


def expected_scene(sim: SimulatedMovie) -> np.ndarray:
    """(T, Y, X) noise-free, motion-free scene rebuilt from the ground truth fields."""
    T, Y, X = sim.movie.shape
    cells = sim.footprints @ (sim.f0[:, None] * (1.0 + sim.calcium))
    neuropil = np.tensordot(sim.neuropil_traces.T, sim.neuropil_images, axes=1)
    calcium = sim.out_of_focus_calcium
    blurred = sim.out_of_focus_images @ (calcium - calcium.mean(axis=1, keepdims=True))
    return (cells + blurred).T.reshape(T, Y, X) + neuropil + sim.background


def weighted_traces(sim: SimulatedMovie, frames: np.ndarray) -> np.ndarray:
    """(cells, T) footprint-weighted average of ``frames`` (T, Y, X) under each footprint."""
    a = sim.footprints
    return (a.T @ frames.reshape(frames.shape[0], -1).T) / np.asarray(a.sum(axis=0)).T


def test_shapes_dtypes_and_sparse_footprints():
    sim = movie(**SMALL, seed=1)
    T, (Y, X), n = 120, (64, 72), 12
    assert isinstance(sim, SimulatedMovie) and sim.fs == 30.0 and sim.indicator == "GCaMP6f"
    assert sim.movie.shape == (T, Y, X) and sim.movie.dtype == np.float32
    assert sim.calcium.shape == sim.spikes.shape == (n, T)
    assert sim.background.shape == (Y, X) and sim.shifts.shape == (T, 2)
    assert sim.f0.shape == (n,) and sim.centers.shape == (n, 2)
    for field in ("movie", "calcium", "spikes", "background", "shifts", "f0", "centers",
                  "neuropil_images", "neuropil_traces", "nonrigid_amplitudes"):
        assert getattr(sim, field).dtype == np.float32, field
    a = sim.footprints
    assert a.format == "csc" and a.shape == (Y * X, n) and a.dtype == np.float32
    assert a.min() >= 0 and np.all(a.max(axis=0).toarray() == 1.0)
    per_cell = np.diff(a.indptr)
    assert np.all((per_cell > 20) & (per_cell < 0.05 * Y * X))
    # each footprint peaks at its cell's centre (C order: row = y * X + x)
    peaks = np.asarray(a.argmax(axis=0)).ravel()
    np.testing.assert_allclose(np.column_stack(np.divmod(peaks, X)), sim.centers, atol=1.0)
    centre_bg = sim.background[tuple(np.round(sim.centers).astype(int).T)]
    assert np.all(sim.f0 > centre_bg)  # cells are brighter than their surroundings
    assert sim.movie.mean() > 0 and (sim.movie < 0).mean() < 0.001


def test_same_seed_same_movie_other_seed_differs():
    a, b = movie(**SMALL, seed=5), movie(**SMALL, seed=5)
    for field in ("movie", "calcium", "spikes", "background", "shifts", "f0"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert (a.footprints != b.footprints).nnz == 0
    c = movie(**SMALL, seed=np.random.default_rng(5))
    d = movie(**SMALL, seed=np.random.default_rng(5))
    np.testing.assert_array_equal(c.movie, d.movie)
    other = movie(**SMALL, seed=6)
    assert not np.array_equal(a.movie, other.movie)
    assert not np.array_equal(a.centers, other.centers)


def test_motion_changes_only_the_motion():
    still = movie(**SMALL, motion_px=0.0, seed=2)
    moving = movie(**SMALL, motion_px=6.0, nonrigid_px=2.0, seed=2)
    for field in ("background", "calcium", "f0", "neuropil_images", "neuropil_traces"):
        np.testing.assert_array_equal(getattr(still, field), getattr(moving, field))
    assert (still.footprints != moving.footprints).nnz == 0
    assert still.brightness == moving.brightness


@pytest.mark.parametrize(("motion_px", "nonrigid_px"), [(4.0, 0.0), (0.0, 2.5), (2.0, 1.5)])
def test_a_bright_cell_moves_by_plus_the_displacement(motion_px, nonrigid_px):
    sim = movie(1, 60, (48, 48), cell_radius_px=3.0, contrast=50.0, brightness=200.0,
                motion_px=motion_px, nonrigid_px=nonrigid_px, seed=3)
    centre = sim.centers[0].astype(np.float64)
    ys, xs = np.mgrid[:48, :48]
    moved = []
    for frame, field in zip(sim.movie, sim.displacement()):
        # the field is sampled at frame pixels: the cell shows at the p where p = centre + d(p)
        p = centre.copy()
        for _ in range(10):
            p = centre + [map_coordinates(d, p[:, None], order=1)[0] for d in field]
        bright = np.maximum(frame - 0.2 * frame.max(), 0.0)
        found = np.array([(bright * ys).sum(), (bright * xs).sum()]) / bright.sum()
        np.testing.assert_allclose(found, p, atol=0.1)
        moved.append(p - centre)
    assert np.abs(moved).max() > 1.5  # large enough to tell the sign apart


def test_cross_correlation_with_the_still_twin_peaks_at_the_shift():
    still = movie(**SMALL, motion_px=0.0, seed=4)
    moving = movie(**SMALL, motion_px=5.0, seed=4)
    size = np.array(still.background.shape)
    peaks = []
    for t in range(0, 120, 4):
        frame, reference = moving.movie[t], still.movie[t]
        surface = np.real(ifft2(fft2(frame - frame.mean())
                                * np.conj(fft2(reference - reference.mean()))))
        peak = np.array(np.unravel_index(np.argmax(surface), surface.shape))
        peaks.append((peak + size // 2) % size - size // 2)  # signed lag (dy, dx)
    error = np.array(peaks) - moving.shifts[::4]
    assert np.abs(error).max() < 0.75 and np.abs(error).mean() < 0.3  # integer peak: ≤ 0.5
    assert np.abs(moving.shifts[::4]).max() > 3.0  # a sign error would show


def test_motion_amplitude_and_smoothness():
    sim = movie(**SMALL, motion_px=2.5, seed=7)
    assert np.abs(sim.shifts).max() == pytest.approx(2.5, rel=1e-6)
    assert np.abs(sim.shifts).min(axis=0).max() < 1.0  # it moves around zero
    step = np.diff(sim.shifts, axis=0)
    assert np.abs(step).mean() < 0.1 * 2.5  # slow drift plus small jitter, not white noise
    np.testing.assert_array_equal(sim.displacement(), np.broadcast_to(
        sim.shifts[:, :, None, None], (120, 2, 64, 72)))  # rigid: same shift everywhere
    assert not np.any(sim.nonrigid_amplitudes)
    still = movie(**SMALL, motion_px=0.0, seed=7)
    assert not np.any(still.shifts) and not np.any(still.displacement())


def test_nonrigid_field_varies_across_the_field_of_view():
    sim = movie(**SMALL, motion_px=1.0, nonrigid_px=2.0, seed=8)
    field = sim.displacement()
    assert field.shape == (120, 2, 64, 72) and field.dtype == np.float32
    nonrigid = field - sim.shifts[:, :, None, None]
    assert np.abs(nonrigid).max() == pytest.approx(2.0, rel=0.05)
    spread = field.max(axis=(2, 3)) - field.min(axis=(2, 3))  # (T, 2) range over pixels
    assert spread.mean() > 1.0
    np.testing.assert_array_equal(sim.displacement(7), field[7:8])
    np.testing.assert_array_equal(sim.displacement(slice(3, 6)), field[3:6])
    np.testing.assert_array_equal(sim.displacement([0, 119]), field[[0, 119]])
    with pytest.raises(InputError, match="frames"):
        sim.displacement(120)


def test_still_movie_is_the_scene_plus_shot_and_read_noise():
    sim = movie(**SMALL, motion_px=0.0, neuropil=0.2, read_noise=2.0, seed=9)
    scene = expected_scene(sim)
    z = (sim.movie - scene) / np.sqrt(scene + 2.0**2)
    assert abs(z.mean()) < 0.01 and z.std() == pytest.approx(1.0, abs=0.02)
    # the mean over time is the background plus each cell's mean brightness
    T = sim.movie.shape[0]
    mean_cells = sim.footprints @ (sim.f0 * (1.0 + sim.calcium).mean(axis=1))
    predicted = sim.background + mean_cells.reshape(sim.background.shape)
    z_mean = (sim.movie.mean(axis=0) - predicted) / np.sqrt((scene.mean(axis=0) + 4.0) / T)
    assert abs(z_mean.mean()) < 0.05 and z_mean.std() == pytest.approx(1.0, abs=0.05)
    assert np.abs(z_mean).max() < 5.0


def test_out_of_focus_light_is_blurred_active_cells_in_the_background():
    plain = movie(**SMALL, motion_px=0.0, seed=9)
    sim = movie(**SMALL, motion_px=0.0, out_of_focus=1.0, seed=9)
    assert plain.out_of_focus_images.shape == (64 * 72, 0)
    images, calcium = sim.out_of_focus_images, sim.out_of_focus_calcium
    assert images.shape[1] == calcium.shape[0] > 20 and calcium.shape[1] == 120
    assert calcium.max() > 0.1  # active, like the cells
    # the cells and their activity are those of the movie without it
    np.testing.assert_array_equal(sim.calcium, plain.calcium)
    np.testing.assert_array_equal(sim.footprints.toarray(), plain.footprints.toarray())
    # resting at about the background's level at their peaks: the background about doubles
    assert 1.5 < sim.background.mean() / plain.background.mean() < 3.5
    scene = expected_scene(sim)
    z = (sim.movie - scene) / np.sqrt(scene + 1.0)
    assert abs(z.mean()) < 0.01 and z.std() == pytest.approx(1.0, abs=0.02)


def test_snr_sets_the_noise_of_the_cell_traces():
    sim = movie(**SMALL, motion_px=0.0, snr=4.0, seed=10)
    noise = weighted_traces(sim, sim.movie - expected_scene(sim)).std(axis=1)
    a = sim.footprints
    signal = (get_indicator("GCaMP6f").amplitude * sim.f0
              * np.asarray(a.multiply(a).sum(axis=0)).ravel() / np.asarray(a.sum(axis=0)).ravel())
    assert np.median(signal / noise) == pytest.approx(4.0, rel=0.1)
    brighter = movie(**SMALL, motion_px=0.0, snr=4.0, brightness=2 * sim.brightness, seed=10)
    assert brighter.brightness == 2 * sim.brightness
    np.testing.assert_allclose(brighter.background, 2 * sim.background, rtol=1e-6)


def test_cell_traces_follow_their_calcium():
    # without neuropil, whose slow fluctuations mask the few transients of quiet cells
    sim = movie(20, 600, (80, 80), cell_radius_px=4.0, rate_hz=1.0, snr=8.0, neuropil=0.0,
                motion_px=0.0, seed=0)
    traces = weighted_traces(sim, sim.movie)
    r = np.array([np.corrcoef(trace, calcium)[0, 1]
                  for trace, calcium in zip(traces, sim.calcium)])
    assert np.mean(r > 0.8) >= 0.85 and np.median(r) > 0.9, np.round(r, 2)


def test_single_frame_movie():
    sim = movie(3, 1, (32, 32), cell_radius_px=3.0, nonrigid_px=1.0, seed=0)
    assert sim.movie.shape == (1, 32, 32) and np.isfinite(sim.movie).all()
    assert np.abs(sim.shifts).max() == pytest.approx(3.0)  # one frame: jitter only


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_cells": 0}, "n_cells"), ({"n_frames": 2.5}, "n_frames"), ({"fs": 0.0}, "fs"),
    ({"shape": (64,)}, "shape"), ({"shape": (8, 64)}, "shape"), ({"shape": (64.0, 64)}, "shape"),
    ({"indicator": "GCaMP99"}, "indicator"), ({"rate_hz": -1.0}, "rate_hz"),
    ({"cell_radius_px": 0.5}, "cell_radius_px"), ({"snr": 0.0}, "snr"),
    ({"motion_px": -1.0}, "motion_px"), ({"nonrigid_px": float("nan")}, "nonrigid_px"),
    ({"brightness": 0.0}, "brightness"), ({"contrast": 0.0}, "contrast"),
    ({"neuropil": -0.1}, "neuropil"), ({"read_noise": float("inf")}, "read_noise"),
    ({"out_of_focus": -1.0}, "out_of_focus"),
    ({"n_cells": 400}, "do not fit"),
    ({"seed": "abc"}, "seed"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(InputError, match=match):
        movie(**{"n_frames": 10, "shape": (64, 64), **kwargs})

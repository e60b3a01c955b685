"""Piecewise-rigid registration of a movie whose motion varies across the field of view."""

import numpy as np
import pytest

from calscope.config import MotionSettings
from calscope.motion import register, registration_metrics
from calscope.motion.blocks import block_grid, interpolation_weights, regularise

NONRIGID = MotionSettings(block_size=64, max_block_shift=4)


@pytest.fixture(scope="module")
def both(tilted_movie):
    movie = tilted_movie[0]
    return register(movie, NONRIGID), register(movie, NONRIGID.model_copy(update={
        "nonrigid": False}))


def _field_error(found: np.ndarray, rigid: np.ndarray, tilt: np.ndarray,
                 centers: tuple[np.ndarray, np.ndarray]) -> float:
    """RMS (pixels) of (T, nby, nbx, 2) displacements at the block centres against the truth,
    after removing their common offset."""
    cy, cx = centers
    truth_y = rigid[:, 0, None, None] + tilt[:, None, None] * (cx / 127 - 0.5) + 0 * cy[:, None]
    truth_x = rigid[:, 1, None, None] + np.zeros((1, cy.size, cx.size))
    error = found - np.stack([truth_y, truth_x], axis=-1)
    return float(np.sqrt(np.mean((error - np.median(error, axis=(0, 1, 2))) ** 2)))


def test_block_field_is_recovered_better_than_rigid(both, tilted_movie):
    _, rigid, tilt = tilted_movie
    nonrigid, rigid_only = both
    assert nonrigid.block_shifts.shape == (60, 3, 3, 2)
    centers = nonrigid.block_centers
    with_blocks = _field_error(nonrigid.shifts[:, None, None] + nonrigid.block_shifts, rigid,
                               tilt, centers)
    rigid_alone = _field_error(np.broadcast_to(rigid_only.shifts[:, None, None],
                                               nonrigid.block_shifts.shape), rigid, tilt, centers)
    assert with_blocks < 0.15, with_blocks  # measured 0.09 px
    assert with_blocks < 0.5 * rigid_alone, (with_blocks, rigid_alone)  # rigid: 0.25 px
    # the recovered tilt: dy of the right column minus the left, against the truth's
    span = (centers[1][-1] - centers[1][0]) / 127
    found_tilt = (nonrigid.block_shifts[:, :, -1, 0] - nonrigid.block_shifts[:, :, 0, 0]).mean(1)
    assert np.corrcoef(found_tilt, tilt * span)[0, 1] > 0.95


def test_nonrigid_registration_matches_the_template_better(both, tilted_movie):
    movie = tilted_movie[0]
    nonrigid, rigid_only = both
    better = registration_metrics(movie, nonrigid).correlation_registered
    worse = registration_metrics(movie, rigid_only).correlation_registered
    assert np.mean(better) > np.mean(worse)
    assert np.mean(better > worse) > 0.8
    field = nonrigid.displacement([0, 5])
    assert field.shape == (2, 2, 128, 128)
    # dy of frame 5 changes across x as its tilt says (up to the template's own tilt)
    assert np.sign(field[1, 0, 64, -1] - field[1, 0, 64, 0]) == np.sign(tilted_movie[2][5])


def test_grid_covers_the_frame_and_small_frames_are_one_block():
    grid = block_grid(512, 512, 128, 0.5)
    assert grid.shape == (7, 7) and grid.starts[0][-1] + 128 == 512
    np.testing.assert_allclose(grid.centers[0], 63.5 + 64 * np.arange(7))
    assert block_grid(40, 100, 128, 0.5).shape == (1, 1)


def test_interpolation_passes_through_the_centres_and_is_flat_beyond():
    weights = interpolation_weights(np.array([10.0, 30.0, 50.0]), 64)
    values = weights @ np.array([1.0, 3.0, 2.0])
    np.testing.assert_allclose(values[[10, 30, 50]], [1, 3, 2], atol=1e-5)
    np.testing.assert_allclose(values[:10], 1, atol=1e-6)
    np.testing.assert_allclose(values[51:], 2, atol=1e-6)


def test_outlier_and_weak_blocks_take_their_neighbours_shift():
    residual = np.zeros((1, 3, 3, 2))
    residual[0, :, :, 0] = [[0.0, 0.1, 0.2], [0.0, 4.0, 0.2], [0.0, 0.1, 0.2]]  # centre: outlier
    residual[0, 0, 0, 1] = 3.0  # corner: weak
    peaks = np.full((1, 3, 3), 0.8)
    peaks[0, 0, 0] = 0.1
    cleaned = regularise(residual, peaks)
    assert abs(cleaned[0, 1, 1, 0] - 0.1) < 0.05
    assert abs(cleaned[0, 0, 0, 1]) < 0.05
    np.testing.assert_allclose(cleaned[0, 2, 2], residual[0, 2, 2])

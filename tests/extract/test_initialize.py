"""Initialization: seeding cells, and seeding none in noise."""

from __future__ import annotations

import numpy as np
import pytest

from calscope import simulate
from calscope.config import CnmfSettings
from calscope.extract.factorize import init_bin_frames
from calscope.extract.initialize import initialize
from calscope.extract.summary import summary_images


@pytest.mark.parametrize("bin_frames", [1, 3])
def test_seeds_land_on_cells(bin_frames):
    sim = simulate.movie(10, 500, (64, 64), motion_px=0, seed=2)
    data = sim.movie.reshape(len(sim.movie), -1).T.copy()
    init = initialize(data, (64, 64), summary_images(sim.movie).noise, cell_radius_px=6.0,
                      min_energy_z=10.0, max_cells=50, n_background=2, chunk_frames=200,
                      bin_frames=bin_frames)
    assert init.traces.shape == (init.footprints.shape[1], 500)  # every frame, binned or not
    distance = np.linalg.norm(init.centers[:, None] - sim.centers[None], axis=-1)
    assert np.all(distance.min(axis=1) < 3.0)        # every seed is on a cell
    assert np.mean(distance.min(axis=0) < 3.0) >= 0.8  # most cells are seeded
    assert (init.footprints >= 0).all() and (init.traces >= 0).all()
    assert (init.background_footprints >= 0).all() and (init.background_traces >= 0).all()


def test_interpolated_noise_seeds_no_cells():
    """Noise made spatially correlated (as registration's interpolation does) is still noise:
    the filtered movie's noise is measured, not only derived from independent pixels."""
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((600, 48, 48)).astype(np.float32) + 100
    smeared = 0.5 * (noise + np.roll(noise, 1, axis=2))  # a half-pixel shift, bilinear
    data = smeared.reshape(600, -1).T.copy()
    for bin_frames in (1, 4):  # averaged frames: the noise is σ / √k, and still noise
        init = initialize(data, (48, 48), summary_images(smeared).noise, cell_radius_px=5.0,
                          min_energy_z=10.0, max_cells=50, n_background=1, chunk_frames=200,
                          bin_frames=bin_frames)
        assert init.footprints.shape[1] == 0


def test_frames_binned_for_the_initialization():
    settings = CnmfSettings()  # init_rate_hz 10
    assert init_bin_frames(30.0, 3000, settings) == 3
    assert init_bin_frames(7.5, 3000, settings) == 1  # already slow: every frame
    assert init_bin_frames(30.0, 120, settings) == 2  # at least 50 frames kept
    assert init_bin_frames(30.0, 3000, CnmfSettings(init_rate_hz=30.0)) == 1

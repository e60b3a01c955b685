"""Initialization: seeding cells, and seeding none in noise."""

from __future__ import annotations

import numpy as np

from calscope import simulate
from calscope.extract.initialize import initialize
from calscope.extract.summary import summary_images


def test_seeds_land_on_cells():
    sim = simulate.movie(10, 500, (64, 64), motion_px=0, seed=2)
    data = sim.movie.reshape(len(sim.movie), -1).T.copy()
    init = initialize(data, (64, 64), summary_images(sim.movie).noise, cell_radius_px=6.0,
                      min_energy_z=10.0, max_cells=50, n_background=2, chunk_frames=200)
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
    init = initialize(data, (48, 48), summary_images(smeared).noise, cell_radius_px=5.0,
                      min_energy_z=10.0, max_cells=50, n_background=1, chunk_frames=200)
    assert init.footprints.shape[1] == 0

"""Summary images: a direct reference for the correlation image, and the simulated truth."""

from __future__ import annotations

import numpy as np
import pytest

from calscope import simulate
from calscope.errors import InputError
from calscope.extract import summary_images


def _reference_correlation(movie: np.ndarray) -> np.ndarray:
    """Mean Pearson correlation with the in-frame 8 neighbours, pixel by pixel."""
    _, height, width = movie.shape
    out = np.zeros((height, width))
    for y in range(height):
        for x in range(width):
            values = [np.corrcoef(movie[:, y, x], movie[:, y + dy, x + dx])[0, 1]
                      for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                      if (dy or dx) and 0 <= y + dy < height and 0 <= x + dx < width]
            out[y, x] = np.mean(values)
    return out


def test_statistics_match_direct_computation_for_any_chunking():
    rng = np.random.default_rng(0)
    shared = rng.standard_normal((120, 1, 1))
    movie = (rng.standard_normal((120, 9, 11)) + shared * np.linspace(0, 2, 11)
             + 50).astype(np.float32)
    one = summary_images(movie, chunk_frames=500)
    np.testing.assert_allclose(one.correlation, _reference_correlation(movie), atol=1e-5)
    np.testing.assert_allclose(one.mean, movie.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(one.std, movie.std(axis=0), rtol=1e-4)
    np.testing.assert_array_equal(one.max, movie.max(axis=0))
    chunked = summary_images(movie, chunk_frames=64)
    np.testing.assert_allclose(chunked.correlation, one.correlation, atol=1e-5)


def test_correlation_high_on_cells_and_noise_map_matches_simulation():
    sim = simulate.movie(12, 400, (64, 64), motion_px=0, snr=8.0, seed=3)
    images = summary_images(sim.movie)
    peak = sim.footprints.max(axis=1).toarray().ravel().reshape(64, 64)
    on_cells = np.median(images.correlation[peak > 0.5])
    off_cells = np.median(images.correlation[peak == 0])
    assert on_cells > 3 * off_cells and on_cells > 0.1
    # Poisson shot noise (variance = expected photons) plus unit Gaussian read noise
    expected = np.sqrt(sim.background + 1.0)
    ratio = images.noise[peak == 0] / expected[peak == 0]
    assert abs(np.median(ratio) - 1) < 0.05


@pytest.mark.parametrize("movie, match", [
    (np.zeros((100, 20), dtype=np.float32), "3-D"),
    (np.zeros((10, 20, 20), dtype=np.float32), "frames"),
])
def test_bad_movies(movie, match):
    with pytest.raises(InputError, match=match):
        summary_images(movie)

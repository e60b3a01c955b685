"""The difference-of-Gaussians filter against scipy.ndimage's Gaussian filters, its local
form against the whole frame, and its noise formula against a Monte Carlo reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from calscope.extract.dog import SURROUND, TRUNCATE, DogFilter


def reference(image: np.ndarray, sigma: float) -> np.ndarray:
    sigmas = (sigma, sigma) + (0.0,) * (image.ndim - 2)
    wide = tuple(SURROUND * s for s in sigmas)
    return (ndimage.gaussian_filter(image, sigmas, truncate=TRUNCATE)
            - ndimage.gaussian_filter(image, wide, truncate=TRUNCATE))


@pytest.mark.parametrize("shape", [(40, 33), (7, 50)])
def test_apply_matches_ndimage(shape):
    rng = np.random.default_rng(0)
    block = rng.standard_normal(shape + (6,))
    dog = DogFilter(shape, 2.0)
    np.testing.assert_allclose(dog.apply(block), reference(block, 2.0), atol=1e-5)
    np.testing.assert_allclose(dog.apply(block[:, :, 0]), reference(block[:, :, 0], 2.0),
                               atol=1e-5)


@pytest.mark.parametrize("rows, cols", [(slice(20, 29), slice(15, 22)),   # inside
                                        (slice(0, 6), slice(40, 48)),      # at two edges
                                        (slice(0, 48), slice(0, 48))])     # everything
def test_region_is_the_whole_frame_filter(rows, cols):
    rng = np.random.default_rng(1)
    frame = np.zeros((48, 48))
    frame[rows, cols] = rng.uniform(0.0, 1.0, (rows.stop - rows.start, cols.stop - cols.start))
    dog = DogFilter((48, 48), 1.5)
    whole = reference(frame, 1.5)
    values, out_rows, out_cols = dog.apply_region(frame[rows, cols], rows, cols)
    np.testing.assert_allclose(values, whole[out_rows, out_cols], atol=1e-12)
    outside = np.ones_like(frame, dtype=bool)
    outside[out_rows, out_cols] = False
    assert np.abs(whole[outside]).max(initial=0.0) < 1e-12


def test_noise_matches_monte_carlo():
    rng = np.random.default_rng(0)
    sigma_map = np.linspace(1.0, 3.0, 24)[:, None] * np.ones((24, 20))
    noise = rng.standard_normal((24, 20, 4000)) * sigma_map[:, :, None]
    empirical = reference(noise, 1.5).std(axis=-1)
    np.testing.assert_allclose(DogFilter((24, 20), 1.5).noise(sigma_map), empirical, rtol=0.05)


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="shape"):
        DogFilter((10, 10), 1.0).apply(np.zeros((10, 11)))

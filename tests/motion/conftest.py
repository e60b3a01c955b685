"""Synthetic movies with known motion for the motion-correction tests (made here, independent of
calscope.simulate): a textured image whose content is moved by known subpixel displacements."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage

MARGIN = 16  # pixels of texture beyond each edge of the frame, so moved content is real


def texture(side: int, rng: np.random.Generator) -> np.ndarray:
    """(side + 2·MARGIN)² float64 image: smooth random texture plus bright round blobs
    ("cells"), values about 20–200 (photons)."""
    n = side + 2 * MARGIN
    image = scipy.ndimage.gaussian_filter(rng.normal(size=(n, n)), 2.0)
    image = 60 + 25 * image / image.std()
    yy, xx = np.mgrid[:n, :n]
    for y, x in rng.uniform(0, n, size=(side // 4, 2)):
        image += 120 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 2.5 ** 2))
    return np.clip(image, 1, None)


def render(image: np.ndarray, dy: np.ndarray, dx: np.ndarray, side: int) -> np.ndarray:
    """(T, side, side) frames whose content is the image's moved by (dy, dx) pixels:
    ``frame_t(y, x) = image(y - dy, x - dx)``; dy, dx are (T,) or (T, side, side)."""
    grid = np.indices((side, side), dtype=np.float64) + MARGIN
    frames = np.empty((len(dy), side, side))
    for t, (fy, fx) in enumerate(zip(dy, dx)):
        coords = np.stack([grid[0] - fy, grid[1] - fx])
        frames[t] = scipy.ndimage.map_coordinates(image, coords, order=3, mode="nearest")
    return frames


def noisy(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson (shot) noise on frames in photons, as float32."""
    return rng.poisson(np.clip(frames, 0, None)).astype(np.float32)


@pytest.fixture(scope="session")
def rigid_movie() -> tuple[np.ndarray, np.ndarray]:
    """(150, 128, 128) float32 noisy movie and its (150, 2) true shifts, within ±6 px: a slow
    drift plus jitter."""
    rng = np.random.default_rng(1)
    t = 150
    drift = np.cumsum(rng.normal(0, 0.6, size=(t, 2)), axis=0)
    shifts = np.clip(drift - drift.mean(axis=0) + rng.normal(0, 1.0, size=(t, 2)), -6, 6)
    image = texture(128, rng)
    return noisy(render(image, shifts[:, 0], shifts[:, 1], 128), rng), shifts


@pytest.fixture(scope="session")
def tilted_movie() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(60, 128, 128) float32 noisy movie with a rigid shift (±3 px) plus a non-rigid field:
    dy grows linearly across x, by a total drawn per frame within ±3 px (the template, an
    average, is about untilted). Returns the movie, the (60, 2) rigid shifts and the (60,)
    tilts: ``dy(x) = rigid_dy + tilt · (x / 127 - 0.5)``, ``dx = rigid_dx``."""
    rng = np.random.default_rng(2)
    t, side = 60, 128
    rigid = rng.uniform(-3, 3, size=(t, 2))
    tilt = rng.uniform(-3, 3, size=t)
    x = np.arange(side) / (side - 1) - 0.5
    dy = rigid[:, :1, None] + tilt[:, None, None] * x[None, None, :] + np.zeros((1, side, 1))
    dx = rigid[:, 1, None, None] + np.zeros((1, side, side))
    image = texture(side, rng)
    return noisy(render(image, dy, dx, side), rng), rigid, tilt

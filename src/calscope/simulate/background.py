"""What a simulated movie shows besides its cells, on the canvas (the field of view padded by
``pad`` pixels on each side, room for the motion): the resting background image, the smooth
neuropil fluctuations and, for a one-photon movie, the out-of-focus light of blurred cells.
Each draws from the random stream it is given, and none of them inside the field of view
depends on ``pad`` (`calscope.simulate.movies` relies on it to compare a moving movie with its
still twin).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from calscope.simulate.traces import traces

TEXTURE, VIGNETTING = ((1.5, 0.25), (8.0, 0.35)), 0.3
"""(Gaussian σ in pixels, relative amplitude) of the background's smooth noise textures, and the
fraction by which it dims from the centre to the corners of the field of view."""

NEUROPIL_COMPONENTS, NEUROPIL_SCALE_PX, NEUROPIL_TIME_S = 2, 20.0, 1.0
"""Number of neuropil components, their spatial smoothness (σ, pixels) and time scale (σ, s)."""

def resting_image(shape: tuple[int, int], pad: int, rng: np.random.Generator) -> np.ndarray:
    """(Y + 2 pad, X + 2 pad) textured, vignetted resting image with mean 1 over the field of
    view; its values inside the field of view do not depend on ``pad``."""
    texture = sum(amplitude * smooth_field(shape, pad, sigma, rng)
                  for sigma, amplitude in TEXTURE)
    y, x = np.ogrid[-pad:shape[0] + pad, -pad:shape[1] + pad]
    centre = (np.array(shape) - 1) / 2
    r2 = ((y - centre[0]) ** 2 + (x - centre[1]) ** 2) / (centre ** 2).sum()
    image = np.maximum(1 - VIGNETTING * r2, 0.3) * np.maximum(1 + texture, 0.2)
    return image / image[pad:pad + shape[0], pad:pad + shape[1]].mean()


def out_of_focus_cells(shape: tuple[int, int], pad: int, cell_radius_px: float,
                       n_frames: int, fs: float, indicator: str, rate_hz: float,
                       rng: np.random.Generator, wanted: bool
                       ) -> tuple[scipy.sparse.csc_matrix, np.ndarray]:
    """(canvas pixels, J) CSC images, peak 1 and cut at 3 σ, of J blurred cells (σ = 2 ·
    ``cell_radius_px``) spread over the field of view and a margin of 3 σ (not the padding,
    so the field of view does not depend on it), and their (J, T) float32 calcium (ΔF/F);
    J = 0 when not ``wanted``."""
    height, width = shape[0] + 2 * pad, shape[1] + 2 * pad
    if not wanted:
        return (scipy.sparse.csc_matrix((height * width, 0)),
                np.zeros((0, n_frames), dtype=np.float32))
    sigma = 2.0 * cell_radius_px
    margin = 3.0 * sigma
    count = max(1, round((shape[0] + 2 * margin) * (shape[1] + 2 * margin)
                         / (4.0 * cell_radius_px) ** 2))
    place_rng, activity_rng = rng.spawn(2)
    centres = pad + place_rng.uniform((-margin, -margin), (shape[0] + margin, shape[1] + margin),
                                      size=(count, 2))
    reach = math.ceil(margin)
    rows, cols, values = [], [], []
    for j, (y, x) in enumerate(centres):
        ys = np.arange(max(0, math.floor(y) - reach), min(height, math.ceil(y) + reach + 1))
        xs = np.arange(max(0, math.floor(x) - reach), min(width, math.ceil(x) + reach + 1))
        blob = np.exp(-((ys[:, None] - y) ** 2 + (xs[None, :] - x) ** 2) / (2 * sigma ** 2))
        inside = blob >= np.exp(-4.5)  # 3 σ
        rows.append((ys[:, None] * width + xs[None, :])[inside])
        values.append(blob[inside])
        cols.append(np.full(int(inside.sum()), j))
    images = scipy.sparse.csc_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=(height * width, count))
    activity = traces(count, n_frames, fs, indicator=indicator, rate_hz=rate_hz,
                      seed=activity_rng)
    return images, activity.calcium.astype(np.float32)


def neuropil_components(shape: tuple[int, int], pad: int, n_frames: int, fs: float,
                        amplitude: float, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Canvas weights (K, Y + 2 pad, X + 2 pad) in [0, 1] of K smooth neuropil components, and
    their slow (K, T) float32 time courses, mean 0 and standard deviation ``amplitude``."""
    weights = np.stack([smooth_field(shape, pad, NEUROPIL_SCALE_PX, rng)
                        for _ in range(NEUROPIL_COMPONENTS)])
    slow = gaussian_filter1d(rng.standard_normal((NEUROPIL_COMPONENTS, n_frames)),
                             NEUROPIL_TIME_S * fs, axis=1)
    slow -= slow.mean(axis=1, keepdims=True)
    slow *= amplitude / np.maximum(slow.std(axis=1, keepdims=True), 1e-12)  # T = 1: all 0
    return np.clip(0.5 + 0.25 * weights, 0.0, 1.0), slow.astype(np.float32)


def smooth_field(shape: tuple[int, int], pad: int, sigma: float,
                 rng: np.random.Generator) -> np.ndarray:
    """(Y + 2 pad, X + 2 pad) Gaussian-filtered white noise, standardized over the field of
    view. The noise within the filter's reach of the field of view has its own random stream,
    so the field inside the field of view is the same whatever ``pad``."""
    reach = math.ceil(4 * sigma)  # gaussian_filter's default truncation
    outer = max(pad, reach)
    core_rng, outer_rng = rng.spawn(2)  # spawning draws nothing from rng
    core = core_rng.standard_normal((shape[0] + 2 * reach, shape[1] + 2 * reach))
    noise = outer_rng.standard_normal((shape[0] + 2 * outer, shape[1] + 2 * outer))
    noise[outer - reach:outer + shape[0] + reach, outer - reach:outer + shape[1] + reach] = core
    field = gaussian_filter(noise, sigma)
    field = field[outer - pad:outer + shape[0] + pad, outer - pad:outer + shape[1] + pad]
    inside = field[pad:pad + shape[0], pad:pad + shape[1]]
    return (field - inside.mean()) / inside.std()

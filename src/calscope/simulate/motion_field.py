"""The motion of a simulated movie (`calscope.simulate.movie`): a rigid random walk, an
optional smooth non-rigid field of slowly varying sinusoids, and the warp that moves the scene.

Sign convention (as in `calscope.simulate.movies`): a displacement (dy, dx) moves the scene's
content by +dy rows and +dx columns, ``frame(y, x) = scene(y - dy, x - dx)``.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d, map_coordinates

MOTION_SMOOTH_S, JITTER = 0.2, 0.05
"""Smoothing (σ, s) of the rigid random walk, and the frame-to-frame jitter relative to it."""

WAVES, NONRIGID_TIME_S = 3, 2.0
"""Sinusoidal components per axis of the non-rigid field, and their time scale (σ, s)."""

def rigid_shifts(n_frames: int, fs: float, motion_px: float,
                 rng: np.random.Generator) -> np.ndarray:
    """(T, 2) float32 smoothed, zero-mean random walk plus jitter; max |shift| = motion_px."""
    walk = gaussian_filter1d(np.cumsum(rng.standard_normal((n_frames, 2)), axis=0),
                             MOTION_SMOOTH_S * fs, axis=0)
    walk -= walk.mean(axis=0)
    shifts = _peak_scaled(walk, 1.0) + JITTER * rng.standard_normal((n_frames, 2))
    return _peak_scaled(shifts, motion_px).astype(np.float32)


def nonrigid_waves(n_frames: int, fs: float, shape: tuple[int, int], nonrigid_px: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 waves (2, J, 2), phases (2, J), amplitudes (T, 2, J) of a non-rigid field, largest
    |value| along either axis (on a 33 × 33 grid spanning the field of view) nonrigid_px."""
    length = rng.uniform(0.5, 1.5, (2, WAVES))  # cycles per field of view
    direction = rng.uniform(0.0, 2 * np.pi, (2, WAVES))
    waves = length[..., None] * np.stack([np.cos(direction), np.sin(direction)], axis=-1)
    phases = rng.uniform(0.0, 2 * np.pi, (2, WAVES))
    slow = gaussian_filter1d(rng.standard_normal((n_frames, 2, WAVES)), NONRIGID_TIME_S * fs,
                             axis=0)
    coarse = [np.linspace(0, n - 1, min(n, 33)) for n in shape]
    basis = _wave_basis(waves, phases, *coarse, shape)
    peak = np.abs(np.einsum("taj,ajp->tap", slow, basis.reshape(2, WAVES, -1))).max()
    scale = nonrigid_px / peak if peak > 0 else 0.0
    return tuple(a.astype(np.float32) for a in (waves, phases, slow * scale))


def _wave_basis(waves: np.ndarray, phases: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                shape: tuple[int, int]) -> np.ndarray:
    """(2, J, len(ys), len(xs)) sinusoids sin(2π (ky·y/Y + kx·x/X) + phase) at pixels ys × xs."""
    ky, kx = waves[..., 0, None, None], waves[..., 1, None, None]
    angle = 2 * np.pi * (ky * ys[:, None] / shape[0] + kx * xs[None, :] / shape[1])
    return np.sin(angle + phases[..., None, None])


def displacement_field(shifts: np.ndarray, amplitudes: np.ndarray, waves: np.ndarray,
                       phases: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(n, 2, Y, X) float32 displacement: rigid ``shifts`` (n, 2) plus the non-rigid waves."""
    field = np.broadcast_to(shifts[:, :, None, None], (shifts.shape[0], 2, *shape))
    if not np.any(amplitudes):
        return field.astype(np.float32)
    basis = _wave_basis(waves, phases, np.arange(shape[0]), np.arange(shape[1]), shape)
    nonrigid = np.stack([amplitudes[:, axis] @ basis[axis].reshape(WAVES, -1)
                         for axis in range(2)], axis=1)
    return (field + nonrigid.reshape(field.shape)).astype(np.float32)


def warp_scene(scene: np.ndarray, field: np.ndarray, pad: int) -> np.ndarray:
    """(n, Y, X) frames showing the (n, Y + 2 pad, X + 2 pad) ``scene`` moved by ``field``
    (n, 2, Y, X): frame(y, x) = scene(y + pad - dy, x + pad - dx), by cubic spline
    interpolation (linear interpolation would blur each frame by its own sub-pixel shift)."""
    n, Y, X = field.shape[0], *field.shape[2:]
    if not np.any(field):
        return scene[:, pad:pad + Y, pad:pad + X]
    grid = np.mgrid[pad:pad + Y, pad:pad + X].astype(np.float64)
    return np.stack([map_coordinates(scene[i], grid - field[i], order=3, mode="mirror")
                     for i in range(n)])


def _peak_scaled(x: np.ndarray, peak: float) -> np.ndarray:
    """``x`` scaled so that max |x| equals ``peak`` (all zeros stay zeros)."""
    largest = np.abs(x).max()
    return x * (peak / largest) if largest > 0 else np.zeros_like(x)

"""The template: the mean of well-aligned frames, built from a subset spread over the recording.

1. Read ``template_frames`` frames spread evenly over the recording (`template_frames`).
2. Seed: the mean of the frame whose ``k`` most similar frames are most similar to it and of
   those ``k`` (k: a tenth of the subset, 1 to 20; Pearson correlation of copies binned 2×2
   until ≤ 255 pixels a side): frames caught at the same position.
3. ``template_iterations`` times: rigidly register the subset to the current template, keep the
   better-matching half and average it, each frame moved to the median position of the subset
   (so that the template sits where the recording spends its time, and typical shifts are 0).
"""

from __future__ import annotations

import numpy as np

from calscope.config import MotionSettings
from calscope.frames import MovieLike, read_frames
from calscope.motion.phase import estimate, make_reference
from calscope.motion.warp import shift_frames

_SEED_SIDE = 256  # frames are binned below this side to pick the seed
_MEAN_BATCH = 16  # frames moved at a time when averaging


def template_indices(n_frames: int, count: int) -> np.ndarray:
    """Up to ``count`` frame indices spread evenly over ``n_frames`` (sorted, distinct)."""
    return np.unique(np.rint(np.linspace(0, n_frames - 1, min(count, n_frames))).astype(np.int64))


def template_frames(movie: MovieLike, n_frames: int, settings: MotionSettings,
                    name: str = "movie") -> np.ndarray:
    """(n, Y, X) float32 the frames a template is built from: ``template_frames`` of them,
    spread evenly over the (T, Y, X) movie, read one at a time."""
    index = template_indices(n_frames, settings.template_frames)
    frames = np.empty((index.size, *(int(n) for n in movie.shape[1:])), dtype=np.float32)
    for i, t in enumerate(index):
        frames[i] = read_frames(movie, int(t), int(t) + 1, name)[0]
    return frames


def build_template(frames: np.ndarray, settings: MotionSettings, max_shift: float
                   ) -> np.ndarray:
    """(Y, X) float32 template from (n, Y, X) float32 `template_frames`; ``max_shift``
    pixels is the rigid search radius."""
    template = _seed(frames)
    for _ in range(settings.template_iterations):
        ref = make_reference(template, settings.smooth_sigma, settings.workers)
        shifts, peaks = estimate(frames, ref, np.zeros(2), max_shift)
        best = peaks >= np.median(peaks)
        centred = shifts - np.median(shifts, axis=0)
        template = _mean_of(frames, best, centred)
    return template


def _mean_of(frames: np.ndarray, chosen: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """(Y, X) float32 mean of the ``chosen`` frames, each moved back by its shift."""
    total = np.zeros(frames.shape[1:])
    picked = np.flatnonzero(chosen)
    for i in range(0, picked.size, _MEAN_BATCH):
        part = picked[i:i + _MEAN_BATCH]
        total += shift_frames(frames[part], shifts[part]).sum(axis=0, dtype=np.float64)
    return (total / picked.size).astype(np.float32)


def _seed(frames: np.ndarray) -> np.ndarray:
    """(Y, X) float32 mean of the most mutually similar frames of (n, Y, X) ``frames``."""
    n = frames.shape[0]
    small = _binned(frames).reshape(n, -1).astype(np.float64)
    small -= small.mean(axis=1, keepdims=True)
    small /= np.maximum(np.linalg.norm(small, axis=1, keepdims=True), np.finfo(float).tiny)
    similarity = small @ small.T
    np.fill_diagonal(similarity, -np.inf)
    k = int(np.clip(n // 10, 1, 20))
    nearest = np.argsort(similarity, axis=1)[:, ::-1][:, :k]
    score = np.take_along_axis(similarity, nearest, axis=1).mean(axis=1)
    seed = int(np.argmax(score))
    members = np.append(nearest[seed], seed)
    return frames[members].mean(axis=0, dtype=np.float64).astype(np.float32)


def _binned(frames: np.ndarray) -> np.ndarray:
    """(n, Y', X') copies of (n, Y, X) frames averaged over 2×2 pixels until the smaller side is
    below ``_SEED_SIDE``."""
    out = frames
    while min(out.shape[1:]) >= _SEED_SIDE:
        n, height, width = out.shape
        out = out[:, :height // 2 * 2, :width // 2 * 2].reshape(
            n, height // 2, 2, width // 2, 2).mean(axis=(2, 4))
    return out

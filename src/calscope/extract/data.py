"""Checking a movie given to cell extraction and loading it, a chunk of frames at a time
(what a movie may be: `calscope.frames`)."""

from __future__ import annotations

import numpy as np

from calscope.errors import InputError
from calscope.frames import MovieLike, frame_chunks, movie_shape

#: Fewest frames cell extraction accepts (noise and AR estimates need a few hundred; 50 is a
#: hard floor below which nothing sensible can be said).
MIN_FRAMES = 50
#: Smallest frame side (pixels).
MIN_SIDE = 8


def extraction_shape(movie: MovieLike, name: str = "movie") -> tuple[int, int, int]:
    """(T, Y, X) of ``movie``; InputError when it cannot be a movie to extract cells from."""
    return movie_shape(movie, name, task="cell extraction (a few hundred frames or more for "
                       "reliable cells)", min_frames=MIN_FRAMES, min_side=MIN_SIDE)


def load_pixels(movie: MovieLike, chunk_frames: int, max_bytes: float, copies: int = 1,
                name: str = "movie") -> np.ndarray:
    """The whole movie as a (Y*X, T) float32 array (pixels in C order, time along rows).

    The caller will hold ``copies`` arrays of this size at once; when that (4 bytes per pixel
    and frame each) exceeds ``max_bytes``, an InputError says how much it would need.
    """
    n_frames, height, width = extraction_shape(movie, name)
    need = 4.0 * n_frames * height * width * copies
    if need > max_bytes:
        raise InputError(f"{name}: {n_frames} frames of {height} × {width} pixels need about "
                         f"{need / 1e9:.1f} GB in memory for cell extraction, over the limit of "
                         f"{max_bytes / 1e9:.1f} GB; raise cnmf.max_memory_gb, or extract from "
                         "a crop or a shorter (e.g. temporally downsampled) movie")
    pixels = np.empty((height * width, n_frames), dtype=np.float32)
    for start, frames in frame_chunks(movie, chunk_frames, name):
        pixels[:, start: start + len(frames)] = frames.reshape(len(frames), -1).T
    return pixels

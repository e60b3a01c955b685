"""Checking a movie given to cell extraction, and the memory it will need (what a movie may
be: `calscope.frames`)."""

from __future__ import annotations

from calscope.errors import InputError
from calscope.frames import MovieLike, movie_shape

#: Fewest frames cell extraction accepts (noise and AR estimates need a few hundred; 50 is a
#: hard floor below which nothing sensible can be said).
MIN_FRAMES = 50
#: Smallest frame side (pixels).
MIN_SIDE = 8


def extraction_shape(movie: MovieLike, name: str = "movie") -> tuple[int, int, int]:
    """(T, Y, X) of ``movie``; InputError when it cannot be a movie to extract cells from."""
    return movie_shape(movie, name, task="cell extraction (a few hundred frames or more for "
                       "reliable cells)", min_frames=MIN_FRAMES, min_side=MIN_SIDE)


def check_memory(n_frames: int, height: int, width: int, copies: int, max_bytes: float,
                 unit: str = "", name: str = "movie") -> float:
    """Bytes of one float32 copy of ``n_frames`` frames of ``height`` × ``width`` pixels;
    InputError when ``copies`` of them exceed ``max_bytes``, naming what to change.
    ``unit``: what the pixels are ("patch"; "" for the whole frame)."""
    one = 4.0 * n_frames * height * width
    if one * copies > max_bytes:
        what = f"a {unit} of" if unit else ""
        smaller = ("lower cnmf.patch_px" if unit else "set cnmf.patch_px below the frame's "
                   "side to work on spatial patches")
        raise InputError(f"{name}: {n_frames} frames of {what} {height} × {width} pixels need "
                         f"about {one * copies / 1e9:.1f} GB in memory for cell extraction, "
                         f"over the limit of {max_bytes / 1e9:.1f} GB; raise "
                         f"cnmf.max_memory_gb, {smaller}, or extract from a shorter (e.g. "
                         "temporally downsampled) movie")
    return one

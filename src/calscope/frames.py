"""Movies as the stages take them: checks, and reading a chunk of frames at a time.

A movie is anything with a ``.shape`` of (T, Y, X) and numpy-style slicing along time
(``movie[t0:t1]`` → an (n, Y, X) array of real numbers): an ndarray, np.memmap, h5py dataset,
zarr array, `calscope.io.Movie` or `calscope.motion.RegisteredMovie`. Nothing here reads more
than the frames asked for. Used by `calscope.motion` and `calscope.extract`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from calscope.errors import InputError

_REAL_KINDS = "buif"  # bool, unsigned and signed integer, floating point


class MovieLike(Protocol):
    """What a stage needs of a movie: its (T, Y, X) shape and slicing along time."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, index: Any) -> Any: ...


def movie_shape(movie: MovieLike, name: str = "movie", *, task: str = "registration",
                min_frames: int = 2, min_side: int = 16) -> tuple[int, int, int]:
    """(T, Y, X) of ``movie``; InputError when it cannot be a movie for ``task`` (at least
    ``min_frames`` frames of at least ``min_side`` pixels a side)."""
    shape = getattr(movie, "shape", None)
    if shape is None or not hasattr(movie, "__getitem__"):
        raise InputError(f"{name}: expected a (T, Y, X) array-like movie (ndarray, memmap, h5py "
                         f"dataset, zarr array, calscope Movie), got {type(movie).__name__}")
    dtype = getattr(movie, "dtype", None)
    if dtype is not None and np.dtype(dtype).kind not in _REAL_KINDS:
        raise InputError(f"{name}: frames must be real numbers, got dtype {dtype}; pass the "
                         "intensities (e.g. np.abs of complex data)")
    if len(shape) != 3:
        raise InputError(f"{name}: expected a 3-D (T, Y, X) movie, got shape {tuple(shape)}; "
                         "stack single frames along a first (time) axis, and pass one channel "
                         "or plane of a multi-channel or multi-plane recording at a time")
    n_frames, height, width = (int(n) for n in shape)
    if n_frames < min_frames:
        raise InputError(f"{name}: has {n_frames} frame(s); {task} needs at least {min_frames}")
    if min(height, width) < min_side:
        raise InputError(f"{name}: frames of {height} × {width} pixels are too small for {task} "
                         f"(at least {min_side} × {min_side}); pass the full frames, not a crop")
    return n_frames, height, width


def read_frames(movie: MovieLike, start: int, stop: int, name: str = "movie") -> np.ndarray:
    """Frames ``start``..``stop - 1`` of ``movie`` as a new (n, Y, X) float32 array.

    Raises InputError when they are not real numbers or hold NaN or ±inf (naming the frames).
    """
    frames = np.asarray(movie[start:stop])
    if frames.dtype.kind not in _REAL_KINDS:
        raise InputError(f"{name}: frames must be real numbers, got dtype {frames.dtype}")
    frames = frames.astype(np.float32, copy=True)
    check_finite(frames, start, name)
    return frames


def frame_chunks(movie: MovieLike, chunk_frames: int, name: str = "movie"
                 ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, frames)``: consecutive (n, Y, X) float32 chunks of ``movie`` (T, Y, X),
    checked as by `read_frames`."""
    n_frames = int(movie.shape[0])
    for start in range(0, n_frames, chunk_frames):
        yield start, read_frames(movie, start, min(start + chunk_frames, n_frames), name)


def check_finite(frames: np.ndarray, start: int, name: str = "movie", step: int = 1) -> None:
    """InputError naming the frames of (n, Y, X) ``frames`` (frames start, start + step, … of
    the movie) that hold NaN or ±inf."""
    finite = np.isfinite(frames).all(axis=(1, 2))
    if finite.all():
        return
    bad = start + step * np.flatnonzero(~finite)
    listed = ", ".join(str(t) for t in bad[:5]) + (", …" if bad.size > 5 else "")
    raise InputError(f"{name}: frame(s) {listed} hold NaN or infinite values; replace them "
                     "(e.g. by the mean of the neighbouring frames) or drop those frames")

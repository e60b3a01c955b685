"""`RegisteredMovie`: a movie seen through its registration, frames computed when read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from calscope.errors import InputError
from calscope.io.movies import LazyFrames
from calscope.frames import MovieLike, check_finite, movie_shape
from calscope.motion.result import Registration, frame_indices


class RegisteredMovie(LazyFrames):
    """A lazy (T, Y, X) float32 view of ``movie`` registered by ``registration``.

    Indexing along time (an int, or a slice with any step) reads only those frames of the movie
    and returns them registered (`calscope.motion.apply_registration`): ``view[t]`` is (Y, X),
    ``view[a:b]`` is (n, Y, X). Iterating or ``np.asarray(view)`` reads the whole movie.
    ``on_read(raw, registered, index)``, when given, sees every block read: the (n, Y, X)
    frames as read and as registered, and their (n,) indices in increasing order (e.g.
    `calscope.motion.metrics.MetricsGatherer.add`).
    """

    def __init__(self, movie: MovieLike, registration: Registration, *,
                 on_read: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None
                 ) -> None:
        shape = movie_shape(movie)
        if shape != (registration.n_frames, *registration.template.shape):
            raise InputError(f"movie: shape {shape} is not that of the registered movie "
                             f"{(registration.n_frames, *registration.template.shape)}; pass "
                             "the movie the registration was measured on")
        self.movie = movie
        self.registration = registration
        self.on_read = on_read

    @property
    def shape(self) -> tuple[int, int, int]:
        """(T, Y, X)."""
        return (self.registration.n_frames, *self.registration.template.shape)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[t] for t in range(len(self)))

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):
            if len(key) == 1:
                return self[key[0]]
            return self[key[0]][(slice(None), *key[1:]) if isinstance(key[0], slice)
                                else key[1:]]
        if isinstance(key, (int, np.integer)):
            return self._read(frame_indices(int(key), len(self), "index"))[0]
        if isinstance(key, slice):
            return self._read(frame_indices(key, len(self), "index"))
        raise InputError(f"index: a registered movie is indexed along time by an int or a "
                         f"slice, got {type(key).__name__}")

    def _read(self, index: np.ndarray) -> np.ndarray:
        """(n, Y, X) float32 registered frames ``index`` (n,), read as one increasing run."""
        if index.size == 0:
            return np.empty((0, *self.shape[1:]), dtype=np.float32)
        low, high = int(index.min()), int(index.max())
        step = int(index[1] - index[0]) if index.size > 1 else 1
        forward = np.sort(index)
        frames = np.asarray(self.movie[low:high + 1:abs(step)]).astype(np.float32)
        check_finite(frames, low, "movie", abs(step))
        registered = self.registration.registered(frames, forward)
        if self.on_read is not None:
            self.on_read(frames, registered, forward)
        return registered if step > 0 else registered[::-1]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        t, y, x = self.shape
        kind = "rigid" if self.registration.block_shifts is None else "piecewise-rigid"
        return f"RegisteredMovie({t} × {y} × {x} float32, {kind})"

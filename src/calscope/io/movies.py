"""Movies (T × Y × X), read lazily: TIFF, HDF5, Zarr, NPY and NWB.

:func:`read_movie` opens a file and returns a :class:`Movie`, which reads only the frames it is
indexed with, so a recording bigger than memory can be registered chunk by chunk::

    with read_movie("session.tif") as movie:     # nothing read yet
        movie.shape, movie.fs                      # (T, Y, X), Hz or None
        chunk = movie[0:500]                       # (500, Y, X) float32, read now

Axis order: TIFF files name their axes (tifffile); other 3-D arrays are taken as (T, Y, X)
unless ``axes`` says otherwise (e.g. ``"YXT"`` for an HDF5 dataset stored height × width ×
frames). A channel axis ``C`` needs ``channel``. NWB image series are read as stored, (frames,
rows, columns).

The frame rate comes from the file when it has one: an NWB series' ``rate`` (or its
timestamps), ImageJ's ``finterval``/``fps``, ScanImage's frame rate, or an ``fs``/``rate``/
``frame_rate`` attribute of an HDF5 dataset or Zarr array. Otherwise ``Movie.fs`` is None and
the caller must supply it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calscope.errors import InputError
from calscope.io.movie_formats import OPENERS

MOVIE_SUFFIXES = tuple(OPENERS)


class LazyFrames:
    """What lazy (T, Y, X) movies share: frames come out as float32, ``len`` is T.

    Subclasses set ``shape`` and read frames in ``__getitem__`` (an int or a slice of time).
    """

    shape: tuple[int, int, int]
    dtype = np.dtype(np.float32)
    ndim = 3

    def __len__(self) -> int:
        return self.shape[0]


class Movie(LazyFrames):
    """A movie file opened for lazy reading.

    Indexing reads only the frames asked for and returns float32 (the file's own type is
    ``file_dtype``): ``movie[t]`` → (Y, X); ``movie[a:b]`` or ``movie[a:b:step]`` → (n, Y, X).

    Attributes:
        path: the file or folder read.
        shape: (T, Y, X) frames, rows, columns.
        fs: frame rate (Hz) from the argument or the file, or None.
        source: what was read, for messages (e.g. "HDF5 dataset 'imaging', axes YXT").
        file_dtype: the pixel type stored in the file.
        imaging: "one-photon" or "two-photon" when the file says so (NWB), else None.
    """

    def __init__(self, path: Path, array: Any, layout: Layout, fs: float | None, source: str,
                 close: Callable[[], None] | None = None, imaging: str | None = None):
        self.path = path
        self._array = array
        self._layout = layout
        self.shape: tuple[int, int, int] = tuple(  # type: ignore[assignment]
            array.shape[layout.axes.index(a)] for a in "TYX")
        self.fs = fs
        self.source = source
        self.file_dtype = np.dtype(array.dtype)
        self.imaging = imaging
        self._close = close

    def __getitem__(self, index: int | slice) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            t = int(index) + (self.shape[0] if index < 0 else 0)
            if not 0 <= t < self.shape[0]:
                raise IndexError(f"frame {index} out of range for a movie of {self.shape[0]}")
            return self[t:t + 1][0]
        if not isinstance(index, slice):
            raise TypeError("index a Movie with a frame number or a slice of frames")
        start, stop, step = index.indices(self.shape[0])
        if step < 1:
            raise IndexError("frames are read forwards: use a positive slice step")
        key: list[Any] = [slice(None)] * self._array.ndim
        key[self._layout.axes.index("T")] = slice(start, max(start, stop), step)
        for axis, value in self._layout.fixed.items():
            key[axis] = value
        block = np.asarray(self._array[tuple(key)])
        return np.ascontiguousarray(np.transpose(block, self._layout.order), dtype=np.float32)

    def close(self) -> None:
        """Close the file (indexing afterwards fails)."""
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> Movie:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Movie({str(self.path)!r}, shape={self.shape}, fs={self.fs}, {self.source})"


def read_movie(path: str | Path, *, key: str | None = None, axes: str | None = None,
               channel: int | None = None, fs: float | None = None) -> Movie:
    """Open a movie for lazy reading.

    Args:
        path: a ``.tif``/``.tiff`` file, an HDF5 file (``.h5``, ``.hdf5``), a ``.zarr`` folder,
            a ``.npy`` file or an NWB file (``.nwb``).
        key: the dataset (HDF5), array (Zarr) or image series (NWB) to read; needed only
            when the file holds several candidates.
        axes: the stored axis order, a permutation of ``"TYX"`` (plus ``"C"`` for a channel
            axis): e.g. ``"YXT"``. Default: the TIFF's own axes, else ``"TYX"``.
        channel: the channel to read when the data have a ``C`` axis.
        fs: frame rate (Hz); overrides the file's.

    Returns:
        The opened :class:`Movie`; close it (or use ``with``) when done.

    Raises:
        InputError: the path is missing or of an unknown kind, the data are not a movie
            (fewer than 2 frames, not 3-D after the channel is chosen), ``axes`` or ``channel``
            do not fit the data, or ``key`` names nothing (the candidates are listed).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such movie file or folder; check the path")
    if fs is not None and not (np.isfinite(fs) and fs > 0):
        raise InputError(f"fs = {fs}: the frame rate must be a positive number of Hz")
    suffix = path.suffix.lower()
    if suffix not in MOVIE_SUFFIXES:
        raise InputError(f"{path}: not a movie format calscope reads ({', '.join(MOVIE_SUFFIXES)}"
                         "); convert the movie to TIFF or HDF5")
    opened = OPENERS[suffix](path, key)
    try:
        layout = _layout(path, opened.array.shape, axes or opened.axes, channel)
        movie = Movie(path, opened.array, layout, fs if fs is not None else opened.fs,
                      f"{opened.source}, axes {layout.axes}", opened.close, opened.imaging)
        if movie.shape[0] < 2:
            raise InputError(f"{path}: {opened.source} holds {movie.shape[0]} frame along T "
                             f"(axes {layout.axes}, shape {opened.array.shape}); a movie needs "
                             "at least 2: check the axis order (--axes)")
    except BaseException:
        if opened.close is not None:
            opened.close()
        raise
    return movie


@dataclass(frozen=True)
class Layout:
    """Where T, Y and X lie in the stored array.

    Attributes:
        axes: one letter per stored dimension, the frame axis renamed "T".
        fixed: stored axis → the index read there (a channel, or 0 for other axes of size 1).
        order: the permutation that takes the sliced block to (T, Y, X).
    """

    axes: str
    fixed: dict[int, int]
    order: tuple[int, int, int]


def _layout(path: Path, shape: tuple[int, ...], axes: str, channel: int | None) -> Layout:
    """Validate ``axes`` against ``shape`` and find T, Y, X and the fixed axes.

    Of several axes besides Y, X and C, those of size 1 are read at index 0. The one other
    axis left is the frame axis, whatever its letter (tifffile calls a plain stack of pages
    "I" or "Q").
    """
    axes = axes.upper()
    if len(axes) != len(shape) or len(set(axes)) != len(axes) or not {"Y", "X"} <= set(axes):
        raise InputError(f"{path}: data of shape {shape} cannot have axes {axes!r}; pass the "
                         "stored order with one letter per dimension, e.g. --axes YXT or "
                         "--axes TCYX")
    others = [i for i, a in enumerate(axes) if a not in "YXC"]
    if len(others) > 1:  # several candidates: drop those of size 1, keeping T if all are 1
        keep = [i for i in others if shape[i] > 1] or [axes.index("T") if "T" in axes
                                                       else others[0]]
        others = keep
    fixed = {i: 0 for i, a in enumerate(axes) if a not in "YXC" and i not in others}
    frames = [axes[i] for i in others]
    if len(frames) != 1:
        what = "no frame axis" if not frames else f"several frame axes ({', '.join(frames)})"
        raise InputError(f"{path}: data of shape {shape} with axes {axes} have {what}; "
                         "calscope reads one plane over time: export a single plane, or name "
                         "the axes with --axes (e.g. --axes TYX)")
    axes = axes.replace(frames[0], "T")
    if "C" in axes:
        count = shape[axes.index("C")]
        if channel is None and count == 1:
            channel = 0
        if channel is None or not 0 <= channel < count:
            raise InputError(f"{path}: the movie has {count} channel(s) (axes {axes}); choose "
                             f"one with --channel 0 … {count - 1}")
        fixed[axes.index("C")] = channel
    elif channel not in (None, 0):
        raise InputError(f"{path}: --channel {channel} given, but the movie has one channel; "
                         "leave --channel out")
    kept = [a for i, a in enumerate(axes) if i not in fixed]
    return Layout(axes, fixed, tuple(kept.index(a) for a in "TYX"))  # type: ignore[arg-type]

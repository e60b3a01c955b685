"""Write a movie (T × Y × X, float32) chunk by chunk, atomically: TIFF, HDF5, Zarr or NPY.

The frames come from anything with ``shape`` (T, Y, X) that can be sliced along time (a numpy
array, a :class:`calscope.io.movies.Movie`, a registered view of one), so a movie bigger than
memory is written without ever being whole in memory. The file appears under its name only
when complete (see :mod:`calscope.io.writers`); a folder (``.zarr``) replaces an older one
only then.

Where each format keeps the frames, so that :func:`calscope.io.movies.read_movie` reads them
back without ``--key``: TIFF pages (the rate in tifffile's JSON description); HDF5 dataset
``movie`` and Zarr array ``movie`` (the rate as their ``fs`` attribute).
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from calscope.errors import InputError
from calscope.io.writers import atomic_path, replace_folder

WRITABLE_MOVIES = (".tif", ".tiff", ".h5", ".hdf5", ".zarr", ".npy")
#: name of the dataset (HDF5) or array (Zarr) holding the frames
MOVIE_KEY = "movie"


def write_movie(path: str | Path, frames: Any, *, fs: float | None = None,
                chunk_frames: int = 256,
                progress: Callable[[int, int], None] | None = None) -> Path:
    """Write ``frames`` to ``path`` as float32, ``chunk_frames`` frames at a time.

    Args:
        path: ``.tif``/``.tiff``, ``.h5``/``.hdf5``, ``.zarr`` (a folder) or ``.npy``.
        frames: (T, Y, X) sliceable along time.
        fs: frame rate (Hz), stored with HDF5 and Zarr (and in a TIFF's description).
        chunk_frames: frames read and written at a time (memory: this × Y × X × 4 bytes).
        progress: called as ``progress(frames written, T)`` after each chunk.

    Returns:
        ``path``.

    Raises:
        InputError: an unknown suffix, or ``frames`` not 3-D.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_MOVIES:
        raise InputError(f"{path}: movies are written as {', '.join(WRITABLE_MOVIES)}; "
                         "choose one of these suffixes")
    shape = tuple(int(n) for n in frames.shape)
    if len(shape) != 3:
        raise InputError(f"{path}: a movie to write must be (T, Y, X); got shape {shape}")
    chunks = _chunks(frames, shape[0], max(1, int(chunk_frames)), progress)
    if suffix == ".zarr":
        _write_zarr(path, shape, chunks, fs)
        return path
    with atomic_path(path) as temporary:
        if suffix in (".tif", ".tiff"):
            _write_tiff(temporary, shape, chunks, fs)
        elif suffix == ".npy":
            _write_npy(temporary, shape, chunks)
        else:
            _write_hdf5(temporary, shape, chunks, fs)
    return path


def _chunks(frames: Any, n_frames: int, size: int, progress: Callable[[int, int], None] | None
            ) -> Any:
    """Yield ``(start, block)`` with block (n, Y, X) float32, reporting progress after each."""
    for start in range(0, n_frames, size):
        block = np.asarray(frames[start:start + size], dtype=np.float32)
        yield start, block
        if progress is not None:
            progress(min(start + size, n_frames), n_frames)


def _write_tiff(path: Path, shape: tuple[int, ...], chunks: Any, fs: float | None) -> None:
    """One BigTIFF series of T pages; the rate goes in tifffile's JSON description."""
    import tifffile

    metadata: dict[str, Any] = {"axes": "TYX"}
    if fs is not None:
        metadata["fs"] = float(fs)
    pages = (frame for _, block in chunks for frame in block)
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(pages, shape=shape, dtype=np.float32, metadata=metadata)


def _write_npy(path: Path, shape: tuple[int, ...], chunks: Any) -> None:
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    _fill(array, chunks, None)
    array.flush()
    del array


def _write_hdf5(path: Path, shape: tuple[int, ...], chunks: Any, fs: float | None) -> None:
    import h5py

    with h5py.File(path, "w") as handle:
        _fill(handle.create_dataset(MOVIE_KEY, shape=shape, dtype=np.float32,
                                    chunks=_storage_chunks(shape)), chunks, fs)


def _write_zarr(path: Path, shape: tuple[int, ...], chunks: Any, fs: float | None) -> None:
    """Write a new store under a temporary name beside ``path``; swap it in when complete."""
    import zarr

    if path.exists() and not (path / "zarr.json").is_file():
        raise InputError(f"{path}: exists and is not a Zarr store; remove it or choose "
                         "another output")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")
    try:
        root = zarr.open_group(str(temporary), mode="w", zarr_format=3)
        _fill(root.create_array(MOVIE_KEY, shape=shape, dtype=np.float32,
                                chunks=_storage_chunks(shape)), chunks, fs)
        replace_folder(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _storage_chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Whole frames, 16 at a time: reading a run of frames touches few chunks."""
    return (min(shape[0], 16), *shape[1:])


def _fill(array: Any, chunks: Any, fs: float | None) -> None:
    """Write each ``(start, block)`` into ``array``; store ``fs`` as its attribute if given."""
    if fs is not None:
        array.attrs["fs"] = float(fs)
    for start, block in chunks:
        array[start:start + len(block)] = block

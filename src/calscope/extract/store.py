"""The movie as (pixels × frames), the layout CNMF works in, with its noise map, in one pass.

Held in memory when it fits the memory budget; otherwise written to a temporary ``.npy`` file
on disk (``tempfile``'s folder: set ``TMPDIR`` to choose it) and read back through a memory
map, so a movie bigger than memory can be factorised a spatial patch at a time: a patch's rows
are contiguous runs of each pixel's whole trace. The file is removed when the context exits,
whether the extraction finished or failed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calscope.extract.data import extraction_shape
from calscope.extract.summary import NoisePower
from calscope.frames import MovieLike, frame_chunks


@dataclass(frozen=True)
class PixelStore:
    """A movie in CNMF's layout.

    Attributes:
        pixels: (Y*X, T) float32 pixels (C order) × frames: an ndarray, or a read-only memory
            map of a temporary file.
        noise: (Y, X) float32 per-pixel noise σ (`calscope.extract.summary_images`' noise).
        shape: (Y, X) frame shape.
        on_disk: whether ``pixels`` is a memory map.
    """

    pixels: np.ndarray
    noise: np.ndarray
    shape: tuple[int, int]
    on_disk: bool


@contextmanager
def pixel_store(movie: MovieLike, chunk_frames: int, memory_bytes: float,
                name: str = "movie") -> Iterator[PixelStore]:
    """Read ``movie`` (T, Y, X) once, ``chunk_frames`` frames at a time, into a `PixelStore`:
    in memory when its 4 bytes per pixel and frame fit ``memory_bytes``, else on disk."""
    n_frames, height, width = extraction_shape(movie, name)
    noise = NoisePower(height * width, n_frames)
    with tempfile.TemporaryDirectory(prefix="calscope-cnmf-") as folder:
        on_disk = 4.0 * n_frames * height * width > memory_bytes
        if on_disk:
            pixels = np.lib.format.open_memmap(Path(folder) / "pixels.npy", mode="w+",
                                               dtype=np.float32,
                                               shape=(height * width, n_frames))
        else:
            pixels = np.empty((height * width, n_frames), dtype=np.float32)
        for start, frames in frame_chunks(movie, chunk_frames, name):
            pixels[:, start: start + len(frames)] = frames.reshape(len(frames), -1).T
            noise.add(frames)
        if on_disk:
            pixels.flush()
            del pixels
            pixels = np.load(Path(folder) / "pixels.npy", mmap_mode="r")
        yield PixelStore(pixels=pixels, noise=noise.image((height, width)),
                         shape=(height, width), on_disk=on_disk)


@contextmanager
def scratch_pixels(store: PixelStore, memory_bytes: float) -> Iterator[np.ndarray]:
    """A writable (Y*X, T) float32 array like ``store.pixels``: in memory when the store is
    and both fit ``memory_bytes``, else a temporary memory-mapped file, removed on exit."""
    shape = store.pixels.shape
    if not store.on_disk and 8.0 * shape[0] * shape[1] <= memory_bytes:
        yield np.empty(shape, dtype=np.float32)
        return
    with tempfile.TemporaryDirectory(prefix="calscope-cnmf-") as folder:
        scratch = np.lib.format.open_memmap(Path(folder) / "scratch.npy", mode="w+",
                                            dtype=np.float32, shape=shape)
        try:
            yield scratch
        finally:
            del scratch

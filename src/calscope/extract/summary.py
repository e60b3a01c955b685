"""Summary images of a movie: mean, maximum, standard deviation, local correlation and noise.

The local correlation image (Smith & Häusser 2010; used to find cells in CNMF) is, at each
pixel, the mean Pearson correlation over time of its trace with those of its 8 neighbours: high
on cells (neighbouring pixels share the cell's transients), near 0 on pure noise. The noise map
is each pixel's noise σ from the high-frequency power of its trace
(`calscope.deconv.noise.noise_sigma`), which calcium transients hardly reach.
Everything is computed a chunk of frames at a time, so memory is bounded by the chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calscope.deconv.noise import noise_sigma
from calscope.extract.data import extraction_shape
from calscope.frames import MovieLike, frame_chunks

#: The 4 neighbour offsets (dy, dx) that, with their opposites, make the 8 neighbours.
OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))
#: Chunks shorter than this many frames do not enter the noise map (too short for a spectrum),
#: unless the movie is one chunk.
MIN_NOISE_FRAMES = 64


@dataclass(frozen=True)
class SummaryImages:
    """Per-pixel summaries of a (T, Y, X) movie, each (Y, X) float32 in the movie's units
    (correlation: unitless, in [-1, 1]).

    Attributes:
        mean: mean over time.
        max: maximum over time.
        std: standard deviation over time.
        correlation: local correlation image: mean correlation of each pixel's trace with its
            8 neighbours' (fewer at the edges); 0 where a trace is constant.
        noise: noise σ of each pixel's trace, from its power spectrum's upper half.
    """

    mean: np.ndarray
    max: np.ndarray
    std: np.ndarray
    correlation: np.ndarray
    noise: np.ndarray


def summary_images(movie: MovieLike, *, chunk_frames: int = 500) -> SummaryImages:
    """Mean, max, std, local correlation and noise images of ``movie``.

    Args:
        movie: (T, Y, X) array-like movie (ndarray, memmap, h5py/zarr dataset, calscope
            Movie), any real dtype, no NaN; at least 50 frames.
        chunk_frames: frames read at a time (memory: about 12 bytes per pixel of a chunk).

    Returns:
        `SummaryImages`; two passes over the movie.

    Raises:
        InputError: not a (T, Y, X) movie, too few frames, NaN or ±inf in a frame.
    """
    n_frames, height, width = extraction_shape(movie)
    total = np.zeros((height, width))
    peak = np.full((height, width), -np.inf, dtype=np.float32)
    noise = NoisePower(height * width, n_frames)
    for _, frames in frame_chunks(movie, chunk_frames):
        total += frames.sum(axis=0, dtype=np.float64)
        np.maximum(peak, frames.max(axis=0), out=peak)
        noise.add(frames)
    mean = total / n_frames
    sums = np.zeros((1 + len(OFFSETS), height, width))
    for _, frames in frame_chunks(movie, chunk_frames):
        sums += neighbour_sums((frames - mean.astype(np.float32)).transpose(1, 2, 0))
    return SummaryImages(
        mean=mean.astype(np.float32), max=peak,
        std=np.sqrt(sums[0] / n_frames).astype(np.float32),
        correlation=correlation_from_sums(sums), noise=noise.image((height, width)))


class NoisePower:
    """Per-pixel noise power summed over chunks of frames, weighted by their length; chunks
    shorter than `MIN_NOISE_FRAMES` are left out unless they are the whole movie."""

    def __init__(self, pixels: int, n_frames: int) -> None:
        self.power = np.zeros(pixels)
        self.weight = 0
        self.n_frames = n_frames

    def add(self, frames: np.ndarray) -> None:
        """Add an (n, Y, X) chunk."""
        n = len(frames)
        if n >= MIN_NOISE_FRAMES or n == self.n_frames:
            sigma = noise_sigma(frames.reshape(n, -1).T, 1.0)
            self.power += n * np.nan_to_num(sigma) ** 2
            self.weight += n

    def image(self, shape: tuple[int, int]) -> np.ndarray:
        """(Y, X) float32 noise σ."""
        return np.sqrt(self.power / max(self.weight, 1)).reshape(shape).astype(np.float32)


def neighbour_sums(centred: np.ndarray) -> np.ndarray:
    """(5, Y, X) float64 sums over time of products of mean-removed traces.

    Args:
        centred: (Y, X, n) traces with their (whole-movie) means removed, time last.

    Returns:
        Row 0: Σ_t z(y, x)²; row 1 + i: Σ_t z(y, x) · z(y + dy, x + dx) for ``OFFSETS[i]``
        (0 where the neighbour is outside the frame). Sums over chunks add up.
    """
    height, width = centred.shape[:2]
    out = np.zeros((1 + len(OFFSETS), height, width))
    out[0] = np.einsum("ijt,ijt->ij", centred, centred, dtype=np.float64)
    for i, (dy, dx) in enumerate(OFFSETS):
        here, there = _overlap(dy, dx, height, width)
        out[1 + i][here] = np.einsum("ijt,ijt->ij", centred[here], centred[there],
                                     dtype=np.float64)
    return out


def correlation_from_sums(sums: np.ndarray) -> np.ndarray:
    """(Y, X) float32 local correlation image from `neighbour_sums` (added over chunks): each
    pixel's mean correlation with its in-frame neighbours; 0 where a trace is constant."""
    height, width = sums.shape[1:]
    norm = np.sqrt(sums[0])
    total = np.zeros((height, width))
    count = np.zeros((height, width))
    for i, (dy, dx) in enumerate(OFFSETS):
        here, there = _overlap(dy, dx, height, width)
        denominator = norm[here] * norm[there]
        r = np.divide(sums[1 + i][here], denominator, out=np.zeros_like(denominator),
                      where=denominator > 0)
        total[here] += r
        total[there] += r
        count[here] += 1
        count[there] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


def _overlap(dy: int, dx: int, height: int, width: int
             ) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Slices ``here`` and ``there`` such that ``a[here]`` and ``a[there]`` are the pixels
    (y, x) and (y + dy, x + dx) for every pair with both inside a (height, width) frame
    (dy ≥ 0)."""
    rows_here, rows_there = slice(0, height - dy), slice(dy, height)
    if dx >= 0:
        cols_here, cols_there = slice(0, width - dx), slice(dx, width)
    else:
        cols_here, cols_there = slice(-dx, width), slice(0, width + dx)
    return (rows_here, cols_here), (rows_there, cols_there)

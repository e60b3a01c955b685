"""The line offset of a bidirectional scan: measuring it and undoing it.

A resonant two-photon microscope scans every other line backwards. When the timing of the
backward lines is off, their content is displaced along x relative to the forward lines', by
the same amount in every frame: edges get a comb-like fringe. Here the odd rows (1, 3, …) are
the ones measured against the even rows (0, 2, …): ``odd_row(x) ≈ true(x − offset)``.

`line_offset` measures it on an image (e.g. the mean of some frames) by correlating, along
x, each odd row with the mean of the even rows above and below it (so oblique structures,
which shift from row to row, cancel out). The cross-spectrum is pooled over all rows, each
frequency weighted by the square root of its power (half-way to phase correlation: fine
texture counts, and a nearly periodic pattern does not turn into a comb of peaks) and by a
Gaussian low-pass, and the correlation is evaluated on a 0.05-pixel grid refined by a
parabola. Accuracy (tests/motion/test_lines.py): within 0.03 px on a simulated mean image,
0.05 px on single noisy frames. `correct_lines` resamples the odd rows at
``x + offset`` (linear interpolation, the nearest edge pixel beyond the frame).
"""

from __future__ import annotations

import numpy as np

#: Largest offset searched (pixels); resonant scanners are calibrated to within a few.
MAX_OFFSET = 10.0
#: Grid step (pixels) of the search, before the parabola.
STEP = 0.05
#: σ (pixels) of the Gaussian low-pass on the cross-spectrum (damps noise).
SMOOTH = 1.15


def line_offset(image: np.ndarray, max_offset: float = MAX_OFFSET) -> float:
    """Offset (pixels, along x) of the odd rows' content relative to the even rows' in a
    (Y, X) image: ``image[odd row](x) ≈ true(x − offset)``; 0.0 for an image with fewer than
    3 rows or 16 columns, or without structure.

    ``max_offset`` bounds the search; it is capped below half the width.
    """
    image = np.asarray(image, dtype=np.float64)
    height, width = image.shape
    if height < 3 or width < 16:
        return 0.0
    odd = image[1:height - 1:2]
    between = 0.5 * (image[0:height - 2:2] + image[2:height:2])
    ramp = np.minimum(1.0, np.minimum(np.arange(width) + 0.5,
                                      width - 0.5 - np.arange(width)) / max(1, width // 8))
    spectra = [np.fft.rfft((rows - rows.mean(axis=1, keepdims=True)) * ramp, axis=1)
               for rows in (odd, between)]
    cross = np.sum(spectra[0] * np.conj(spectra[1]), axis=0)
    k = np.arange(cross.size)
    weight = np.where((k > 0) & (2 * k < width), 2.0, 0.0)  # one-sided, no DC or Nyquist
    weight *= np.exp(-2.0 * (np.pi * SMOOTH * k / width) ** 2)
    magnitude = np.abs(cross)
    if not np.any(magnitude[weight > 0] > 0):
        return 0.0
    flattened = np.divide(cross, np.sqrt(magnitude), out=np.zeros_like(cross),
                          where=magnitude > 0)
    limit = min(max_offset, width / 2 - 1)
    grid = np.arange(-limit, limit + STEP / 2, STEP)
    phases = np.exp(2j * np.pi * np.outer(grid, k) / width)
    score = (phases * (flattened * weight)).real.sum(axis=1)
    best = int(np.argmax(score))
    if 0 < best < grid.size - 1:
        left, middle, right = score[best - 1: best + 2]
        curvature = left - 2 * middle + right
        if curvature < 0:
            return float(grid[best] + STEP * 0.5 * (left - right) / curvature)
    return float(grid[best])


def correct_lines(frames: np.ndarray, offset: float) -> np.ndarray:
    """(n, Y, X) float32 copy of ``frames`` with each odd row resampled at x + ``offset``
    (`line_offset`'s sign), undoing a bidirectional scan's line offset; the frames themselves
    (as float32) when ``offset`` is 0."""
    out = np.array(frames, dtype=np.float32, copy=True if offset else None)
    width = out.shape[-1]
    if offset == 0 or width < 2:
        return out
    x = np.clip(np.arange(width) + float(offset), 0.0, width - 1.0)
    left = np.minimum(np.floor(x).astype(np.int64), width - 2)
    frac = (x - left).astype(np.float32)
    odd = out[:, 1::2]
    odd[:] = odd[..., left] * (1 - frac) + odd[..., left + 1] * frac
    return out

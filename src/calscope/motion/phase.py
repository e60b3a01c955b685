"""Phase correlation: the displacement of images relative to a reference, to ~0.05 pixel.

Each image has its mean removed and is tapered to zero at its edges (a raised-cosine ramp over
an eighth of each side, so that content leaving one edge does not wrap around to the other),
then its spectrum is whitened (every frequency weighted alike, so that fine texture counts as
much as the bright, blurry structures) and multiplied by the reference's conjugate whitened
spectrum and by a Gaussian low-pass (σ = ``smooth_sigma`` pixels in space; DC and Nyquist
dropped). The inverse transform peaks at the displacement ``d`` of the image's content:
``image(y, x) ≈ reference(y - dy, x - dx)``.

The integer peak is searched within ``radius`` of a given centre; the subpixel position comes
from the same correlation evaluated exactly on a 1/4-pixel grid around it (a matrix-multiply
DFT of the cross-power spectrum at those points only) and a parabola through the fine grid's
maximum and its neighbours. A taper shared by both images pulls the peak towards zero (by ~3%
of the shift), so a second pass tapers the reference where the first pass found the content to
be. Accuracy (tests/motion): 0.02 px RMS for exact periodic shifts of a 96 × 96 texture,
0.013 px with new content entering at the edges (128 × 128); with Poisson noise, 0.03 px.
Without the Gaussian (``smooth_sigma=0``) the whitened noise makes it ~4× worse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from threadpoolctl import threadpool_limits

UPSAMPLE = 4  # fine grid: 1/UPSAMPLE pixel
_SMALL_PRODUCT = 2 ** 17  # multiply-adds of one matrix product in `_refine`
BATCH_PIXELS = 2 ** 22  # pixels of images processed at once (16 frames of 512 × 512)
_TAPER_FRACTION = 1 / 8  # edge ramp of the taper, as a fraction of the side


@dataclass(frozen=True)
class Reference:
    """A reference image (or a stack of them, e.g. one per block) ready to correlate against.

    Attributes:
        image: (k, Y, X) float32 the reference(s) minus the mean.
        spectrum: (k, Y, X // 2 + 1) complex64 conjugate whitened spectrum of the tapered
            image times the filter (the first, coarse pass).
        weights: (Y, X // 2 + 1) float32 the filter (`spectral_filter`).
        perfect: correlation peak of an image with itself (normalizes the peaks to ≤ 1).
        workers: threads for scipy.fft (-1: all cores).
    """

    image: np.ndarray
    spectrum: np.ndarray
    weights: np.ndarray
    perfect: float
    workers: int


def taper(n: int, shift: np.ndarray | float = 0.0) -> np.ndarray:
    """(..., n) float32 edge taper of a side of ``n`` pixels, moved by ``shift`` pixels (...,):
    1 inside, a raised-cosine ramp to 0 over the outer eighth at each end, 0 beyond."""
    edge = max(1.0, round(n * _TAPER_FRACTION))
    p = np.arange(n) - np.asarray(shift, dtype=np.float64)[..., None]
    rise = np.minimum(np.clip((p + 0.5) / edge, 0, 1), np.clip((n - 0.5 - p) / edge, 0, 1))
    return (0.5 - 0.5 * np.cos(np.pi * rise)).astype(np.float32)


def spectral_filter(height: int, width: int, smooth_sigma: float) -> np.ndarray:
    """(Y, X // 2 + 1) float32 weights of the half spectrum: a Gaussian low-pass whose spatial σ
    is ``smooth_sigma`` pixels (1 everywhere for 0), with DC and the Nyquist rows and columns
    set to 0 (they carry no displacement that a real image can interpolate)."""
    ky = scipy.fft.fftfreq(height)[:, None]
    kx = scipy.fft.rfftfreq(width)[None, :]
    weights = np.exp(-2 * np.pi ** 2 * smooth_sigma ** 2 * (ky ** 2 + kx ** 2))
    weights[0, 0] = 0
    if height % 2 == 0:
        weights[height // 2, :] = 0
    if width % 2 == 0:
        weights[:, width // 2] = 0
    return weights.astype(np.float32)


def _whitened(images: np.ndarray, window_y: np.ndarray, window_x: np.ndarray,
              workers: int) -> np.ndarray:
    """(..., Y, X // 2 + 1) complex64 unit-magnitude spectrum of mean-free images times the
    separable window ``window_y[..., :, None] * window_x[..., None, :]``."""
    x = images * window_y[..., :, None]
    x *= window_x[..., None, :]
    spectrum = scipy.fft.rfft2(x, workers=workers, overwrite_x=True)
    magnitude = np.abs(spectrum)
    spectrum /= np.maximum(magnitude, np.finfo(np.float32).tiny, out=magnitude)
    return spectrum


def _mean_free(images: np.ndarray) -> np.ndarray:
    """float32 images minus their means."""
    return images - images.mean(axis=(-2, -1), keepdims=True, dtype=np.float32)


def make_reference(image: np.ndarray, smooth_sigma: float, workers: int) -> Reference:
    """A `Reference` from a (Y, X) image, or a stack of (k, Y, X) images of the same size."""
    image = _mean_free(np.asarray(image, dtype=np.float32).reshape(-1, *np.shape(image)[-2:]))
    height, width = image.shape[-2:]
    weights = spectral_filter(height, width, smooth_sigma)
    spectrum = np.conj(_whitened(image, taper(height), taper(width), workers)) * weights
    perfect = float((_half_weights(width) * weights).sum() / (height * width))
    return Reference(image, spectrum.astype(np.complex64), weights, perfect, workers)


def _half_weights(width: int) -> np.ndarray:
    """(X // 2 + 1,) multiplicity of each column of a half spectrum in the full one."""
    a = np.full(width // 2 + 1, 2.0)
    a[0] = 1
    if width % 2 == 0:
        a[-1] = 1
    return a


def estimate(images: np.ndarray, ref: Reference, center: np.ndarray, radius: float,
             which: np.ndarray | None = None,
             retaper_beyond: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Displacement of (m, Y, X) images relative to the reference, searched within ``radius``
    pixels (each axis) of ``center``.

    Two passes: both tapered alike (whose common taper pulls the peak towards 0 by up to ~3% of
    the shift), then the reference's taper moved with the first estimate, so that the two
    tapered images are displaced copies of each other. Images are processed `BATCH_PIXELS` at a
    time (many small temporaries are faster than a few large ones).

    Args:
        images: (m, Y, X) float32.
        ref: from `make_reference`.
        center: (m, 2) or (2,) float (dy, dx) pixels, the middle of the search window.
        radius: half-width of the search window (pixels), below half the image's side.
        which: (m,) int, the reference of ``ref``'s stack each image is compared with (None:
            the first).
        retaper_beyond: the second pass only for images found farther than this (pixels, each
            axis) from 0 in the first (the shared taper's pull is ~3% of the shift: skipping
            it below 1 px costs at most ~0.03 px and saves 40% of the time).

    Returns:
        shifts (m, 2) float64 (dy, dx) pixels (``center`` where no correlation is positive,
        e.g. a blank image), and peaks (m,) float32: the correlation at the peak over that of a
        perfect match (1: identical up to the shift; near 0: no match).
    """
    m, height, width = images.shape
    center = np.broadcast_to(np.asarray(center, dtype=np.float64), (m, 2))
    which = np.zeros(m, dtype=np.int64) if which is None else np.asarray(which)
    shifts = np.empty((m, 2))
    peaks = np.empty(m, dtype=np.float32)
    step = max(1, BATCH_PIXELS // (height * width))
    for i in range(0, m, step):
        part = slice(i, i + step)
        shifts[part], peaks[part] = _estimate_batch(images[part], ref, center[part], radius,
                                                    which[part], retaper_beyond)
    return shifts, peaks


def _estimate_batch(images: np.ndarray, ref: Reference, center: np.ndarray, radius: float,
                    which: np.ndarray, retaper_beyond: float) -> tuple[np.ndarray, np.ndarray]:
    """`estimate` of one batch: (m, 2) shifts and (m,) normalized peaks."""
    height, width = images.shape[-2:]
    single = ref.image.shape[0] == 1  # one reference for all: broadcast, not copied
    frames = _whitened(_mean_free(images), taper(height), taper(width), ref.workers)
    cross = frames * (ref.spectrum[0] if single else ref.spectrum[which])
    surface = scipy.fft.irfft2(cross, s=(height, width), workers=ref.workers)
    shifts, peaks = _refine(cross, _integer_peak(surface, center, radius), width, reach=1.0)
    shifts = np.clip(shifts, center - radius, center + radius)
    again = np.flatnonzero(np.abs(shifts).max(axis=1) > retaper_beyond)
    if again.size:
        first = shifts[again]
        moved = np.conj(_whitened(ref.image[0] if single else ref.image[which[again]],
                                  taper(height, -first[:, 0]), taper(width, -first[:, 1]),
                                  ref.workers))
        moved *= ref.weights
        moved *= frames[again]
        shifts[again], peaks[again] = _refine(moved, first, width, reach=1.25)
    # an image without any positive correlation (blank, or pure noise) has no displacement
    shifts = np.where(peaks[:, None] > 0, np.clip(shifts, center - radius, center + radius),
                      center)
    return shifts, peaks / ref.perfect


def _integer_peak(surface: np.ndarray, center: np.ndarray, radius: float) -> np.ndarray:
    """(m, 2) integer (dy, dx) of the maximum of each (Y, X) correlation ``surface`` within
    ``radius`` of ``center`` (m, 2); the surface is periodic, so negative shifts wrap."""
    m, height, width = surface.shape
    base = np.rint(center).astype(np.int64)
    reach = int(np.floor(radius)) + 1
    offsets = np.arange(-reach, reach + 1)
    ys = base[:, :1] + offsets  # (m, w) candidate shifts
    xs = base[:, 1:] + offsets
    values = surface[np.arange(m)[:, None, None], (ys % height)[:, :, None],
                     (xs % width)[:, None, :]]
    inside = ((np.abs(ys - center[:, :1]) <= radius)[:, :, None]
              & (np.abs(xs - center[:, 1:]) <= radius)[:, None, :])
    values = np.where(inside, values, -np.inf).reshape(m, -1)
    iy, ix = np.divmod(np.argmax(values, axis=1), offsets.size)
    return np.stack([ys[np.arange(m), iy], xs[np.arange(m), ix]], axis=1)


def _refine(cross: np.ndarray, around: np.ndarray, width: int,
            reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Subpixel (m, 2) shifts and (m,) peak values from (m, Y, X // 2 + 1) cross-power spectra,
    evaluated exactly on a 1/UPSAMPLE-pixel grid within ``reach`` pixels of ``around`` (m, 2)."""
    m, height, _ = cross.shape
    steps = np.arange(-int(reach * UPSAMPLE), int(reach * UPSAMPLE) + 1) / UPSAMPLE
    ky = scipy.fft.fftfreq(height, 1 / height)
    kx = scipy.fft.rfftfreq(width, 1 / width)
    # c(q) = Σ_k cross(k) e^{2πi k·q / N} at q = around + steps: the ramp to ``around`` is
    # folded into each image's column matrix and applied to the row sums, and the rows' DFT
    # matrix is shared (BLAS products; no full-size temporary beyond one per batch)
    ramp_y = np.exp(2j * np.pi * around[:, :1] * ky / height).astype(np.complex64)  # (m, Y)
    ramp_x = np.exp(2j * np.pi * around[:, 1:] * kx / width) * _half_weights(width)  # (m, X')
    cols = (ramp_x[:, :, None] * np.exp(2j * np.pi * kx[:, None] * steps / width)).astype(
        np.complex64)  # (m, X', u)
    rows = np.exp(2j * np.pi * steps[:, None] * ky / height).astype(np.complex64)  # (u, Y)
    partial = np.empty((m, height, steps.size), dtype=np.complex64)
    rows_at_once = max(1, _SMALL_PRODUCT // (cross.shape[2] * steps.size))
    # small products, in this thread only: BLAS threads woken for each cost 3-10× on a quiet
    # machine and 10-25× on a busy one (bench/motion_accuracy.py)
    with threadpool_limits(limits=1, user_api="blas"):
        for y in range(0, height, rows_at_once):
            part = slice(y, y + rows_at_once)
            np.matmul(cross[:, part], cols, out=partial[:, part])
    partial *= ramp_y[:, :, None]
    fine = np.real(rows @ partial) / (height * width)  # (m, u, u)
    qy = around[:, :1] + steps  # (m, u) positions where the correlation was evaluated
    qx = around[:, 1:] + steps
    flat = fine.reshape(m, -1)
    iy, ix = np.divmod(np.argmax(flat, axis=1), steps.size)
    idx = np.arange(m)
    last = steps.size - 1
    jy, jx = np.clip(iy, 1, last - 1), np.clip(ix, 1, last - 1)  # a maximum on the grid's edge
    dy = np.where(iy == jy, _parabola(fine[idx, jy - 1, ix], fine[idx, jy, ix],  # is not moved
                                      fine[idx, jy + 1, ix]), 0.0)
    dx = np.where(ix == jx, _parabola(fine[idx, iy, jx - 1], fine[idx, iy, jx],
                                      fine[idx, iy, jx + 1]), 0.0)
    shifts = np.stack([qy[idx, iy] + dy / UPSAMPLE, qx[idx, ix] + dx / UPSAMPLE], axis=1)
    return shifts, flat[idx, iy * steps.size + ix]


def _parabola(left: np.ndarray, middle: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Offset (in grid steps, within ±0.5) of the vertex of the parabola through three equally
    spaced values around a maximum; 0 where they are flat."""
    curvature = left - 2 * middle + right
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    return np.clip(offset, -0.5, 0.5)

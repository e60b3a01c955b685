"""Simulated calcium-imaging movies with known cells, activity, background, noise and motion.

The scene is a resting image plus activity, in expected photons per pixel and frame:

    scene_t = background + Σ_k neuropil_images[k] · neuropil_traces[k, t]
              + Σ_i footprints[:, i] · f0[i] · (1 + calcium[i, t])

Cells are soma-like elliptical Gaussians whose activity comes from ``simulate.traces``; the
background is a smooth, textured, vignetted image, and the neuropil adds slow, smooth
fluctuations (mean 0 over time) around it. A one-photon movie (``out_of_focus`` > 0) also
shows blurred, active cells out of focus, ``+ Σ_j out_of_focus_images[:, j] ·
(out_of_focus_calcium[j, t] − its mean)``, their mean folded into the background. Frame t shows the scene moved by a displacement
field d_t, counted with Poisson shot noise plus Gaussian read noise:

    movie[t, y, x] ~ Poisson(scene_t(y - dy_t(y, x), x - dx_t(y, x))) + read_noise · ε

**Sign convention.** ``d_t(y, x) = (dy, dx)`` means the content of frame t is the scene moved by
+dy rows and +dx columns: a bright dot at scene row 50 appears at row 50 + dy of frame t. The
field is sampled at the frame's pixels and is ``shifts[t]`` (rigid) plus an optional smooth
non-rigid part (see ``SimulatedMovie.displacement``). Registration estimates d_t and undoes it:
``corrected(y, x) = frame(y + dy, x + dx)`` (exact for rigid motion). The motion itself is made
in `calscope.simulate.motion_field`, the background, neuropil and out-of-focus light in
`calscope.simulate.background`.

The scene is rendered on a canvas padded beyond the field of view by more than the largest
displacement, so the edges of every frame show scene content, never padding. Cells, activity,
background, neuropil, motion and each noise draw from their own random streams, and the scene
inside the field of view does not depend on the padding: for a seed, changing ``motion_px`` or
``nonrigid_px`` changes the motion only, so a moving movie can be compared with its still twin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import scipy.sparse

from calscope.errors import InputError
from calscope.simulate.background import neuropil_components, out_of_focus_cells, resting_image
from calscope.simulate.indicators import get_indicator
from calscope.simulate.spikes import Seed, make_rng
from calscope.simulate.motion_field import (displacement_field, nonrigid_waves, rigid_shifts,
                                            warp_scene)
from calscope.simulate.traces import check_number, traces

CELL_CUTOFF = 0.05
"""Footprints are set to zero below this fraction of their peak, so they are sparse."""

MIN_SEPARATION, MAX_MISSES = 1.5, 2000
"""Cell centres are at least this many cell radii apart (neighbours touch, never pile up);
placement gives up after this many random candidates in a row that are too close."""

CHUNK_FRAMES, EDGE_PX = 64, 4
"""Frames rendered at once (bounding the working memory), and canvas pixels beyond the largest
displacement (room for the cubic spline's support)."""


@dataclass(frozen=True)
class SimulatedMovie:
    """A simulated movie and its ground truth.

    Attributes:
        movie: (T, Y, X) float32 recorded frames in photon counts (Poisson counts plus
            Gaussian read noise, so a few values may be slightly negative).
        footprints: (Y*X, cells) float32 CSC matrix, C order, non-negative; each column's max
            is exactly 1, so ``f0`` is a cell's resting brightness at its peak pixel.
        calcium: (cells, T) float32 noise-free ΔF/F of each cell.
        spikes: (cells, T) float32 true spike counts per frame.
        background: (Y, X) float32 mean resting image without cells and motion (photons per
            frame); the neuropil fluctuates around it.
        shifts: (T, 2) float32 rigid displacement (dy, dx) of each frame (pixels, sign
            convention in the module docstring).
        fs: frame rate (Hz).
        f0: (cells,) float32 resting brightness of each cell at its peak pixel (photons per
            frame), on top of the background.
        centers: (cells, 2) float32 (y, x) centre of each cell in the scene (pixels).
        neuropil_images: (K, Y, X) float32 spatial neuropil components (photons per frame).
        neuropil_traces: (K, T) float32 neuropil time courses (ΔF/F, mean 0 over time).
        nonrigid_waves: (2, J, 2) float32 wave vectors (cycles per field of view along y, x)
            of the J sinusoids of the non-rigid dy (first row) and dx (second row) fields.
        nonrigid_phases: (2, J) float32 phases (radians) of those sinusoids.
        nonrigid_amplitudes: (T, 2, J) float32 amplitudes (pixels) of those sinusoids per frame;
            all zero when the motion is rigid.
        brightness: photons per frame of a pixel of unit fluorescence, the mean of the
            background over the field of view.
        indicator: name of the indicator preset.
        out_of_focus_images: (Y*X, J) float32 CSC resting images (photons per frame) of the
            J out-of-focus blurred cells (``out_of_focus``; J = 0 without them).
        out_of_focus_calcium: (J, T) float32 their ΔF/F; ``background`` holds their mean.
    """

    movie: np.ndarray
    footprints: scipy.sparse.csc_matrix
    calcium: np.ndarray
    spikes: np.ndarray
    background: np.ndarray
    shifts: np.ndarray
    fs: float
    f0: np.ndarray
    centers: np.ndarray
    neuropil_images: np.ndarray
    neuropil_traces: np.ndarray
    nonrigid_waves: np.ndarray
    nonrigid_phases: np.ndarray
    nonrigid_amplitudes: np.ndarray
    brightness: float
    indicator: str
    out_of_focus_images: scipy.sparse.csc_matrix
    out_of_focus_calcium: np.ndarray

    def displacement(self, frames: int | slice | np.ndarray | None = None) -> np.ndarray:
        """Full displacement field (rigid + non-rigid) of the requested frames.

        Args:
            frames: a frame index, slice or index array; None for all frames.

        Returns:
            (n, 2, Y, X) float32 (dy, dx) in pixels at every frame pixel: frame t's content at
            (y, x) is the scene's content at (y - dy, x - dx).
        """
        n_frames = self.movie.shape[0]
        every = np.arange(n_frames)
        try:
            index = every if frames is None else np.atleast_1d(every[frames])
        except IndexError as error:
            raise InputError(f"frames: {frames!r} is not a valid selection of the {n_frames} "
                             f"frames ({error}); use indices in [0, {n_frames})") from None
        return displacement_field(self.shifts[index], self.nonrigid_amplitudes[index],
                                  self.nonrigid_waves, self.nonrigid_phases,
                                  self.movie.shape[1:])


def movie(
    n_cells: int = 30,
    n_frames: int = 600,
    shape: tuple[int, int] = (128, 128),
    fs: float = 30.0,
    *,
    indicator: str = "GCaMP6f",
    rate_hz: float = 0.5,
    cell_radius_px: float = 5.0,
    snr: float = 5.0,
    motion_px: float = 3.0,
    nonrigid_px: float = 0.0,
    brightness: float | None = None,
    contrast: float = 1.5,
    neuropil: float = 0.03,
    read_noise: float = 1.0,
    out_of_focus: float = 0.0,
    seed: Seed = 0,
) -> SimulatedMovie:
    """Simulate a (n_frames, *shape) calcium-imaging movie with known ground truth.

    Args:
        n_cells: number of cells (≥ 1), placed at random inside the field of view, centres at
            least ``1.5 · cell_radius_px`` apart and ``cell_radius_px`` from the edges.
        n_frames: number of frames (≥ 1).
        shape: (Y, X) field of view in pixels.
        fs: frame rate (Hz).
        indicator: indicator preset (see ``INDICATORS``) of the cells' calcium.
        rate_hz: mean firing rate over cells (Hz).
        cell_radius_px: typical cell radius (pixels), where a footprint falls to e⁻² of its
            peak; each cell's size, elongation and orientation vary around it.
        snr: median over cells of the single-spike peak ΔF/F over the shot and read noise σ of
            the cell's footprint-weighted trace (a typical single-spike amplitude; neighbours,
            neuropil and motion aside). Sets ``brightness``; ignored if that is given.
        motion_px: largest rigid shift along either axis (pixels): max |shifts| equals it.
        nonrigid_px: largest non-rigid displacement along either axis (pixels) beyond the rigid
            shift; 0 for rigid motion.
        brightness: photons per frame of a pixel of unit fluorescence (the mean background).
        contrast: mean resting brightness of a cell's peak pixel over the local background
            (each cell's is drawn within ± 30 % of it).
        neuropil: standard deviation over time of each neuropil component's ΔF/F.
        read_noise: standard deviation of the Gaussian read noise (photons).
        out_of_focus: the out-of-focus light of a one-photon movie: blurred cells (Gaussian
            blobs of σ = 2 · ``cell_radius_px``, one per (4 · ``cell_radius_px``)² of the
            field and of a margin of 3 σ around it) whose resting brightness at the peak is
            this many times the local background, active like the cells (the same indicator
            and rate). ``snr`` does not count their shot noise. 0 (the default): none, as in
            a two-photon movie.
        seed: int seed or ``numpy.random.Generator``; the same seed gives the same movie.

    Returns:
        A ``SimulatedMovie``.

    Raises:
        InputError: an argument out of range, or cells that do not fit in the field of view.
    """
    preset = get_indicator(indicator)
    shape = _check_arguments(n_cells, n_frames, shape, fs, cell_radius_px)
    for name, value, strict in (("snr", snr, True), ("motion_px", motion_px, False),
                                ("nonrigid_px", nonrigid_px, False),
                                ("contrast", contrast, True), ("neuropil", neuropil, False),
                                ("read_noise", read_noise, False)):
        check_number(name, value, minimum=0.0, strict=strict)
    check_number("out_of_focus", out_of_focus, minimum=0.0, strict=False)
    if brightness is not None:
        check_number("brightness", brightness, minimum=0.0, strict=True)
    # a ninth stream for the out-of-focus light leaves the first eight, and so every movie
    # made without it, as they were
    (activity_rng, cell_rng, background_rng, neuropil_rng, motion_rng, nonrigid_rng, shot_rng,
     read_rng, blur_rng) = make_rng(seed).spawn(9)

    activity = traces(n_cells, n_frames, fs, indicator=preset.name, rate_hz=rate_hz,
                      seed=activity_rng)
    shifts = rigid_shifts(n_frames, fs, motion_px, motion_rng)
    waves, phases, amplitudes = nonrigid_waves(n_frames, fs, shape, nonrigid_px, nonrigid_rng)
    reach = np.abs(shifts).max() + np.abs(amplitudes).sum(axis=2).max(initial=0.0)
    pad = math.ceil(reach) + EDGE_PX
    Y, X = shape
    fov = (slice(pad, pad + Y), slice(pad, pad + X))

    centers = _place_cells(n_cells, shape, cell_radius_px, cell_rng)
    canvas_cells = _footprints(centers, shape, pad, cell_radius_px, cell_rng)
    canvas_bg = resting_image(shape, pad, background_rng)  # fluorescence, mean 1 over the view
    centre_bg = canvas_bg[fov][tuple(np.round(centers).astype(int).T)]
    f0 = centre_bg * contrast * cell_rng.uniform(0.7, 1.3, n_cells)
    fov_rows = ((np.arange(Y)[:, None] + pad) * canvas_bg.shape[1] + np.arange(X) + pad).ravel()
    footprints = canvas_cells.tocsr()[fov_rows].tocsc()
    if brightness is None:
        brightness = _brightness_for(snr, preset.amplitude, footprints, canvas_bg[fov].ravel(),
                                     f0, read_noise)
    canvas_bg = brightness * canvas_bg  # photons from here on
    f0 = (brightness * f0).astype(np.float32)
    weights, neuropil_traces = neuropil_components(shape, pad, n_frames, fs, neuropil,
                                                  neuropil_rng)
    canvas_neuropil = canvas_bg * weights
    blobs, blob_calcium = out_of_focus_cells(shape, pad, cell_radius_px, n_frames, fs,
                                              preset.name, rate_hz, blur_rng,
                                              out_of_focus > 0)
    blobs = scipy.sparse.csc_matrix(blobs.multiply(out_of_focus * canvas_bg.reshape(-1, 1)))
    canvas_bg = canvas_bg + (blobs @ (1.0 + blob_calcium.mean(axis=1))).reshape(canvas_bg.shape)
    blob_changes = blob_calcium - blob_calcium.mean(axis=1, keepdims=True)
    calcium = activity.calcium.astype(np.float32)

    frames = np.empty((n_frames, Y, X), dtype=np.float32)
    for start in range(0, n_frames, CHUNK_FRAMES):
        chunk = slice(start, min(start + CHUNK_FRAMES, n_frames))
        cells = canvas_cells @ (f0[:, None] * (1.0 + calcium[:, chunk]))
        scene = ((cells + blobs @ blob_changes[:, chunk]).T.reshape(-1, *canvas_bg.shape)
                 + canvas_bg
                 + np.tensordot(neuropil_traces[:, chunk].T, canvas_neuropil, axes=1))
        field = displacement_field(shifts[chunk], amplitudes[chunk], waves, phases, shape)
        expected = warp_scene(scene, field, pad)
        counts = shot_rng.poisson(np.maximum(expected, 0.0)).astype(np.float32)
        frames[chunk] = counts + read_noise * read_rng.standard_normal(counts.shape)

    return SimulatedMovie(
        movie=frames, footprints=footprints.astype(np.float32), calcium=calcium,
        spikes=activity.spikes.astype(np.float32),
        background=canvas_bg[fov].astype(np.float32), shifts=shifts, fs=float(fs), f0=f0,
        centers=centers.astype(np.float32),
        neuropil_images=canvas_neuropil[(slice(None), *fov)].astype(np.float32),
        neuropil_traces=neuropil_traces, nonrigid_waves=waves,
        nonrigid_phases=phases, nonrigid_amplitudes=amplitudes, brightness=float(brightness),
        indicator=preset.name,
        out_of_focus_images=scipy.sparse.csr_matrix(blobs)[fov_rows].tocsc().astype(np.float32),
        out_of_focus_calcium=blob_calcium)


def _place_cells(n_cells: int, shape: tuple[int, int], radius: float,
                 rng: np.random.Generator) -> np.ndarray:
    """(n_cells, 2) random (y, x) centres ``radius`` from the edges, ``MIN_SEPARATION`` radii
    apart, by random sequential placement (giving up after ``MAX_MISSES`` misses in a row)."""
    high = np.array(shape) - 1.0 - radius
    centers = np.empty((n_cells, 2))
    placed = misses = 0
    while placed < n_cells:
        candidate = rng.uniform(radius, high)
        if np.all(np.hypot(*(centers[:placed] - candidate).T) >= MIN_SEPARATION * radius):
            centers[placed] = candidate
            placed, misses = placed + 1, 0
        elif (misses := misses + 1) > MAX_MISSES:
            raise InputError(f"n_cells={n_cells} cells of radius {radius:g} px do not fit in a "
                             f"{shape[0]}×{shape[1]} field of view {MIN_SEPARATION:g} radii "
                             f"apart (placed {placed}); use fewer or smaller cells, or a "
                             "larger shape")
    return centers


def _footprints(centers: np.ndarray, shape: tuple[int, int], pad: int, radius: float,
                rng: np.random.Generator) -> scipy.sparse.csc_matrix:
    """(Y' * X', cells) elliptical Gaussian footprints on the canvas (Y', X') = (Y + 2 pad,
    X + 2 pad) of a (Y, X) field of view, for ``centers`` in field-of-view pixels. Peak pixel 1,
    zero below ``CELL_CUTOFF``; σ ≈ radius / 2 with random size, elongation and orientation.
    The values do not depend on ``pad``."""
    canvas = (shape[0] + 2 * pad, shape[1] + 2 * pad)
    n_cells = centers.shape[0]
    size = radius / 2 * np.exp(0.1 * rng.standard_normal(n_cells))
    elongation = np.sqrt(rng.uniform(1.0, 1.5, n_cells))
    angle = rng.uniform(0.0, np.pi, n_cells)
    rows, cols, values = [], [], []
    for cell, ((cy, cx), s, e, a) in enumerate(zip(centers, size, elongation, angle)):
        half = math.ceil(s * e * math.sqrt(2 * math.log(1 / CELL_CUTOFF))) + 1
        offsets = np.arange(-half, half + 2)
        dy, dx = offsets[:, None] - (cy - int(cy)), offsets[None, :] - (cx - int(cx))
        u, v = dy * math.cos(a) + dx * math.sin(a), dx * math.cos(a) - dy * math.sin(a)
        image = np.exp(-0.5 * ((u / (s * e)) ** 2 + (v * e / s) ** 2))
        image /= image.max()
        ys, xs = int(cy) + pad + offsets, int(cx) + pad + offsets
        keep = ((image >= CELL_CUTOFF) & ((ys >= 0) & (ys < canvas[0]))[:, None]
                & ((xs >= 0) & (xs < canvas[1]))[None, :])
        rows.append((ys[:, None] * canvas[1] + xs[None, :])[keep])
        cols.append(np.full(keep.sum(), cell))
        values.append(image[keep])
    return scipy.sparse.csc_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=(canvas[0] * canvas[1], n_cells))


def _brightness_for(snr: float, peak_dff: float, footprints: scipy.sparse.csc_matrix,
                    background: np.ndarray, f0: np.ndarray, read_noise: float) -> float:
    """Photons per unit fluorescence at which the median cell's footprint-weighted trace has
    single-spike SNR ``snr``: for brightness B its peak is B·k1/Σa and its noise variance
    (B·k2 + read_noise²·k3)/(Σa)², with footprint a, background b and resting peak f0."""
    squared = footprints.multiply(footprints)
    energy = np.asarray(squared.sum(axis=0)).ravel()  # Σa² per cell
    k1 = peak_dff * f0 * energy
    cubed = np.asarray(squared.multiply(footprints).sum(axis=0)).ravel()  # Σa³ per cell
    k2 = background @ squared + f0 * cubed
    k3 = read_noise**2 * energy
    per_cell = (snr**2 * k2 + np.sqrt(snr**4 * k2**2 + 4 * (k1 * snr) ** 2 * k3)) / (2 * k1**2)
    return float(np.median(per_cell))


def _check_arguments(n_cells: int, n_frames: int, shape: tuple[int, int], fs: float,
                     radius: float) -> tuple[int, int]:
    """Raise InputError unless the sizes, frame rate and radius are usable; return shape."""
    for name, value in (("n_cells", n_cells), ("n_frames", n_frames)):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
            raise InputError(f"{name} must be an integer ≥ 1, got {value!r}")
    check_number("fs", fs, minimum=0.0, strict=True)
    check_number("cell_radius_px", radius, minimum=1.0)
    smallest = math.ceil(2 * radius) + 2
    if (np.shape(shape) != (2,) or not all(isinstance(n, Integral) for n in shape)
            or min(shape) < smallest):
        raise InputError(f"shape must be two integers (Y, X), each ≥ {smallest} for cells of "
                         f"radius {radius:g} px, got {shape!r}")
    return int(shape[0]), int(shape[1])

"""`register`: measure the motion of a movie, chunk by chunk."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from calscope.config import MotionSettings
from calscope.errors import InputError
from calscope.frames import MovieLike, movie_shape, read_frames
from calscope.motion.blocks import block_grid, block_reference, block_shifts
from calscope.motion.lines import correct_lines, line_offset
from calscope.motion.phase import estimate, make_reference
from calscope.motion.result import Registration
from calscope.motion.template import build_template, template_frames

_DEFAULT_SHIFT_FRACTION = 0.1  # max_shift=None: this fraction of the frame's smaller side


def register(movie: MovieLike, settings: MotionSettings | None = None, *,
             progress: Callable[[int, int], None] | None = None) -> Registration:
    """Rigid (and, with ``settings.nonrigid``, piecewise-rigid) motion of a movie.

    A bidirectional scan's line offset is undone first when ``settings.bidi_offset`` asks
    (`calscope.motion.lines`; it is measured on the mean of the template frames either
    way). A template is built from ``settings.template_frames`` frames
    spread over the recording (`calscope.motion.template`); then every frame is phase-correlated with it
    (`calscope.motion.phase`) and, for non-rigid registration, each overlapping block with the
    template's block (`calscope.motion.blocks`). The movie is read ``settings.chunk_frames`` at a
    time, never whole: memory is bounded by the chunk (`MotionSettings.chunk_frames`).

    Args:
        movie: (T, Y, X) frames, any real dtype: an ndarray, np.memmap, h5py dataset, zarr
            array or anything else with ``.shape`` and slicing along time.
        settings: `MotionSettings` (defaults: rigid search ±10% of the smaller side, then
            128-pixel blocks within ±5 pixels).
        progress: called as ``progress(frames done, T)`` after each chunk.

    Returns:
        `Registration` with the (T, 2) rigid shifts, template, (T,) correlation, when
        non-rigid the (T, n_blocks_y, n_blocks_x, 2) block shifts and block centres, and the
        line offset undone. Apply it
        with `apply_registration` or `RegisteredMovie`.

    Raises:
        InputError: not a 3-D movie, fewer than 2 frames, frames under 16 pixels a side, frames
            holding NaN or inf, a ``max_shift`` of half the frame or more, or a
            ``bidi_offset`` of half the width or more.
    """
    settings = MotionSettings() if settings is None else settings
    n_frames, height, width = movie_shape(movie)
    max_shift = search_radius(settings, height, width)
    sample = template_frames(movie, n_frames, settings)
    measured = line_offset(sample.mean(axis=0, dtype=np.float64))
    offset = bidi_offset(settings, measured, width)
    template = build_template(correct_lines(sample, offset), settings, max_shift)
    del sample
    ref = make_reference(template, settings.smooth_sigma, settings.workers)
    grid = (block_grid(height, width, settings.block_size, settings.block_overlap)
            if settings.nonrigid else None)
    blocks_ref = (block_reference(template, grid, settings.smooth_sigma, settings.workers)
                  if grid is not None else None)
    shifts = np.empty((n_frames, 2), dtype=np.float32)
    correlation = np.empty(n_frames, dtype=np.float32)
    blocks = np.empty((n_frames, *grid.shape, 2), dtype=np.float32) if grid is not None else None
    for start in range(0, n_frames, settings.chunk_frames):
        stop = min(start + settings.chunk_frames, n_frames)
        frames = correct_lines(read_frames(movie, start, stop), offset)
        found, correlation[start:stop] = estimate(frames, ref, np.zeros(2), max_shift)
        shifts[start:stop] = found
        if grid is not None and blocks is not None and blocks_ref is not None:
            blocks[start:stop] = block_shifts(frames, found, grid, blocks_ref,
                                              settings.max_block_shift)
        if progress is not None:
            progress(stop, n_frames)
    return Registration(shifts, template, correlation, blocks,
                        grid.centers if grid is not None else None, settings, offset, measured)


def bidi_offset(settings: MotionSettings, measured: float, width: int) -> float:
    """The line offset to undo (pixels; `calscope.motion.lines`): ``settings.bidi_offset``,
    the ``measured`` one when 'auto', 0 when None; InputError when a given offset is not
    below half the frame's ``width``."""
    chosen = settings.bidi_offset
    if chosen is None:
        return 0.0
    if chosen == "auto":
        return measured
    if not abs(chosen) < width / 2:
        raise InputError(f"bidi_offset: {chosen:g} pixels is not below half the frame's width "
                         f"({width} px); give the offset of the odd rows in pixels, or 'auto'")
    return float(chosen)


def search_radius(settings: MotionSettings, height: int, width: int) -> float:
    """The rigid search radius (pixels): ``settings.max_shift``, or 10% of the smaller side;
    InputError when it reaches half the frame (phase correlation is periodic)."""
    side = min(height, width)
    radius = _DEFAULT_SHIFT_FRACTION * side if settings.max_shift is None else settings.max_shift
    if radius >= side / 2 - 1:
        raise InputError(f"max_shift: {radius:g} pixels is too large for {height} × {width} "
                         f"frames; phase correlation finds shifts below {side / 2 - 1:g} pixels "
                         "(half the smaller side, less one): lower max_shift")
    return float(radius)

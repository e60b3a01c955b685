"""`Registration`, the result of motion correction, and `apply_registration`, which undoes the
motion it measured on any frames of the movie."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from calscope.config import MotionSettings
from calscope.errors import InputError
from calscope.motion.blocks import interpolation_weights, pixel_field
from calscope.motion.lines import correct_lines
from calscope.frames import check_finite
from calscope.motion.warp import shift_frames, valid_pixels, warp_frame

FrameSelection = int | slice | range | Sequence[int] | np.ndarray
_FIELD_FRAMES = 16  # frames whose per-pixel displacement is held at once when warping


@dataclass(frozen=True, eq=False)
class Registration:
    """Motion measured in a (T, Y, X) movie.

    Sign convention: ``shifts[t] = (dy, dx)`` is the displacement of frame t's content from the
    template, ``frame_t(y, x) ≈ template(y - dy, x - dx)`` (a dot at template row 50 is at row
    50 + dy in frame t); the registered frame is ``frame_t(y + dy, x + dx)``. Block shifts and
    `displacement` follow the same sign.

    Attributes:
        shifts: (T, 2) float32 rigid (dy, dx), pixels.
        template: (Y, X) float32 the reference image the frames were aligned to.
        correlation: (T,) float32 peak phase correlation of each frame with the template, as a
            fraction of a perfect match's (1: the template itself; low: a suspicious frame).
        block_shifts: (T, n_blocks_y, n_blocks_x, 2) float32 displacement of each block beyond
            the rigid shift, pixels (None: rigid only).
        block_centers: block centre rows (n_blocks_y,) and columns (n_blocks_x,), pixels
            (None: rigid only).
        settings: the settings used.
        bidi_offset: the line offset of a bidirectional scan undone before everything else
            (pixels, `calscope.motion.lines`; 0: none): the shifts and template are those of
            the corrected frames.
        raw_line_offset: the line offset measured in the movie as read (the mean of the
            template frames), whether undone or not (pixels; 0 when not measured).
    """

    shifts: np.ndarray
    template: np.ndarray
    correlation: np.ndarray
    block_shifts: np.ndarray | None
    block_centers: tuple[np.ndarray, np.ndarray] | None
    settings: MotionSettings
    bidi_offset: float = 0.0
    raw_line_offset: float = 0.0

    @property
    def n_frames(self) -> int:
        """T, the number of frames registered."""
        return int(self.shifts.shape[0])

    @cached_property
    def _weights(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(Y, n_blocks_y) and (X, n_blocks_x) interpolation weights of the block field."""
        if self.block_centers is None:
            return None
        height, width = self.template.shape
        return (interpolation_weights(self.block_centers[0], height),
                interpolation_weights(self.block_centers[1], width))

    def displacement(self, frames: FrameSelection) -> np.ndarray:
        """(n, 2, Y, X) float32 displacement (dy, dx) at every pixel of the selected frames
        (an index, a slice, or indices): the rigid shift plus the block field interpolated
        between the block centres."""
        index = frame_indices(frames, self.n_frames)
        rigid = self.shifts[index][:, :, None, None]
        if self._weights is None or self.block_shifts is None:
            return np.broadcast_to(rigid, (index.size, 2, *self.template.shape)).copy()
        return rigid + pixel_field(self.block_shifts[index], *self._weights)

    @property
    def line_offset_left(self) -> float:
        """The line offset left in the registered frames (pixels): measured less undone."""
        return self.raw_line_offset - self.bidi_offset

    def edge_px(self) -> int:
        """Width (pixels) of the frame's edge strip that registration may fill by repeating
        the edge: the largest rigid plus block shift plus the line offset, rounded up (CNMF's
        ``border_px``)."""
        largest = float(np.abs(self.shifts).max(initial=0.0)) + abs(self.bidi_offset)
        if self.block_shifts is not None:
            largest += float(np.abs(self.block_shifts).max(initial=0.0))
        return int(np.ceil(largest))

    def arrays(self) -> dict[str, np.ndarray]:
        """The registration as named arrays (a results bundle's; `from_arrays` reverses it)."""
        arrays = {"shifts": self.shifts, "template": self.template,
                  "correlation": self.correlation,
                  "bidi_offset": np.asarray(self.bidi_offset, dtype=np.float64),
                  "raw_line_offset": np.asarray(self.raw_line_offset, dtype=np.float64)}
        if self.block_shifts is not None and self.block_centers is not None:
            arrays["block_shifts"] = self.block_shifts
            arrays["block_center_rows"], arrays["block_center_columns"] = self.block_centers
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], settings: MotionSettings
                    ) -> Registration:
        """The registration that `arrays` gave ``arrays``, measured with ``settings``."""
        blocks = "block_shifts" in arrays
        return cls(shifts=np.asarray(arrays["shifts"], dtype=np.float32),
                   template=np.asarray(arrays["template"], dtype=np.float32),
                   correlation=np.asarray(arrays["correlation"], dtype=np.float32),
                   block_shifts=(np.asarray(arrays["block_shifts"], dtype=np.float32)
                                 if blocks else None),
                   block_centers=((np.asarray(arrays["block_center_rows"]),
                                   np.asarray(arrays["block_center_columns"]))
                                  if blocks else None),
                   settings=settings,
                   bidi_offset=float(arrays.get("bidi_offset", 0.0)),
                   raw_line_offset=float(arrays.get("raw_line_offset", 0.0)))

    def valid_mask(self) -> np.ndarray:
        """(Y, X) bool: pixels that come from inside the frame in every registered frame (the
        others repeat the nearest edge pixel of some frame, or, within the line offset of
        the edge, of an odd row); crop to it before extracting cells."""
        if self.block_shifts is None:
            return self._valid(self.shifts[:, :, None, None])
        mask = np.ones(self.template.shape, dtype=bool)
        for start in range(0, self.n_frames, _FIELD_FRAMES):
            mask &= self._valid(self.displacement(slice(start, start + _FIELD_FRAMES)))
        return mask

    def _valid(self, field: np.ndarray) -> np.ndarray:
        """(Y, X) bool `valid_pixels` of an (n, 2, Y, X) or (n, 2, 1, 1) displacement, for
        the even rows and for the odd rows, which are read a further ``bidi_offset`` along
        x."""
        valid = valid_pixels(field, self.template.shape)
        if self.bidi_offset:
            odd = np.array(field, dtype=np.float64)
            odd[:, 1] += self.bidi_offset
            valid &= valid_pixels(odd, self.template.shape)
        return valid

    def registered(self, frames: np.ndarray, index: np.ndarray) -> np.ndarray:
        """(n, Y, X) float32 frames (float32, finite) of the movie's frames ``index`` (n,)
        resampled to the template: the line offset undone, then ``frame(y + dy, x + dx)``,
        bilinear, positions outside the frame taking the nearest edge pixel."""
        frames = correct_lines(frames, self.bidi_offset)
        if self.block_shifts is None:
            return shift_frames(frames, self.shifts[index])
        out = np.empty(frames.shape, dtype=np.float32)
        grid = np.indices(self.template.shape, dtype=np.float32)
        for part in _parts(index.size):
            field = self.displacement(index[part])
            for i, frame in enumerate(frames[part]):
                out[part][i] = warp_frame(frame, field[i], grid)
        return out


def _parts(n: int) -> Iterator[slice]:
    return (slice(i, i + _FIELD_FRAMES) for i in range(0, n, _FIELD_FRAMES))


def frame_indices(frames: FrameSelection, n_frames: int, name: str = "frames") -> np.ndarray:
    """(n,) int64 indices of the selected frames of a T = ``n_frames`` movie (negative indices
    count from the end); InputError when any is out of range."""
    if isinstance(frames, slice):
        return np.arange(n_frames)[frames]
    index = np.atleast_1d(np.asarray(frames))
    if index.dtype.kind not in "iu" or index.ndim != 1:
        raise InputError(f"{name}: expected a frame index, a slice or a 1-D list of frame "
                         f"indices, got {frames!r:.60}")
    if index.size and (index.min() < -n_frames or index.max() >= n_frames):
        raise InputError(f"{name}: frame indices must be in [-{n_frames}, {n_frames}) for a "
                         f"{n_frames}-frame registration, got {index.min()}..{index.max()}")
    return np.where(index < 0, index + n_frames, index).astype(np.int64)


def apply_registration(frames: np.ndarray, registration: Registration, start: int) -> np.ndarray:
    """Register frames ``start``..``start + n - 1`` of the movie that ``registration`` measured.

    Args:
        frames: (n, Y, X) those frames, any real dtype.
        registration: from `calscope.motion.register`.
        start: index of the first of them in the movie.

    Returns:
        (n, Y, X) float32 registered frames, ``registered(y, x) = frame(y + dy, x + dx)``
        (bilinear; positions outside the frame take the nearest edge pixel:
        `Registration.valid_mask` marks the pixels unaffected).

    Raises:
        InputError: frames of another size than the template, a range beyond the registered
            frames, or NaN/inf values.
    """
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3 or frames.shape[1:] != registration.template.shape:
        raise InputError(f"frames: expected (n, {', '.join(map(str, registration.template.shape))})"
                         f" frames like the registered movie's, got shape {frames.shape}")
    if frames.dtype.kind not in "buif":
        raise InputError(f"frames: must be real numbers, got dtype {frames.dtype}")
    if not (0 <= int(start) and int(start) + frames.shape[0] <= registration.n_frames):
        raise InputError(f"start: frames {start}..{int(start) + frames.shape[0] - 1} are not all "
                         f"among the {registration.n_frames} registered frames")
    frames = frames.astype(np.float32, copy=False)
    check_finite(frames, int(start), "frames")
    return registration.registered(frames, np.arange(int(start), int(start) + frames.shape[0]))

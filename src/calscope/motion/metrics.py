"""How well a registration worked: a sharper mean image, frames closer to the template."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calscope.errors import InputError
from calscope.frames import MovieLike, movie_shape, read_frames
from calscope.motion.result import Registration


@dataclass(frozen=True, eq=False)
class RegistrationMetrics:
    """Before-and-after measures of a registration, over the pixels of its valid mask.

    Attributes:
        mean_raw: (Y, X) float32 mean image of the movie as recorded.
        mean_registered: (Y, X) float32 mean image of the registered movie.
        crispness_raw: mean gradient norm of ``mean_raw`` (intensity units per pixel); motion
            blurs the mean image and lowers it.
        crispness_registered: the same of ``mean_registered``.
        correlation_raw: (T,) float32 Pearson correlation of each recorded frame with the
            template.
        correlation_registered: (T,) float32 the same of each registered frame.
        valid_fraction: fraction of the frame's pixels in the valid mask (the rest repeat an
            edge pixel in some registered frame).
    """

    mean_raw: np.ndarray
    mean_registered: np.ndarray
    crispness_raw: float
    crispness_registered: float
    correlation_raw: np.ndarray
    correlation_registered: np.ndarray
    valid_fraction: float

    def as_dict(self) -> dict[str, float]:
        """The scalar summary: crispness before and after, mean frame-template correlation
        before and after, the fraction of frames whose correlation rose, and the valid
        fraction (JSON-ready floats)."""
        return {
            "crispness_raw": self.crispness_raw,
            "crispness_registered": self.crispness_registered,
            "correlation_raw": float(np.mean(self.correlation_raw)),
            "correlation_registered": float(np.mean(self.correlation_registered)),
            "frames_improved": float(np.mean(self.correlation_registered
                                             > self.correlation_raw)),
            "valid_fraction": self.valid_fraction,
        }


def registration_metrics(movie: MovieLike, registration: Registration) -> RegistrationMetrics:
    """Mean images, their crispness and each frame's correlation with the template, before and
    after registration; reads ``movie`` (T, Y, X) ``registration.settings.chunk_frames`` frames
    at a time. Measured over `Registration.valid_mask` (the whole frame when that is empty).

    Raises:
        InputError: ``movie`` is not the movie that ``registration`` measured (its shape), or
            holds NaN or inf.
    """
    shape = movie_shape(movie)
    if shape != (registration.n_frames, *registration.template.shape):
        raise InputError(f"movie: shape {shape} is not that of the registered movie "
                         f"{(registration.n_frames, *registration.template.shape)}")
    gathered = MetricsGatherer(registration)
    chunk = registration.settings.chunk_frames
    for start in range(0, shape[0], chunk):
        raw = read_frames(movie, start, min(start + chunk, shape[0]))
        index = np.arange(start, start + raw.shape[0])
        gathered.add(raw, registration.registered(raw, index), index)
    return gathered.result()


class MetricsGatherer:
    """`registration_metrics` gathered from frames as something else reads and registers
    them (e.g. `RegisteredMovie`'s ``on_read`` while the registered movie is written), so
    the movie need not be read again for them."""

    def __init__(self, registration: Registration) -> None:
        mask = registration.valid_mask()
        self.valid_fraction = float(mask.mean())
        self.mask = mask if mask.any() else np.ones_like(mask)
        self.template = _standardized(registration.template[None], self.mask)[0]
        self.totals = [np.zeros(mask.shape), np.zeros(mask.shape)]
        n_frames = registration.n_frames
        self.correlations = [np.empty(n_frames, dtype=np.float32),
                             np.empty(n_frames, dtype=np.float32)]
        self.seen = np.zeros(n_frames, dtype=bool)

    def add(self, raw: np.ndarray, registered: np.ndarray, index: np.ndarray) -> None:
        """Count (n, Y, X) frames as read and as registered, the movie's frames ``index``
        (n,); frames already counted are skipped."""
        new = ~self.seen[index]
        for k, frames in enumerate((raw[new], registered[new])):
            self.totals[k] += frames.sum(axis=0, dtype=np.float64)
            self.correlations[k][index[new]] = (_standardized(frames, self.mask)
                                                @ self.template / self.mask.sum())
        self.seen[index] = True

    @property
    def complete(self) -> bool:
        """Whether every frame has been counted."""
        return bool(self.seen.all())

    def result(self) -> RegistrationMetrics:
        """The metrics; ValueError before every frame has been counted."""
        if not self.complete:
            raise ValueError(f"registration metrics: {int((~self.seen).sum())} frames not "
                             "counted yet")
        means = [(t / self.seen.size).astype(np.float32) for t in self.totals]
        return RegistrationMetrics(means[0], means[1], crispness(means[0], self.mask),
                                   crispness(means[1], self.mask), *self.correlations,
                                   self.valid_fraction)


def crispness(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean gradient norm of a (Y, X) image (intensity units per pixel) over the ``mask``
    pixels (default all)."""
    gy, gx = np.gradient(image.astype(np.float64))
    norm = np.hypot(gy, gx)
    return float(norm.mean() if mask is None else norm[mask].mean())


def _standardized(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(n, pixels in mask) float64 frames with zero mean and unit standard deviation there
    (zeros for a constant frame)."""
    values = frames[:, mask].astype(np.float64)
    values -= values.mean(axis=1, keepdims=True)
    sd = values.std(axis=1, keepdims=True)
    return np.divide(values, sd, out=np.zeros_like(values), where=sd > 0)

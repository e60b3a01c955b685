"""Checks shared by everything that takes traces: shape, length, sampling rate, usable rows.

The bottom layer (numpy and ``calscope.errors`` only), so that the readers in ``io`` and the
solvers in ``deconv`` refuse the same inputs with the same messages. Every check raises
``InputError`` with a one-line message that starts with the ``name`` it is given (a file path
or an argument name).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from calscope.errors import InputError

MIN_SAMPLES = 10
_REAL_KINDS = "biuf"  # bool, signed and unsigned integer, floating point


def as_trace_matrix(traces: np.ndarray, name: str = "traces", copy: bool = True) -> np.ndarray:
    """``traces`` ((cells, T) or (T,), any units) as a new (cells, T) float64 array.

    A 1-D trace becomes one row. The result is a copy, safe to modify; with ``copy=False``,
    floating-point input is returned as a (cells, T) view of itself instead (for callers that
    only read it: no copy of a large input). Raises InputError when
    the values are not real numbers, the array is not 1-D or 2-D, holds no row, or has fewer
    than ``MIN_SAMPLES`` samples per row. NaN and ±inf are passed through unchanged.
    """
    values = np.asarray(traces)
    if values.dtype.kind not in _REAL_KINDS:
        raise InputError(f"{name}: traces must be real numbers, got dtype {values.dtype}")
    if values.ndim not in (1, 2):
        raise InputError(
            f"{name}: expected traces as (cells, T) or (T,), got a {values.ndim}-D array of "
            f"shape {values.shape}; save one 2-D cells × time array"
        )
    matrix = np.atleast_2d(values)
    if copy or matrix.dtype.kind != "f":
        matrix = matrix.astype(np.float64)
    cells, samples = matrix.shape
    if cells == 0:
        raise InputError(f"{name}: holds no traces (shape {values.shape})")
    if samples < MIN_SAMPLES:
        raise InputError(
            f"{name}: only {samples} samples per trace, at least {MIN_SAMPLES} are needed; "
            "traces are (cells, T): transpose the array if cells and time are swapped"
        )
    return matrix


def check_fs(fs: object, name: str = "fs") -> float:
    """The sampling rate ``fs`` (Hz) as a float; InputError unless it is finite and positive.

    The message starts with ``name={fs!r}``, so pass the file or argument it came from as a
    prefix (e.g. ``name=f"{path}: fs"``).
    """
    try:
        rate = float(fs)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise InputError(
            f"{name}={fs!r}: the sampling rate must be a positive number of Hz (--fs 30)"
        )
    return rate


def unusable_rows(traces: np.ndarray) -> np.ndarray:
    """(cells,) bool: the rows of ``traces`` ((cells, T) or (T,)) that cannot be analysed.

    A row is unusable when it has fewer than ``MIN_SAMPLES`` finite samples (all NaN included)
    or all its finite samples are equal (constant). A 1-D trace counts as one row.
    """
    values = np.atleast_2d(np.asarray(traces, dtype=np.float64))
    finite = np.isfinite(values)
    counts = finite.sum(axis=1)
    if counts.min() == values.shape[1]:  # no NaN/inf anywhere: plain reductions
        return (counts < MIN_SAMPLES) | ~(values.max(axis=1) > values.min(axis=1))
    high = np.where(finite, values, -np.inf).max(axis=1, initial=-np.inf)
    low = np.where(finite, values, np.inf).min(axis=1, initial=np.inf)
    return (counts < MIN_SAMPLES) | ~(high > low)


def check_usable(traces: np.ndarray, name: str = "traces") -> np.ndarray:
    """``unusable_rows(traces)``, after checking that at least one row is usable.

    Raises InputError (message starting with ``name``) when every row is unusable.
    """
    return require_usable(unusable_rows(traces), name)


def require_usable(unusable: np.ndarray, name: str = "traces") -> np.ndarray:
    """``unusable`` ((cells,) bool) unchanged; InputError (message starting with ``name``) when
    every row is unusable."""
    if unusable.all():
        raise InputError(
            f"{name}: every trace is all NaN or constant (or has fewer than {MIN_SAMPLES} "
            "finite samples); check that it holds fluorescence"
        )
    return unusable


#: The start of :func:`warn_unusable_rows`'s message (a ``warnings`` filter pattern).
UNUSABLE_ROW_WARNING = r"row \d+: trace is all NaN, constant or too short"


def warn_unusable_rows(unusable: np.ndarray, stacklevel: int = 3) -> None:
    """Warn once per unusable row (``unusable``: (cells,) bool), naming the row."""
    for row in np.flatnonzero(unusable):
        warnings.warn(f"row {row}: trace is all NaN, constant or too short; its output is NaN",
                      stacklevel=stacklevel)


def checked_traces(traces: np.ndarray, fs: object,
                   name: str = "traces") -> tuple[np.ndarray, np.ndarray]:
    """Validate traces and fs for a spike-inference method, warning about unusable rows.

    Returns:
        ``(y, unusable)``: (cells, T) float64 copy with ±inf turned into NaN, and the (cells,)
        bool mask of rows whose output will be all NaN (all NaN, constant or too short).

    Raises:
        InputError: bad array, too short, fs not a positive number, or no usable row.
    """
    y = as_trace_matrix(traces, name)
    check_fs(fs)
    y[np.isinf(y)] = np.nan
    unusable = check_usable(y, name)
    warn_unusable_rows(unusable, stacklevel=4)
    return y, unusable

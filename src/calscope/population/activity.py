"""Input checks shared by every population analysis: a (cells, T) activity matrix.

Activity is spike probabilities, spike counts or ΔF/F per frame, one row per neuron. Rows that
are all NaN or constant (or have fewer than ``MIN_SAMPLES`` finite frames) are *unusable*: the
analyses leave them out and give NaN (or "no member") for them, so output rows always match
input rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calscope.errors import InputError
from calscope.validation import as_trace_matrix, unusable_rows


@dataclass(frozen=True)
class Activity:
    """A validated activity matrix.

    Attributes:
        values: (cells, T) float64 copy of the input, ±inf turned into NaN.
        usable: (cells,) bool, rows with enough finite, non-constant frames.
    """

    values: np.ndarray
    usable: np.ndarray

    @property
    def n_cells(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.values.shape[1])


def checked_activity(activity: np.ndarray, name: str = "activity", min_cells: int = 2,
                     min_frames: int = 10) -> Activity:
    """Validate a (cells, T) activity matrix for a population analysis.

    Args:
        activity: (cells, T) spike probabilities / counts / ΔF/F per frame, NaN where missing.
        name: how the message names the input (an argument or a file).
        min_cells: usable rows needed (at least 2 for anything "population").
        min_frames: frames needed.

    Raises:
        InputError: not a real 2-D array, fewer than ``min_frames`` frames, or fewer than
            ``min_cells`` usable rows (all NaN, constant or all zero rows do not count).
    """
    if np.ndim(activity) != 2:
        raise InputError(f"{name}: expected a (cells, T) array, got shape {np.shape(activity)}; "
                         "population analyses need one row per neuron")
    values = as_trace_matrix(activity, name)
    values[np.isinf(values)] = np.nan
    if values.shape[1] < min_frames:
        raise InputError(f"{name}: only {values.shape[1]} frames; at least {min_frames} are "
                         "needed (is the array cells × T?)")
    usable = ~unusable_rows(values)
    if usable.sum() < min_cells:
        raise InputError(
            f"{name}: {int(usable.sum())} usable neuron(s) of {values.shape[0]}; at least "
            f"{min_cells} are needed (rows that are all NaN, constant or all zero do not count)")
    return Activity(values=values, usable=usable)

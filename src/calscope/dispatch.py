"""`calscope.deconvolve`: one entry point for every spike-inference method."""

from __future__ import annotations

from typing import Any

import numpy as np

from calscope.deconv import Deconvolution
from calscope.deconv import deconvolve as oasis_deconvolve
from calscope.errors import InputError

METHODS = ("oasis",)


def deconvolve(traces: np.ndarray, fs: float, method: str = "oasis",
               **settings: Any) -> Deconvolution:
    """Infer spikes from (cells, T) or (T,) traces sampled at ``fs`` Hz.

    Args:
        traces: fluorescence (e.g. ΔF/F); NaN marks missing samples (output NaN there).
        fs: sampling rate (Hz).
        method: "oasis" (convex deconvolution, `calscope.deconv.deconvolve`); the network
            methods join here as they are added.
        **settings: keyword arguments of the method (for OASIS: order, penalty, g, sn, lam,
            baseline, s_min).
    """
    if method == "oasis":
        return oasis_deconvolve(traces, fs, **settings)
    raise InputError(f"method: unknown spike inference method {method!r}; "
                     f"choose one of {', '.join(METHODS)}")

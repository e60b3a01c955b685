"""Scratch buffers of the OASIS solver, allocated once per chunk of cells (numba).

Float rows: the φ table and its cumulative sum, prefix sums of w, w y, w y² (AR(1): totals at
index T), then the AR(1) pool sums; rows from `REFINE_ROW` on are reused by the exact
refinement (`calscope.deconv.active_set`). Int rows: pool first frames and lengths.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from calscope.deconv.general_pools import NCOL

TBL, CPHI, CW, CWY, CWYY, PA, PF, PG, PS, PV = range(10)
REFINE_ROW = 5
_NROW = REFINE_ROW + 17


@njit(cache=True)
def workspace(T, general):
    """Buffers for one trace of up to T samples (float rows, int rows, pools, support)."""
    pools = np.empty((T if general else 1, NCOL))
    return np.empty((_NROW, T + 2)), np.empty((2, T), np.int64), pools, np.empty(T, np.bool_)

"""Reference computations by hand, shared by the population tests (imported as ``by_hand``)."""

import numpy as np
from scipy import stats


def pair_r(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r over the frames where both rows are finite (the definition, by hand); NaN
    with fewer than 10 such frames or a row constant on them."""
    both = np.isfinite(a) & np.isfinite(b)
    if both.sum() < 10 or np.ptp(a[both]) == 0 or np.ptp(b[both]) == 0:
        return np.nan
    return np.corrcoef(a[both], b[both])[0, 1]


def assert_p_uniform(p: np.ndarray, significant: np.ndarray, tolerance: float) -> None:
    """Surrogate p of independent neurons: uniform (KS test), P(p < 0.05) within ``tolerance``
    of 0.05, and no pair significant. ``p``, ``significant``: (cells, cells)."""
    upper = p[np.triu_indices(len(p), k=1)]
    assert stats.kstest(upper, "uniform").pvalue > 0.01
    assert abs(np.mean(upper < 0.05) - 0.05) < tolerance
    assert significant.sum() == 0

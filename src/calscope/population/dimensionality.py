"""Dimensionality of population activity: principal components, participation ratio, the
number of dimensions above a shuffled-data null, and a 2-D/3-D embedding over time.

PCA here is of the covariance of the neurons (each usable neuron centred over time, not
scaled). Missing values: a neuron's NaN frames are filled with its mean over its finite frames
(0 after centring), so every frame keeps a score; unusable rows (all NaN, constant) are left
out and get loading 0.

Scale: centred data (n usable neurons × T frames) have rank ≤ min(n, T − 1), so at most that
many components exist (1005 neurons × 260 frames give 259). Spectra are exact when the smaller
side is ≤ ``spectrum.EXACT_LIMIT``; above it only the top components are computed
(``DEFAULT_TOP`` by default) by the randomized method of `calscope.population.spectrum`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calscope.errors import InputError
from calscope.population import spectrum
from calscope.population.activity import checked_activity
from calscope.population.spectrum import (
    gaussian_block,
    gram_matrix,
    is_exact,
    krylov_eigh,
    other_side,
    rank_cap,
    shifted_null_edge,
    top_eigh,
    top_singular,
)

DEFAULT_TOP = 100
"""Components computed by default when the smaller side is above ``spectrum.EXACT_LIMIT``."""
_FIRST_RANKS = 16
"""Ranks tested first by ``significant_dimensions`` on large data (doubled while all pass)."""
_ROW_CHUNK = 1024
"""Rows centred at once (bounds the temporaries of nanmean / nanstd on large inputs)."""


@dataclass(frozen=True)
class PCA:
    """Principal components of (cells, T) activity. k = number of components computed.

    Attributes:
        explained_variance: (k,) float64 covariance eigenvalues, descending (activity units²).
        explained_ratio: (k,) float64 share of the total variance of each component.
        components: (k, cells) float64 unit-norm loadings, 0 on unusable rows; each sign is
            chosen so that the largest-magnitude loading is positive.
        scores: (k, T) float64 projections of the centred activity onto the components.
        total_variance: sum of the variances of the usable neurons (= Σ of all eigenvalues).
        participation_ratio: (Σλ)² / Σλ² over *all* eigenvalues, exact even when only k are
            computed (from the trace and the Frobenius norm of the Gram matrix).
        method: "exact" (full eigendecomposition) or "randomized" (top k, block Krylov).
        note: why fewer components than asked came back, or which method ran; or "".
    """

    explained_variance: np.ndarray
    explained_ratio: np.ndarray
    components: np.ndarray
    scores: np.ndarray
    total_variance: float
    participation_ratio: float
    method: str
    note: str = ""


@dataclass(frozen=True)
class SignificantDimensions:
    """Leading covariance dimensions above a circular-shift null.

    Attributes:
        n: number of eigenvalues above the null threshold.
        eigenvalues: (k,) float64 top covariance eigenvalues of the data (activity units²).
        null_threshold: the (1 − alpha) quantile, over shuffles, of the top eigenvalue of data
            whose neurons were circularly shifted independently (activity units²).
        note: e.g. that every tested rank passed (n is then a lower bound); "" otherwise.
    """

    n: int
    eigenvalues: np.ndarray
    null_threshold: float
    note: str = ""


def prepared_activity(activity: np.ndarray, *,
                      zscore: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validated usable rows, centred (or z-scored) over time, with missing values set to 0.

    Args:
        activity: (cells, T) activity, NaN where missing (see ``checked_activity``).
        zscore: divide each row by its standard deviation (ddof 0) over its finite frames.

    Returns:
        ``(x, usable)``: x (usable cells, T) float64, NaN replaced by 0 (the row mean), and the
        (cells,) bool mask of the rows kept. Raises InputError as ``checked_activity`` does.
    """
    act = checked_activity(activity)
    x = act.values if act.usable.all() else act.values[act.usable]
    for start in range(0, x.shape[0], _ROW_CHUNK):
        rows = x[start:start + _ROW_CHUNK]
        missing = np.isnan(rows)
        if missing.any():
            rows -= np.nanmean(rows, axis=1, keepdims=True)
            rows[missing] = 0.0
        else:
            rows -= rows.mean(axis=1, keepdims=True)
        if zscore:  # std over the finite frames: filled frames add 0 to the sum of squares
            rows /= np.sqrt(np.sum(rows**2, axis=1, keepdims=True)
                            / np.sum(~missing, axis=1, keepdims=True))
    return x, act.usable


def pca(activity: np.ndarray, n_components: int | None = None, *,
        seed: int | np.random.Generator = 0) -> PCA:
    """Principal components of the covariance of (cells, T) activity.

    Args:
        activity: (cells, T) spike probabilities / counts / ΔF/F, NaN where missing (a neuron's
            missing frames are filled with its mean).
        n_components: components wanted; None: all of them when the smaller side is
            ≤ ``spectrum.EXACT_LIMIT``, else the top ``DEFAULT_TOP``. Capped at min(usable neurons,
            T − 1), the rank of the centred data; ``note`` says when.
        seed: seed of the randomized method (large inputs only).

    Returns:
        A ``PCA``.

    Raises:
        InputError: bad activity (see ``checked_activity``) or n_components < 1.
    """
    x, usable = prepared_activity(activity)
    n, t = x.shape
    k, note = _n_components(n_components, n, t)
    exact = is_exact(x, k)
    if not exact:
        x = x.astype(np.float32)
    gram = gram_matrix(x)
    total = float(np.trace(gram, dtype=np.float64))
    frobenius_sq = sum(float(np.square(rows, dtype=np.float64).sum())
                       for rows in np.array_split(gram, max(1, len(gram) // _ROW_CHUNK)))
    if exact:
        values, vectors = top_eigh(gram.astype(np.float64, copy=False), k)
    else:
        values, vectors = krylov_eigh(lambda block: gram @ block,
                                       gram @ gaussian_block(len(gram), k, seed), k)
        note = " ".join(filter(None, [note, f"top {k} of up to {rank_cap(n, t)} components "
                                      "(randomized block Krylov); explained_ratio is exact"]))
    s = np.sqrt(np.clip(values, 0.0, None))
    if n <= t:
        loadings = vectors.astype(np.float64)
        scores = vectors.T.astype(x.dtype) @ x
    else:
        loadings = other_side(x, vectors, s)
        scores = s[:, None] * vectors.T.astype(np.float64)
    loadings, scores = _signed(loadings.T, np.asarray(scores, dtype=np.float64))
    components = np.zeros((k, usable.size))
    components[:, usable] = loadings
    variance = values / (t - 1)
    return PCA(explained_variance=variance, explained_ratio=values / total,
               components=components, scores=scores, total_variance=total / (t - 1),
               participation_ratio=total**2 / frobenius_sq,
               method="exact" if exact else "randomized", note=note)


def participation_ratio(eigenvalues: np.ndarray) -> float:
    """Participation ratio (Σλ)² / Σλ² of a covariance spectrum: 1 when one dimension holds all
    the variance, N when N dimensions hold equal shares.

    Args:
        eigenvalues: (k,) non-negative eigenvalues. Pass the *whole* spectrum; for a PCA that
            computed only the top components use ``PCA.participation_ratio`` (exact).

    Raises:
        InputError: not 1-D, empty, non-finite, negative, or all zero.
    """
    values = np.asarray(eigenvalues, dtype=np.float64)
    if values.ndim != 1 or not np.all(np.isfinite(values)) or not np.all(values >= 0) \
            or not np.any(values > 0):
        raise InputError(f"eigenvalues: expected a covariance spectrum, a 1-D array of finite "
                         f"values ≥ 0, not all 0; got {np.array2string(values, threshold=6)}")
    return float(values.sum() ** 2 / np.square(values).sum())


def significant_dimensions(activity: np.ndarray, n_shuffles: int = 20, *, alpha: float = 0.05,
                           max_dimensions: int | None = None,
                           seed: int | np.random.Generator = 0) -> SignificantDimensions:
    """How many covariance dimensions stand above the spectrum of independently shifted neurons.

    Each shuffle shifts every usable neuron circularly by its own random lag (uniform over the
    recording): each neuron keeps its variance and autocorrelation, co-activity is broken. The
    threshold is the (1 − alpha) quantile, over shuffles, of the shuffles' *top* eigenvalue —
    the edge of the spectrum independent neurons give — taken at the next order statistic up
    (with 20 shuffles and alpha 0.05, their maximum: independent neurons pass with probability
    1/21 ≤ alpha); n counts the data's eigenvalues above it. On the randomized path (large
    inputs) the threshold is raised by ``spectrum.RANDOMIZED_RTOL``, the method's accuracy, since both
    sides carry its error. Large inputs test 16 ranks first and double while all pass.

    Comparing rank i of the data with rank i of the shuffles (Horn's parallel analysis) instead
    counts the noise bulk, shifted down by the real components, as dimensions: 35 "dimensions"
    for 5 planted assemblies among 2,182 OASIS-inferred neurons × 10,000 frames, where the edge
    gives 5.

    Args:
        activity: (cells, T) activity, NaN where missing (filled with the neuron's mean).
        n_shuffles: circularly shifted copies (≥ 2).
        alpha: level in (0, 1).
        max_dimensions: most ranks tested; None: as for ``pca`` (all when the smaller side is
            ≤ ``spectrum.EXACT_LIMIT``, else ``DEFAULT_TOP``).
        seed: int seed or Generator (shifts and the randomized method).

    Returns:
        A ``SignificantDimensions``.

    Raises:
        InputError: bad activity, n_shuffles < 2, alpha outside (0, 1), max_dimensions < 1.
    """
    if not isinstance(n_shuffles, (int, np.integer)) or n_shuffles < 2:
        raise InputError(f"n_shuffles={n_shuffles!r}: at least 2 are needed (20 is usual)")
    if not 0 < alpha < 1:
        raise InputError(f"alpha={alpha!r}: must be in (0, 1), e.g. 0.05")
    x, _ = prepared_activity(activity)
    n, t = x.shape
    k_max, _ = _n_components(max_dimensions, n, t)
    rng = np.random.default_rng(seed)
    small = is_exact(x)
    if not small:
        x = x.astype(np.float32)
    threshold = shifted_null_edge(x, n_shuffles, rng, level=1 - alpha) / (t - 1)
    data_seed = rng.integers(0, 2**32)
    k = k_max if small else min(_FIRST_RANKS, k_max)
    while True:
        data = top_singular(x, k, data_seed)[0] ** 2 / (t - 1)
        n_dims = int(np.sum(data > threshold))
        if n_dims < k or k == k_max:
            break
        k = min(2 * k, k_max)
    note = (f"all {k} tested ranks are above the null: at least {k} dimensions (raise "
            "max_dimensions to test more)" if n_dims == k else "")
    return SignificantDimensions(n=n_dims, eigenvalues=data, null_threshold=threshold, note=note)


def embedding(activity: np.ndarray, n_dims: int = 2, *,
              seed: int | np.random.Generator = 0) -> np.ndarray:
    """Population state over time on the first ``n_dims`` principal components.

    Args:
        activity: (cells, T) activity, NaN where missing (filled with the neuron's mean).
        n_dims: 2 or 3.
        seed: seed of the randomized method (large inputs only).

    Returns:
        (n_dims, T) float64 scores (activity units), the same as ``pca(...).scores[:n_dims]``.
        Raises InputError for n_dims not 2 or 3, bad activity, or fewer components than that.
    """
    if n_dims not in (2, 3):
        raise InputError(f"n_dims={n_dims!r}: an embedding has 2 or 3 dimensions")
    x, _ = prepared_activity(activity)
    if rank_cap(*x.shape) < n_dims:
        raise InputError(f"activity: {x.shape[0]} usable neurons × {x.shape[1]} frames give "
                         f"fewer than {n_dims} components; use n_dims=2 or more neurons")
    u = top_singular(x, n_dims, seed)[1]
    return _signed(u.T, u.T @ x)[1]


def _n_components(requested: int | None, n: int, t: int) -> tuple[int, str]:
    """Components to compute for ``requested`` on n × t centred data, and a note if capped."""
    cap = rank_cap(n, t)
    if requested is None:
        if min(n, t) > spectrum.EXACT_LIMIT:
            return min(cap, DEFAULT_TOP), ""
        requested = n  # one component per neuron, if the rank allows
    if not isinstance(requested, (int, np.integer)) or isinstance(requested, bool) \
            or requested < 1:
        raise InputError(f"n_components={requested!r}: must be a whole number ≥ 1 or None")
    if requested <= cap:
        return int(requested), ""
    return cap, (f"capped at {cap} components = min(usable neurons {n}, frames {t} − 1), the "
                 "rank of the centred data")


def _signed(loadings: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip each (loading row, score row) pair so the largest-magnitude loading is positive."""
    largest = loadings[np.arange(len(loadings)), np.argmax(np.abs(loadings), axis=1)]
    signs = np.where(largest < 0, -1.0, 1.0)[:, None]
    return loadings * signs, scores * signs



"""Dimensionality of population activity: principal components, participation ratio, the
number of dimensions above a shuffled-data null, and a 2-D/3-D embedding over time.

PCA here is of the covariance of the neurons (each usable neuron centred over time, not
scaled). Missing values: a neuron's NaN frames are filled with its mean over its finite frames
(0 after centring), so every frame keeps a score; unusable rows (all NaN, constant) are left
out and get loading 0.

Scale: centred data (n usable neurons × T frames) have rank ≤ min(n, T − 1), so at most that
many components exist (1005 neurons × 260 frames give 259). When the smaller side min(n, T) is
≤ ``EXACT_LIMIT`` every spectrum is exact (Gram matrix of the smaller side + LAPACK ``eigh``).
Above it only the top components are computed (``DEFAULT_TOP`` by default), by a seeded
randomized block Krylov method in float32: a Gaussian range finder, ``KRYLOV_DEPTH`` block
power steps all kept and orthonormalised, then Rayleigh–Ritz. Separated eigenvalues come out
to ~1e-6 relative; in a flat noise spectrum (10,000 × 5,000 Poisson) the top k are low by up
to 4.5e-3 (k = 16) or 1.2e-3 (k = 100). ``significant_dimensions`` puts the data and every
shuffle through the same computation, so such errors hit both sides alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas

from calscope.errors import InputError
from calscope.population.activity import checked_activity
from calscope.population.surrogates import circular_shifts

EXACT_LIMIT = 2000
"""Smaller side (neurons or frames) up to which spectra are computed exactly."""
DEFAULT_TOP = 100
"""Components computed by default when the smaller side is above ``EXACT_LIMIT``."""
KRYLOV_DEPTH = 10
"""Block power steps of the randomized method (its basis holds KRYLOV_DEPTH + 1 blocks)."""
OVERSAMPLE = 16
"""Extra columns per Krylov block beyond the components asked for."""
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
        n: number of leading eigenvalues above their null threshold.
        eigenvalues: (k,) float64 top covariance eigenvalues of the data (activity units²).
        null_threshold: (k,) float64 (1 − alpha) quantile, over shuffles, of the eigenvalue of
            the same rank in data whose neurons were circularly shifted independently.
        note: e.g. that every tested rank passed (n is then a lower bound); "" otherwise.
    """

    n: int
    eigenvalues: np.ndarray
    null_threshold: np.ndarray
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


def rank_cap(n_cells: int, n_frames: int) -> int:
    """Most components centred data of ``n_cells`` × ``n_frames`` can have: min(n, T − 1)."""
    return max(1, min(n_cells, n_frames - 1))


def is_exact(x: np.ndarray, k: int = 1) -> bool:
    """Whether the top ``k`` of (n, T) ``x`` are computed exactly (small side, or k near it);
    with the default k = 1, whether ``x`` is small enough for exact spectra at all."""
    m = min(x.shape)
    return m <= EXACT_LIMIT or (k + OVERSAMPLE) * (KRYLOV_DEPTH + 1) >= m


def top_singular(x: np.ndarray, k: int, seed: int | np.random.Generator = 0,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Largest ``k`` singular values of (n, T) ``x`` and their left singular vectors.

    Exact (Gram matrix of the smaller side + ``eigh``) when ``is_exact``, else randomized block
    Krylov in float32 on ``x`` itself (no m × m matrix is formed).

    Returns:
        ``(s, u)``: s (k,) float64 descending, u (n, k) float64 orthonormal columns.
    """
    n, t = x.shape
    if is_exact(x, k):
        values, vectors = _top_eigh(_gram(x), k)
    else:
        x = x.astype(np.float32, copy=False)
        a = x if n <= t else x.T  # (smaller side, larger side)
        values, vectors = _krylov_eigh(lambda block: a @ (a.T @ block),
                                       a @ _gaussian(a.shape[1], k, seed), k)
    s = np.sqrt(np.clip(values, 0.0, None))
    return s, vectors.astype(np.float64) if n <= t else _other_side(x, vectors, s)


def pca(activity: np.ndarray, n_components: int | None = None, *,
        seed: int | np.random.Generator = 0) -> PCA:
    """Principal components of the covariance of (cells, T) activity.

    Args:
        activity: (cells, T) spike probabilities / counts / ΔF/F, NaN where missing (a neuron's
            missing frames are filled with its mean).
        n_components: components wanted; None: all of them when the smaller side is
            ≤ ``EXACT_LIMIT``, else the top ``DEFAULT_TOP``. Capped at min(usable neurons,
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
    gram = _gram(x)
    total = float(np.trace(gram, dtype=np.float64))
    frobenius_sq = sum(float(np.square(rows, dtype=np.float64).sum())
                       for rows in np.array_split(gram, max(1, len(gram) // _ROW_CHUNK)))
    if exact:
        values, vectors = _top_eigh(gram.astype(np.float64, copy=False), k)
    else:
        values, vectors = _krylov_eigh(lambda block: gram @ block,
                                       gram @ _gaussian(len(gram), k, seed), k)
        note = " ".join(filter(None, [note, f"top {k} of up to {rank_cap(n, t)} components "
                                      "(randomized block Krylov); explained_ratio is exact"]))
    s = np.sqrt(np.clip(values, 0.0, None))
    if n <= t:
        loadings = vectors.astype(np.float64)
        scores = vectors.T.astype(x.dtype) @ x
    else:
        loadings = _other_side(x, vectors, s)
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
    """How many leading covariance dimensions stand above independently shifted neurons.

    Each shuffle shifts every usable neuron circularly by its own random lag (uniform over the
    recording): each neuron keeps its variance and autocorrelation, co-activity is broken. The
    data's rank-i eigenvalue is compared with the (1 − alpha) quantile of the shuffles' rank-i
    eigenvalues, taken at the next order statistic up (with 20 shuffles and alpha 0.05, their
    maximum: independent neurons pass rank 1 with probability 1/21 ≤ alpha); n counts the
    leading ranks above it. Large inputs test 16 ranks first and double while all pass.

    Args:
        activity: (cells, T) activity, NaN where missing (filled with the neuron's mean).
        n_shuffles: circularly shifted copies (≥ 2).
        alpha: level in (0, 1).
        max_dimensions: most ranks tested; None: as for ``pca`` (all when the smaller side is
            ≤ ``EXACT_LIMIT``, else ``DEFAULT_TOP``).
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
    shifts = circular_shifts(n, t, n_shuffles, rng, min_shift=0)
    krylov_seeds = rng.integers(0, 2**32, size=n_shuffles + 1)
    small = is_exact(x)
    k = k_max if small else min(_FIRST_RANKS, k_max)
    if not small:
        x = x.astype(np.float32)
    shifted = np.empty_like(x)
    while True:
        data = top_singular(x, k, krylov_seeds[-1])[0] ** 2 / (t - 1)
        null = np.empty((n_shuffles, k))
        for i in range(n_shuffles):
            _circularly_shifted(x, shifts[i], out=shifted)
            null[i] = top_singular(shifted, k, krylov_seeds[i])[0] ** 2 / (t - 1)
        threshold = np.quantile(null, 1 - alpha, axis=0, method="higher")
        above = data > threshold
        n_dims = int(np.argmin(above)) if not above.all() else k
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
        if min(n, t) > EXACT_LIMIT:
            return min(cap, DEFAULT_TOP), ""
        requested = n  # one component per neuron, if the rank allows
    if not isinstance(requested, (int, np.integer)) or isinstance(requested, bool) \
            or requested < 1:
        raise InputError(f"n_components={requested!r}: must be a whole number ≥ 1 or None")
    if requested <= cap:
        return int(requested), ""
    return cap, (f"capped at {cap} components = min(usable neurons {n}, frames {t} − 1), the "
                 "rank of the centred data")


def _gram(x: np.ndarray) -> np.ndarray:
    """Symmetric Gram matrix of the smaller side of (n, T) x: x xᵀ if n ≤ T, else xᵀ x (float32
    input: BLAS ``ssyrk``, half the work of a product, then the triangle is mirrored)."""
    n, t = x.shape
    if x.dtype != np.float32:
        return x @ x.T if n <= t else x.T @ x
    # x.T is Fortran-ordered, so BLAS reads x without a copy; trans=1 gives x xᵀ, 0 gives xᵀ x.
    gram = blas.ssyrk(1.0, x.T, trans=int(n <= t))  # upper triangle only
    for start in range(0, len(gram), _ROW_CHUNK):
        stop = start + _ROW_CHUNK
        gram[stop:, start:stop] = gram[start:stop, stop:].T
        block = gram[start:stop, start:stop]
        block[:] = np.triu(block) + np.triu(block, 1).T
    return gram


def _top_eigh(gram: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` eigenpairs of a symmetric matrix, exactly: values (k,) descending, (m, k)."""
    values, vectors = np.linalg.eigh(gram)
    return values[::-1][:k], vectors[:, ::-1][:, :k]


def _krylov_eigh(apply: Callable[[np.ndarray], np.ndarray], first: np.ndarray, k: int,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` eigenpairs of a symmetric PSD operator ``apply``: B ↦ A B, by block Krylov.

    The basis [Q₀, …, Q_depth], Q₀ = orth(first), Q_j = orth(A Q_{j−1}), is built block by
    block, each orthogonalised twice against the earlier ones with a QR after each pass (so an
    exhausted Krylov space still gives an orthonormal basis). The images A Q_j are kept, so
    Rayleigh–Ritz, eig(Bᵀ A B), costs one extra ``apply``. Returns (k,) float64 descending
    Ritz values and (dim, k) Ritz vectors.
    """
    blocks = [np.linalg.qr(first)[0]]
    images = [apply(blocks[0])]
    for _ in range(KRYLOV_DEPTH):
        previous = np.hstack(blocks)
        block = images[-1]
        for _ in range(2):
            block = np.linalg.qr(block - previous @ (previous.T @ block))[0]
        blocks.append(block)
        images.append(apply(block))
    basis = np.hstack(blocks)
    projected = (basis.T @ np.hstack(images)).astype(np.float64)
    values, ritz = np.linalg.eigh((projected + projected.T) / 2)
    order = np.argsort(values)[::-1][:k]
    return values[order], basis @ ritz[:, order].astype(basis.dtype)


def _gaussian(rows: int, k: int, seed: int | np.random.Generator) -> np.ndarray:
    """(rows, k + OVERSAMPLE) float32 standard normal start block of the Krylov method."""
    return np.random.default_rng(seed).standard_normal((rows, k + OVERSAMPLE), dtype=np.float32)


def _other_side(x: np.ndarray, vectors: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Left singular vectors u = x v / s (n, k) from right ones v (T, k); 0 where s ≈ 0."""
    safe = s > s.max(initial=0.0) * 1e-10
    u = np.asarray(x @ vectors.astype(x.dtype), dtype=np.float64)
    u[:, safe] /= s[safe]
    u[:, ~safe] = 0.0
    return u


def _signed(loadings: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip each (loading row, score row) pair so the largest-magnitude loading is positive."""
    largest = loadings[np.arange(len(loadings)), np.argmax(np.abs(loadings), axis=1)]
    signs = np.where(largest < 0, -1.0, 1.0)[:, None]
    return loadings * signs, scores * signs


def _circularly_shifted(x: np.ndarray, shifts: np.ndarray, out: np.ndarray) -> None:
    """Write each row of x, circularly shifted right by its own lag, into ``out``.

    Two slice copies per row into a reused buffer: 0.6 s at 20,000 × 10,000 float64, where
    ``surrogates.shift_rows`` (a gather through a (cells, T) int64 index) takes 1.5 s.
    """
    t = x.shape[1]
    for row, lag in enumerate(shifts % t):
        out[row, lag:] = x[row, :t - lag]
        out[row, :lag] = x[row, t - lag:]

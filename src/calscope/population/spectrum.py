"""Top eigenvalues of large (n, T) data: exact for small sides, randomized block Krylov
above, and the top eigenvalue of circularly shifted copies (the null edge of the spectrum).

When the smaller side min(n, T) is ≤ ``EXACT_LIMIT`` spectra are exact (Gram matrix of the
smaller side + LAPACK ``eigh``). Above it only the top components are computed, by a seeded
randomized block Krylov method in float32: a Gaussian range finder, ``KRYLOV_DEPTH`` block
power steps all kept and orthonormalised, then Rayleigh–Ritz. Separated eigenvalues come out
to ~1e-6 relative; in a flat noise spectrum (10,000 × 5,000 Poisson) the top k are low by up
to 4.5e-3 (k = 16) or 1.2e-3 (k = 100): ``RANDOMIZED_RTOL``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg
from scipy.linalg import blas

from calscope.population.surrogates import circular_shifts

EXACT_LIMIT = 2000
"""Smaller side (neurons or frames) up to which spectra are computed exactly."""
KRYLOV_DEPTH = 10
"""Block power steps of the randomized method (its basis holds KRYLOV_DEPTH + 1 blocks)."""
OVERSAMPLE = 16
"""Extra columns per Krylov block beyond the components asked for."""
RANDOMIZED_RTOL = 5e-3
"""Relative accuracy of top eigenvalues from the randomized method in a flat spectrum (see the
module docstring); null edges computed by it are raised by this much."""
_ROW_CHUNK = 1024
"""Rows of a Gram matrix mirrored at once."""


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
        values, vectors = top_eigh(gram_matrix(x), k)
    else:
        x = x.astype(np.float32, copy=False)
        a = x if n <= t else x.T  # (smaller side, larger side)
        values, vectors = krylov_eigh(lambda block: a @ (a.T @ block),
                                       a @ gaussian_block(a.shape[1], k, seed), k)
    s = np.sqrt(np.clip(values, 0.0, None))
    return s, vectors.astype(np.float64) if n <= t else other_side(x, vectors, s)


def shifted_null_edge(x: np.ndarray, n_shuffles: int, rng: np.random.Generator,
                      level: float = 1.0) -> float:
    """The null edge of the spectrum of (n, T) ``x``: the ``level`` quantile (next order
    statistic up; 1.0: the largest) over ``n_shuffles`` copies, every row circularly shifted by
    its own uniform random lag, of the top eigenvalue of x xᵀ (not normalised: the squared top
    singular value). Raised by ``RANDOMIZED_RTOL`` when ``x`` takes the randomized path, since
    the data's eigenvalues carry the same error. 0.0 when ``n_shuffles`` is 0."""
    n, t = x.shape
    shifts = circular_shifts(n, t, n_shuffles, rng, min_shift=0)
    seeds = rng.integers(0, 2**32, size=n_shuffles)
    shifted = np.empty_like(x)
    top = np.empty(n_shuffles)
    for i, (lags, seed) in enumerate(zip(shifts, seeds)):
        circularly_shifted(x, lags, out=shifted)
        top[i] = top_singular(shifted, 1, seed)[0][0] ** 2
    if not n_shuffles:
        return 0.0
    edge = float(np.quantile(top, level, method="higher"))
    return edge if is_exact(x) else edge * (1 + RANDOMIZED_RTOL)


def gram_matrix(x: np.ndarray) -> np.ndarray:
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


def top_eigh(gram: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` eigenpairs of a symmetric matrix, exactly: values (k,) descending, (m, k)."""
    m = len(gram)
    k = min(k, m)
    values, vectors = scipy.linalg.eigh(gram, subset_by_index=(m - k, m - 1))
    return values[::-1], vectors[:, ::-1]


def krylov_eigh(apply: Callable[[np.ndarray], np.ndarray], first: np.ndarray, k: int,
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


def gaussian_block(rows: int, k: int, seed: int | np.random.Generator) -> np.ndarray:
    """(rows, k + OVERSAMPLE) float32 standard normal start block of the Krylov method."""
    return np.random.default_rng(seed).standard_normal((rows, k + OVERSAMPLE), dtype=np.float32)


def other_side(x: np.ndarray, vectors: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Left singular vectors u = x v / s (n, k) from right ones v (T, k); 0 where s ≈ 0."""
    safe = s > s.max(initial=0.0) * 1e-10
    u = np.asarray(x @ vectors.astype(x.dtype), dtype=np.float64)
    u[:, safe] /= s[safe]
    u[:, ~safe] = 0.0
    return u


def circularly_shifted(x: np.ndarray, shifts: np.ndarray, out: np.ndarray) -> None:
    """Write each row of x, circularly shifted right by its own lag, into ``out``.

    Two slice copies per row into a reused buffer: 0.6 s at 20,000 × 10,000 float64, where
    ``surrogates.shift_rows`` (a gather through a (cells, T) int64 index) takes 1.5 s.
    """
    t = x.shape[1]
    for row, lag in enumerate(shifts % t):
        out[row, lag:] = x[row, :t - lag]
        out[row, :lag] = x[row, t - lag:]

"""Cell assemblies: groups of neurons that fire together (Lopes-dos-Santos, Ribeiro & Tort 2013,
J. Neurosci. Methods 220:149).

1. Each usable neuron is z-scored over time (ddof 0); missing frames become 0, its mean.
2. The number of assemblies is the number of eigenvalues of the correlation matrix
   C = z zᵀ / T above the Marchenko–Pastur bound λ_max = (1 + sqrt(N / T))², the largest
   eigenvalue expected from N independent neurons over T *independent* frames — and above the
   largest eigenvalue of every one of ``n_shuffles`` copies of z with each neuron circularly
   shifted by its own random lag. Activity is autocorrelated (calcium, inferred spikes), which
   spreads the null spectrum beyond the bound: 2,000 independent AR(1) neurons (g = 0.8) over
   4,000 frames reach 7.8 against a bound of 2.9, and OASIS spikes of 20,000 simulated neurons
   with 5 planted assemblies gave 27 "assemblies" by the bound alone. The shifts keep each
   neuron's autocorrelation and break co-activity, so they measure the edge that applies; on
   white noise the two agree. A component that falls to the bound without its largest frame
   (eigenvalue − score_t² / T, score = vᵀ z_t) is one synchronous frame, not an assembly, which
   recurs, and is not counted: OASIS puts a spike in the last frame of 19 % of simulated cells
   (4.5 % elsewhere; no future frames confirm or refute it), which made a 6th "assembly" of
   5 planted among 2,000–20,000 neurons; a motion artefact in one frame does the same.
3. z is projected onto those leading eigenvectors and unmixed by ICA (``fast_ica``: symmetric
   FastICA with the logcosh contrast), which separates assemblies that share a subspace.
4. Each unmixing vector, taken back to neuron space, is an assembly *pattern*: unit length,
   signed so that its largest-magnitude weight is positive; unusable rows weigh 0.
5. *Members* of an assembly: usable neurons whose weight (a) lies in the upper class of the
   two-class split of the pattern's weights that maximises the between-class variance (Otsu's
   threshold, which falls in the gap between members and the rest) and (b) stands out of the
   bulk: above the median + z · 1.4826 · MAD, with z = Φ⁻¹(1 − ``FALSE_MEMBERS`` / N), about
   half a chance member per pattern were the bulk Gaussian. The usual mean + 2 SD rule fails
   both ways: it misses members when they are a large fraction of the neurons (8 of 30: match
   0.09 on simulated assemblies) and admits chance neurons when N is large (20,000 neurons:
   0.70); this rule scored ≥ 0.97 in both and wherever mean + 2 SD was right (see
   docs/population.md).
6. *Activation* R_k(t) = z(t)ᵀ P_k z(t) with P_k = w_k w_kᵀ and its diagonal set to 0, so a
   neuron firing alone adds nothing and co-firing members add a lot.

No N × N matrix is formed: the eigenvalues come from ``top_singular`` of z (exact through the
smaller Gram matrix up to ``EXACT_LIMIT``, randomized above it, asking for more eigenvalues
until the smallest found is below λ_max).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from calscope.errors import InputError
from calscope.population.dimensionality import prepared_activity
from calscope.population.spectrum import (
    is_exact,
    rank_cap,
    shifted_null_edge,
    top_singular,
)

FALSE_MEMBERS = 0.5
"""Expected chance members per pattern allowed by the bulk cut (rule 5b of the docstring)."""
_NOTED_EXCESS = 1.05
"""The note mentions the shifted copies' bound when it exceeds Marchenko–Pastur by this factor
(white activity exceeds it by ~1 % from finite-size fluctuations alone)."""
_FIRST_EIGENVALUES = 16
"""Eigenvalues asked for first on large inputs (doubled until one is below the bound)."""
_ROW_CHUNK = 2048
"""Rows of z squared at once for the activation's diagonal correction."""


@dataclass(frozen=True)
class Assemblies:
    """Cell assemblies of (cells, T) activity; a = assemblies returned.

    Attributes:
        n_significant: correlation eigenvalues above the bound (``threshold``), less those
            that fall below it without their largest frame (one-frame events, see ``note``).
        patterns: (a, cells) float64 unit-norm weights, 0 on unusable rows.
        members: a tuple of a sorted int64 arrays of member rows.
        activation: (a, T) float64 activation strength R_k(t) (z-score² units).
        eigenvalues: (k,) float64 top eigenvalues of the correlation matrix, descending (all of
            them up to min(N, T − 1) on small inputs; on large ones those computed).
        threshold: the eigenvalue bound used: the larger of the Marchenko–Pastur bound
            (1 + sqrt(N / T))² (N usable neurons, T frames) and the shifted copies' top
            eigenvalue; ``note`` says when the shifts set it.
        member_mask: (a, cells) bool, True for the members of each assembly.
        note: capping by ``max_assemblies``, components set aside as one-frame events or an
            ICA that did not converge; "" otherwise.
        one_frame: (k,) bool, per eigenvalue: above the bound but set aside, because it falls
            to the bound without its largest frame (rule 2 of the module docstring).
    """

    n_significant: int
    patterns: np.ndarray
    members: tuple[np.ndarray, ...]
    activation: np.ndarray
    eigenvalues: np.ndarray
    threshold: float
    member_mask: np.ndarray
    note: str = ""
    one_frame: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


@dataclass(frozen=True)
class IndependentComponents:
    """Result of ``fast_ica`` on n signals of T samples.

    Attributes:
        unmixing: (n, n) float64; ``sources = unmixing @ (signals − their means)``.
        sources: (n, T) float64 independent components, unit variance, mean 0.
        n_iter: fixed-point iterations run.
        converged: whether the unmixing stopped changing (within ``tol``).
    """

    unmixing: np.ndarray
    sources: np.ndarray
    n_iter: int
    converged: bool


def marchenko_pastur_bound(n_cells: int, n_frames: int) -> float:
    """Largest eigenvalue (1 + sqrt(n_cells / n_frames))² of the correlation matrix of
    ``n_cells`` independent neurons over ``n_frames`` frames (Marchenko–Pastur, large N, T)."""
    return float((1.0 + np.sqrt(n_cells / n_frames)) ** 2)


def fast_ica(signals: np.ndarray, *, seed: int | np.random.Generator = 0, max_iter: int = 1000,
             tol: float = 1e-7) -> IndependentComponents:
    """Independent components of mixed signals by symmetric FastICA (Hyvärinen 1999).

    The signals are centred and whitened; then all unmixing rows w are updated together with
    the logcosh contrast, w ← E[x tanh(wᵀx)] − E[1 − tanh²(wᵀx)] w, and re-orthonormalised
    symmetrically, W ← (W Wᵀ)^(-1/2) W, from a seeded random orthogonal start, until every row
    changes direction by less than ``tol`` (1 − |⟨w_new, w_old⟩|).

    Args:
        signals: (n, T) mixtures, n ≥ 1 linearly independent rows, T > n samples.
        seed: int seed or Generator for the starting unmixing matrix.
        max_iter: most iterations.
        tol: convergence tolerance.

    Returns:
        An ``IndependentComponents`` (order and sign of the sources are arbitrary).

    Raises:
        InputError: not 2-D, non-finite, T ≤ n, or rows linearly dependent.
    """
    x = np.asarray(signals, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] <= x.shape[0] or not np.isfinite(x).all():
        raise InputError(f"signals: expected finite (n, T) mixtures with T > n ≥ 1, got shape "
                         f"{x.shape}")
    x = x - x.mean(axis=1, keepdims=True)
    variances, axes = np.linalg.eigh(x @ x.T / x.shape[1])
    if variances.min() <= variances.max() * 1e-12:
        raise InputError("signals: the rows are linearly dependent (or constant); drop the "
                         "redundant mixtures")
    whitening = (axes / np.sqrt(variances)).T
    white = whitening @ x
    unmixing = _orthonormalised(np.random.default_rng(seed).standard_normal((len(x), len(x))))
    converged = False
    for n_iter in range(1, max_iter + 1):
        g = np.tanh(unmixing @ white)
        updated = _orthonormalised(g @ white.T / white.shape[1]
                                   - np.mean(1.0 - g**2, axis=1)[:, None] * unmixing)
        change = np.max(np.abs(np.abs(np.sum(updated * unmixing, axis=1)) - 1.0))
        unmixing = updated
        if change < tol:
            converged = True
            break
    total = unmixing @ whitening
    return IndependentComponents(unmixing=total, sources=total @ x, n_iter=n_iter,
                                 converged=converged)


def assemblies(activity: np.ndarray, seed: int | np.random.Generator = 0, *,
               max_assemblies: int | None = None, n_shuffles: int = 20) -> Assemblies:
    """Detect cell assemblies by PCA + ICA (see the module docstring for the method).

    Args:
        activity: (cells, T) spike counts / probabilities / ΔF/F, NaN where missing (a neuron's
            missing frames count as its mean).
        seed: int seed or Generator (ICA start; randomized eigenvalues on large inputs).
        max_assemblies: most assemblies returned (≥ 1); None: all significant ones.
        n_shuffles: circularly shifted copies for the null's top eigenvalue (≥ 1; 0 uses the
            Marchenko–Pastur bound alone, which is right only for temporally white activity).

    Returns:
        An ``Assemblies``; with no eigenvalue above the bound, ``n_significant`` is 0 and the
        arrays are empty with shapes (0, cells) and (0, T).

    Raises:
        InputError: bad activity (see ``checked_activity``) or max_assemblies < 1.
    """
    if max_assemblies is not None and (not isinstance(max_assemblies, (int, np.integer))
                                       or max_assemblies < 1):
        raise InputError(f"max_assemblies={max_assemblies!r}: must be a whole number ≥ 1 or "
                         "None (no limit)")
    if not isinstance(n_shuffles, (int, np.integer)) or n_shuffles < 0:
        raise InputError(f"n_shuffles={n_shuffles!r}: must be a whole number ≥ 0 (20 is usual)")
    z, usable = prepared_activity(activity, zscore=True)
    n, t = z.shape
    rng = np.random.default_rng(seed)
    eigen_seed, ica_seed = rng.integers(0, 2**32, size=2)
    small = is_exact(z)  # all eigenvalues when small; else enough to reach the bound
    if not small:
        z = z.astype(np.float32)
    mp_bound = marchenko_pastur_bound(n, t)
    bound = max(mp_bound, shifted_null_edge(z, n_shuffles, rng) / t)
    limit = rank_cap(n, t)
    if not small and max_assemblies is not None:
        limit = min(limit, max_assemblies + 1)
    k = limit if small else min(_FIRST_EIGENVALUES, limit)
    while True:
        s, vectors = top_singular(z, k, eigen_seed)
        eigenvalues = s**2 / t
        if eigenvalues[-1] <= bound or k == limit:
            break
        k = min(2 * k, limit)
    above = eigenvalues > bound
    one_frame = _carried_by_one_frame(z, vectors, eigenvalues, bound)
    counted = np.flatnonzero(above & ~one_frame)
    n_significant = int(counted.size)
    n_kept = n_significant if max_assemblies is None else min(n_significant, max_assemblies)
    notes = []
    if one_frame.any():
        notes.append(f"{int(one_frame.sum())} component(s) above the bound not counted: each "
                     "falls below it without its largest frame (an event in one frame, e.g. an "
                     "artefact, is not an assembly, which recurs)")
    if bound > _NOTED_EXCESS * mp_bound:
        notes.append(f"eigenvalue bound {bound:.3g} from {n_shuffles} circularly shifted copies, "
                     f"above the Marchenko–Pastur {mp_bound:.3g}: the activity's "
                     "autocorrelation spreads the null spectrum")
    if n_kept < n_significant:
        at_least = "at least " if eigenvalues[-1] > bound else ""
        notes.append(f"{at_least}{n_significant} eigenvalues above the bound, first {n_kept} "
                     "assemblies kept (max_assemblies)")
    patterns = np.zeros((n_kept, usable.size))
    activation = np.zeros((n_kept, t))
    if n_kept:
        basis = vectors[:, counted[:n_kept]].astype(z.dtype)
        ica = fast_ica(basis.T @ z, seed=ica_seed)
        if not ica.converged:
            notes.append(f"FastICA did not converge in {ica.n_iter} iterations; patterns may "
                         "mix assemblies")
        weights = _unit_signed(ica.unmixing @ basis.T.astype(np.float64))
        patterns[:, usable] = weights
        activation = _activation(weights, z)
    member_mask = np.zeros(patterns.shape, dtype=bool)
    member_mask[:, usable] = _members(patterns[:, usable])
    return Assemblies(n_significant=n_significant, patterns=patterns,
                      members=tuple(np.flatnonzero(row).astype(np.int64) for row in member_mask),
                      activation=activation, eigenvalues=eigenvalues, threshold=bound,
                      member_mask=member_mask, note="; ".join(notes), one_frame=one_frame)


def _carried_by_one_frame(z: np.ndarray, vectors: np.ndarray, eigenvalues: np.ndarray,
                          bound: float) -> np.ndarray:
    """(k,) bool: components whose eigenvalue, less the share of their largest frame,
    score_t² / T (score = vᵀ z_t), is at or below ``bound``; False where already below it.

    ``z``: (n, T) z-scored activity; ``vectors``: (n, k) unit eigenvectors of z zᵀ / T."""
    above = np.flatnonzero(eigenvalues > bound)
    out = np.zeros(eigenvalues.size, dtype=bool)
    if above.size:
        scores = vectors[:, above].T.astype(z.dtype) @ z
        largest = (scores.astype(np.float64) ** 2).max(axis=1) / z.shape[1]
        out[above] = eigenvalues[above] - largest <= bound
    return out


def _orthonormalised(w: np.ndarray) -> np.ndarray:
    """Symmetric orthonormalisation (W Wᵀ)^(-1/2) W = U Vᵀ for W = U S Vᵀ."""
    left, _, right_t = np.linalg.svd(w)
    return left @ right_t


def _unit_signed(weights: np.ndarray) -> np.ndarray:
    """(a, n) rows scaled to unit length, each signed so its largest-magnitude entry is > 0."""
    weights = weights / np.linalg.norm(weights, axis=1, keepdims=True)
    largest = weights[np.arange(len(weights)), np.argmax(np.abs(weights), axis=1)]
    return weights * np.where(largest < 0, -1.0, 1.0)[:, None]


def _members(weights: np.ndarray) -> np.ndarray:
    """(a, n) bool: members of each pattern by rule 5 of the module docstring (usable rows)."""
    n = weights.shape[1]
    median = np.median(weights, axis=1, keepdims=True)
    spread = 1.4826 * np.median(np.abs(weights - median), axis=1, keepdims=True)
    bulk_cut = median + norm.isf(FALSE_MEMBERS / n) * spread
    split = np.array([_otsu_threshold(row) for row in weights])[:, None]
    return (weights > np.maximum(split, bulk_cut)) & (weights > 0)


def _otsu_threshold(values: np.ndarray) -> float:
    """The cut between two classes of 1-D ``values`` (≥ 2) maximising the between-class
    variance k (n − k) (mean_high − mean_low)², midway between the neighbours it separates."""
    ordered = np.sort(values)
    n = ordered.size
    if n < 2:
        return -np.inf
    low_sizes = np.arange(1, n)
    cumulative = np.cumsum(ordered)
    low_mean = cumulative[:-1] / low_sizes
    high_mean = (cumulative[-1] - cumulative[:-1]) / (n - low_sizes)
    best = int(np.argmax(low_sizes * (n - low_sizes) * (high_mean - low_mean) ** 2))
    return float((ordered[best] + ordered[best + 1]) / 2)


def _activation(weights: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(a, T) R_k(t) = (w_kᵀ z_t)² − Σ_i w_ki² z_it² for unit patterns (a, n), z (n, T)."""
    projected = np.asarray(weights.astype(z.dtype) @ z, dtype=np.float64)
    diagonal = np.zeros_like(projected)
    squared_weights = (weights**2).astype(z.dtype)
    for start in range(0, z.shape[0], _ROW_CHUNK):
        rows = slice(start, start + _ROW_CHUNK)
        diagonal += squared_weights[:, rows] @ np.square(z[rows])
    return projected**2 - diagonal

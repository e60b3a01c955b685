"""Closed-form baseline and noise-constrained λ for a fixed active set.

For a fixed set of pools (or spike support) the solution is affine in θ = (1, b, λ), so the RSS
is a quadratic form and Σ w (y − b − c) a linear form in θ; the pool modules and
`calscope.deconv.active_set` compute them, `solve_theta` solves for (b, λ).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def solve_theta(forms, b, lam, fit_b, constrained, target):
    """New (b, λ) for fixed pools: optimal b if ``fit_b``; λ from RSS = target if constrained."""
    q00, q01, q02, q11, q12, q22, l0, l1, l2 = forms
    # b = beta0 + beta1 λ
    if fit_b and l1 != 0.0:
        beta0 = -l0 / l1
        beta1 = -l2 / l1
    else:
        beta0 = b
        beta1 = 0.0
    if not constrained:
        return beta0 + beta1 * lam, lam
    # RSS(λ) = θᵀ Q θ with θ = (1, beta0 + beta1 λ, λ) = x + λ y
    x0, x1, x2 = 1.0, beta0, 0.0
    y0, y1, y2 = 0.0, beta1, 1.0
    c0 = (q00 * x0 * x0 + q11 * x1 * x1 + q22 * x2 * x2
          + 2.0 * (q01 * x0 * x1 + q02 * x0 * x2 + q12 * x1 * x2))
    c1 = 2.0 * (q00 * x0 * y0 + q11 * x1 * y1 + q22 * x2 * y2
                + q01 * (x0 * y1 + x1 * y0) + q02 * (x0 * y2 + x2 * y0) + q12 * (x1 * y2 + x2 * y1))
    c2 = (q00 * y0 * y0 + q11 * y1 * y1 + q22 * y2 * y2
          + 2.0 * (q01 * y0 * y1 + q02 * y0 * y2 + q12 * y1 * y2))
    if c0 >= target or c2 <= 0.0:
        return beta0, 0.0
    disc = c1 * c1 - 4.0 * c2 * (c0 - target)
    if disc < 0.0:
        disc = 0.0
    new_lam = (-c1 + np.sqrt(disc)) / (2.0 * c2)
    if new_lam < 0.0:
        new_lam = 0.0
    return beta0 + beta1 * new_lam, new_lam

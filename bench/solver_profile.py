"""Timing profile of calscope's OASIS solver (per phase and whole matrix) against oasis-deconv.

Simulated traces, 30 Hz, 0.5 Hz Poisson spikes, σ = 0.3; AR(1) g = 0.95 and AR(2)
(1.467, −0.489). Noise-constrained problem with known g and σ.

* Phases (single trace, T = 10,000, single thread): ns/sample of the pool phase, of the exact
  refinement (the rest) and of the whole `solve_trace`, fixed and free baseline (free b starts
  at the 15th percentile, like `calscope.deconvolve`).
* Matrix: `solve_matrix` on cells × T (all cores via prange) in M samples/s, next to
  oasis-deconv's ``constrained_oasisAR1/AR2`` looped over cells in Python, *single thread*
  (baseline 0 with optimize_b=False vs our fixed b = 0; optimize_b=True vs our fit_b).

Run: ``.venv/bin/python bench/solver_profile.py [--cells 1000] [--T 10000] [--peer-cells 200]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from calscope.deconv import oasis
from calscope.deconv.baseline import baseline_guess

FS = 30.0
SN = 0.3
KERNELS = {"AR1": (0.95, 0.0), "AR2": (1.467, -0.489)}
OFFSET = 1.0  # baseline added for the free-baseline runs


def simulate(n_cells, T, g1, g2, offset, seed=0):
    """Cells × T AR traces with Poisson spikes (0.5 Hz) plus Gaussian noise and an offset."""
    rng = np.random.default_rng(seed)
    s = (rng.random((n_cells, T)) < 0.5 / FS).astype(float)
    c = np.zeros((n_cells, T))
    for t in range(T):
        c[:, t] = s[:, t]
        if t > 0:
            c[:, t] += g1 * c[:, t - 1]
        if t > 1:
            c[:, t] += g2 * c[:, t - 2]
    return c + offset + SN * rng.standard_normal((n_cells, T))


def best_of(fn, repeats=3):
    """Minimum wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def phase_profile(T):
    """ns/sample of the pool phase (`_fit_pools`) and of `solve_trace`, single trace."""
    print(f"Phases, one trace, T = {T}, single thread (ns/sample):")
    for name, (g1, g2) in KERNELS.items():
        for fit_b in (False, True):
            y = simulate(1, T, g1, g2, OFFSET if fit_b else 0.0, seed=1)[0]
            w = np.ones(T)
            b0 = np.percentile(y, 15) if fit_b else 0.0  # as calscope.deconvolve starts b
            args = (y, w, g1, g2)
            pool = best_of(lambda a=args, b=b0, f=fit_b: oasis.profile_pool_phase(*a, b, SN, f), 5)
            full = best_of(lambda a=args, b=b0, f=fit_b: oasis.solve_trace(
                *a, 0.0, b, SN, f, True, False, 0.0), 5)
            label = "free b " if fit_b else "fixed b"
            print(f"  {name} {label}: pool phase {pool / T * 1e9:6.1f}   refine "
                  f"{(full - pool) / T * 1e9:6.1f}   solve_trace {full / T * 1e9:6.1f}")


def peer(name, Y, g1, g2, fit_b, n):
    """oasis-deconv's constrained solver looped over the first n cells (single thread)."""
    from oasis.oasis_methods import constrained_oasisAR1, constrained_oasisAR2

    def run():
        for i in range(n):
            if name == "AR1":
                constrained_oasisAR1(Y[i], g1, SN, optimize_b=fit_b)
            else:
                constrained_oasisAR2(Y[i], g1, g2, SN, optimize_b=fit_b)
    return best_of(run, 1)


def matrix_profile(n_cells, T, peer_cells):
    """M samples/s of `solve_matrix` (prange) and of the peer (single thread)."""
    print(f"\nsolve_matrix on {n_cells} × {T} (prange, all cores) vs oasis-deconv looped over "
          f"{peer_cells} cells (single thread), M samples/s:")
    print(f"  {'case':14s} {'calscope':>9s} {'ns/s/core':>9s} {'peer':>8s} {'ours/peer':>9s}")
    import numba
    cores = numba.get_num_threads()
    for name, (g1, g2) in KERNELS.items():
        for fit_b in (False, True):
            Y = simulate(n_cells, T, g1, g2, OFFSET if fit_b else 0.0, seed=2)
            skip = np.zeros(n_cells, dtype=bool)
            G = np.tile([g1, g2], (n_cells, 1))
            z = np.zeros(n_cells)
            sn = np.full(n_cells, SN)

            def ours(Y=Y, skip=skip, G=G, z=z, sn=sn, fit_b=fit_b):
                # free b starts, as calscope.deconvolve does, at baseline_guess (timed too)
                b0 = baseline_guess(Y) if fit_b else z
                oasis.solve_matrix(Y, skip, G, z, b0, sn, fit_b, True, False, z)
            t_ours = best_of(ours, 2)
            t_peer = peer(name, Y, g1, g2, fit_b, peer_cells)
            ours = Y.size / t_ours / 1e6
            theirs = peer_cells * T / t_peer / 1e6
            label = f"{name} {'free b' if fit_b else 'fixed b'}"
            print(f"  {label:14s} {ours:9.1f} {cores * 1e3 / ours:9.1f} {theirs:8.1f} "
                  f"{ours / theirs:9.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--T", type=int, default=10000)
    parser.add_argument("--peer-cells", type=int, default=200)
    args = parser.parse_args()
    phase_profile(args.T)
    matrix_profile(args.cells, args.T, min(args.peer_cells, args.cells))


if __name__ == "__main__":
    main()

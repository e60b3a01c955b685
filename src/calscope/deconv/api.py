"""`deconvolve`: fluorescence traces → calcium and spikes by OASIS (noise-constrained by default)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from calscope.deconv.bandwidth import working_rate
from calscope.deconv.baseline import baseline_guess, slow_baseline
from calscope.deconv.gfit import fit_decay
from calscope.deconv.kinetics import ar_at_rate, ar_coefficients, kernel_roots
from calscope.deconv.noise import noise_sigma
from calscope.deconv.oasis import solve_matrix
from calscope.deconv.resample import resample_with_gaps, to_input_frames
from calscope.deconv.result import Deconvolution
from calscope.errors import InputError
from calscope.validation import checked_traces, unusable_rows, warn_unusable_rows

G_FIT_ROUNDS = 2  # optimize_g: fit the decay on the support, re-solve; twice


def deconvolve(traces: np.ndarray, fs: float, *, order: Literal[1, 2] = 2,
               penalty: Literal["l1", "l0"] = "l1", g: np.ndarray | None = None,
               sn: np.ndarray | float | None = None, lam: np.ndarray | float | None = None,
               baseline: bool | float | Literal["constant"] = True,
               baseline_window_s: float = 20.0, s_min: float | None = None,
               optimize_g: bool = False, native_fs: float | None = None) -> Deconvolution:
    """Infer calcium and spikes from fluorescence traces by OASIS.

    By default (``lam=None``) each cell's sparsity penalty λ is found by the noise constraint
    ‖y − c − b‖² = σ² T, with σ estimated from the power spectrum, a slowly varying baseline
    (drift) removed first, and the AR coefficients from the autocovariance of the drift-free
    trace; the solution is the exact optimum of the convex problem.

    Args:
        traces: (cells, T) or (T,) fluorescence (e.g. ΔF/F); NaN marks missing samples.
        fs: sampling rate in Hz.
        order: AR order of the calcium dynamics, 1 (instant rise) or 2 (rise and decay).
        penalty: "l1" (convex, OASIS) or "l0" (hard threshold: every spike ≥ s_min).
        g: AR coefficients, (order,) for all cells (a number for order 1) or (cells, order);
            estimated per cell when None (`calscope.deconv.kinetics.ar_coefficients`).
        sn: noise σ in trace units, scalar or (cells,); estimated when None.
        lam: L1 penalty λ, scalar or (cells,); None = noise-constrained.
        baseline: True (default) removes a slow baseline (a low running quantile over
            ``baseline_window_s``, robust to transients); "constant" fits one constant jointly
            with the spikes (exact optimum); False fixes it at 0; a number fixes it there.
        baseline_window_s: time scale (s) of the slow baseline; keep it well above the
            indicator's decay time.
        s_min: minimum spike size for "l0" (trace units); None = chosen from the noise.
        optimize_g: refit each cell's decay time on the spike support of the solution and
            solve again (`calscope.deconv.gfit`, 2 rounds). Off by default: it fits the
            calcium better, but lowered the spike correlation on the real ground truth
            (docs/deconvolution.md).
        native_fs: the rate (Hz, ≤ fs) the traces were recorded at, when they were resampled
            up to ``fs`` (e.g. the Spikefinder files: 7.8 Hz recordings at 100 Hz). The problem
            is then solved at that rate, where the noise is white, and mapped back to ``fs``
            (spikes keeping their totals). None (default) detects it from the power spectrum
            (`calscope.deconv.bandwidth.native_rate`: ``fs`` unless the spectrum has the cliff
            that interpolation leaves); pass ``fs`` to turn detection off. ``sn``, ``lam`` and
            ``s_min`` are at the native rate (``g`` is given and returned at ``fs``).

    Returns:
        `Deconvolution` with calcium, spikes and baseline (cells, T), sn, lam (cells,), g
        (cells, order) and the rate solved at (``native_fs``); the cell axis is dropped for 1-D
        input. NaN exactly where the input is NaN; rows that are all NaN, constant or too short
        come back all NaN with a warning.
    """
    if (isinstance(baseline, str) and baseline != "constant"
            or not isinstance(baseline, (bool, int, float, str))):
        raise InputError(f"baseline: expected True, False, 'constant' or a number, got {baseline!r}")
    if order not in (1, 2):
        raise InputError(f"order: must be 1 or 2, got {order!r}")
    if penalty not in ("l1", "l0"):
        raise InputError(f"penalty: must be 'l1' or 'l0', got {penalty!r}")
    was_1d = np.ndim(traces) == 1
    y, bad = checked_traces(traces, fs)
    rate = working_rate(y[~bad] if bad.any() else y, float(fs), native_fs)
    if rate < fs:
        if g is not None:
            g = _g_at_rate(_ar_matrix(g, y.shape[0], order), float(fs), rate)
        at_native, _ = resample_with_gaps(y, fs, rate)
        short = unusable_rows(at_native) & ~bad
        warn_unusable_rows(short)
        solved = _solve(at_native, bad | short, rate, order, penalty, g, sn, lam, baseline,
                        baseline_window_s, s_min, optimize_g)
        result = _at_rate(solved, y, bad | short, float(fs))
    else:
        result = _solve(y, bad, float(fs), order, penalty, g, sn, lam, baseline,
                        baseline_window_s, s_min, optimize_g)
    if was_1d:
        return Deconvolution(calcium=result.calcium[0], spikes=result.spikes[0],
                             baseline=result.baseline[0], g=result.g[0], sn=result.sn[0],
                             lam=result.lam[0], fs=result.fs, native_fs=result.native_fs)
    return result


def _g_at_rate(g: np.ndarray, fs: float, rate: float) -> np.ndarray:
    """(cells, order) AR coefficients given at ``fs``, converted to ``rate``."""
    converted = ar_at_rate(g, fs, rate)
    if np.isnan(converted).any():
        raise InputError("g: AR coefficients that are not a decaying transient cannot be moved "
                         f"to the native rate {rate:.3g} Hz; pass native_fs=fs")
    return converted


def _at_rate(solved: Deconvolution, y: np.ndarray, bad: np.ndarray, fs: float
             ) -> Deconvolution:
    """A (cells, T') solution at the native rate mapped back to the (cells, T) input ``y`` at
    ``fs``: spikes keeping their totals, calcium and baseline resampled, g converted, NaN where
    ``y`` is NaN and on ``bad`` rows."""
    n = y.shape[1]
    missing = np.isnan(y) | bad[:, None]
    spikes = to_input_frames(solved.spikes, solved.fs, fs, n, counts=True)
    calcium, base = (to_input_frames(a, solved.fs, fs, n, counts=False)
                     for a in (solved.calcium, solved.baseline))
    for a in (spikes, calcium, base):
        a[missing] = np.nan
    g = ar_at_rate(solved.g, solved.fs, fs)
    sn, lam = solved.sn.copy(), solved.lam.copy()
    g[bad], sn[bad], lam[bad] = np.nan, np.nan, np.nan
    return Deconvolution(calcium=calcium, spikes=spikes, baseline=base, g=g, sn=sn, lam=lam,
                         fs=fs, native_fs=solved.fs)


def _solve(y: np.ndarray, bad: np.ndarray, fs: float, order: int, penalty: str,
           g: np.ndarray | None, sn: np.ndarray | float | None,
           lam: np.ndarray | float | None, baseline: bool | float | str,
           baseline_window_s: float, s_min: float | None, optimize_g: bool) -> Deconvolution:
    """`deconvolve` of validated (cells, T) traces at the rate they are solved at."""
    fit_constant = isinstance(baseline, str)
    n_cells = y.shape[0]
    good = slice(None) if not bad.any() else ~bad  # a slice avoids copying every trace
    sn_arr = _per_cell(sn, n_cells, "sn") if sn is not None else np.zeros(n_cells)
    if sn is None:
        sn_arr[good] = noise_sigma(y[good], fs)
    drift = None
    if baseline is True:
        drift = np.zeros_like(y)
        drift[good] = slow_baseline(y[good], fs, baseline_window_s, sn=sn_arr[good])
        y -= drift
    g_arr = np.zeros((n_cells, order))
    if g is None:
        g_arr[good] = ar_coefficients(y[good], fs, sn_arr[good], order)
    else:
        g_arr[:] = _ar_matrix(g, n_cells, order)
    lam_arr = _per_cell(lam, n_cells, "lam") if lam is not None else np.zeros(n_cells)
    if np.any(lam_arr < 0):
        raise InputError(f"lam: the sparsity penalty must be ≥ 0, got {lam}")
    if fit_constant:
        b0 = baseline_guess(y)
    else:
        b0 = np.full(n_cells, 0.0 if isinstance(baseline, bool) else float(baseline))
    smin = np.full(n_cells, 0.0 if s_min is None else float(s_min))
    G = np.zeros((n_cells, 2))
    G[:, :order] = g_arr

    def solve(G: np.ndarray) -> tuple[np.ndarray, ...]:
        return solve_matrix(y, bad, G, lam_arr, b0, sn_arr, fit_constant, lam is None,
                            penalty == "l0", smin)

    C, S, B, LAM, _ = solve(G)
    if optimize_g:
        decay, rise, ok = kernel_roots(g_arr)
        fit = ok & ~bad  # cells with a real decaying kernel; the others keep their g
        for _ in range(G_FIT_ROUNDS):
            decay = fit_decay(y - np.nan_to_num(B)[:, None], S, decay, rise, sn_arr, ~fit,
                              float(fs))
            G[fit, 0], G[fit, 1] = decay[fit] + rise[fit], -decay[fit] * rise[fit]
            C, S, B, LAM, _ = solve(G)
    g_arr[:] = G[:, :order]
    # the baseline is NaN exactly where the spikes are (missing samples, unusable rows)
    base = np.where(np.isnan(S), np.nan, B[:, None] if drift is None else drift + B[:, None])
    sn_arr[bad] = np.nan
    g_arr[bad] = np.nan
    return Deconvolution(calcium=C, spikes=S, baseline=base, g=g_arr, sn=sn_arr, lam=LAM,
                         fs=fs, native_fs=fs)


def _per_cell(value: np.ndarray | float, n_cells: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n_cells, float(arr))
    if arr.shape != (n_cells,):
        raise InputError(f"{name}: expected a number or {n_cells} values (one per cell), "
                         f"got shape {arr.shape}")
    return arr.copy()


def _ar_matrix(g: np.ndarray, n_cells: int, order: int) -> np.ndarray:
    arr = np.asarray(g, dtype=np.float64)
    if arr.ndim == 0 and order == 1:
        arr = arr[None]
    if arr.ndim == 1 and arr.shape[0] == order:
        return np.tile(arr, (n_cells, 1))
    if arr.shape == (n_cells, order):
        return arr
    raise InputError(f"g: expected {order} AR coefficient(s) (order={order}) or a "
                     f"({n_cells}, {order}) array, got shape {arr.shape}")

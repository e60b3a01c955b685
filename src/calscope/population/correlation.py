"""Pairwise correlations between neurons, with surrogate p-values and FDR control.

``correlations`` gives the Pearson r of every pair of neurons (optionally after binning or
smoothing, and after removing the stimulus-locked mean response: noise correlations), a
surrogate p-value per tested pair (circular shifts, or ISI shuffles:
`calscope.population.isi_surrogates`) and the pairs significant after Benjamini–Hochberg
control.

Missing frames (NaN) are handled pairwise: a pair's r uses the frames where both neurons are
finite. When every usable neuron misses the same frames (dropped frames) those frames are simply
left out, which is the same thing done faster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.ndimage import gaussian_filter1d

from calscope.errors import InputError
from calscope.population.activity import checked_activity
from calscope.population.isi_surrogates import EVENT_THRESHOLD_SDS, isi_null_exceedances
from calscope.population.surrogates import (ShiftedCorrelator, circular_shifts, fdr_bh,
                                            masked_pearson, min_shift_frames, p_from_counts,
                                            standardized_rows, surrogate_p, unit_rms_rows)
from calscope.validation import MIN_SAMPLES, check_fs, unusable_rows

#: Bytes of float64 work per block of rows of the correlation matrix.
_BLOCK_BYTES = 256 * 2**20
#: Surrogate r values held at once (pairs × surrogates): bounds the memory of the test.
_NULL_PER_CHUNK = 8_000_000
#: A surrogate r within this of the observed r counts as a tie (float32 rounding).
_TIE = 1e-5
#: ISI-shuffle surrogates per pair when ``n_surrogates`` is None.
ISI_SURROGATES = 1000


@dataclass(frozen=True)
class Correlations:
    """Pairwise correlations of one recording (``cells`` = rows of the input).

    Attributes:
        r: (cells, cells) float32 Pearson r; 1 on the diagonal, NaN for unusable rows and for
            pairs with fewer than 10 frames both finite or constant on them.
        p: (cells, cells) float32 two-sided surrogate p-value; NaN on the diagonal, for unusable
            rows and for pairs not tested.
        significant: (cells, cells) bool, significant after Benjamini–Hochberg FDR control over
            the tested pairs (symmetric; False on the diagonal and for untested pairs).
        n_surrogates: surrogates per tested pair (for circular shifts, every admissible shift
            when the test used them all).
        test: how the p-values were obtained, in words (for the report).
        fs: frame rate (Hz) of the input activity.
    """

    r: np.ndarray
    p: np.ndarray
    significant: np.ndarray
    n_surrogates: int
    test: str
    fs: float


def correlations(activity: np.ndarray, fs: float, *, bin_s: float | None = None,
                 smooth_s: float | None = None, stimulus: np.ndarray | None = None,
                 n_surrogates: int | None = None, max_pairs: int = 200_000, alpha: float = 0.05,
                 surrogates: Literal["shift", "isi"] = "shift", seed: int = 0) -> Correlations:
    """Pearson correlations between all pairs of neurons, tested against surrogates.

    Args:
        activity: (cells, T) spike probabilities, counts or ΔF/F per frame; NaN where missing.
        fs: frame rate (Hz).
        bin_s: if given, activity is summed in consecutive bins of this many seconds (a trailing
            partial bin is dropped; a bin with a missing frame is missing) before correlating.
        smooth_s: if given, activity is smoothed with a Gaussian of this σ (seconds), ignoring
            missing frames (which stay missing). Give ``bin_s`` or ``smooth_s``, not both.
        stimulus: (T,) integer label of the stimulus shown at each frame. Each neuron's mean
            response to each label is subtracted first, so r measures *noise* correlations
            (shared trial-to-trial variability), not shared stimulus tuning.
        n_surrogates: None (default): with circular shifts every admissible shift is a
            surrogate, the exact null over shifts (T − 2·min_shift + 1 per pair; see below),
            with ISI shuffles `ISI_SURROGATES`; a number: that many random surrogates per pair;
            0: r only, p all NaN.
        max_pairs: at most this many pairs are tested; with more pairs than this, a random
            subset of them is tested and the others get p = NaN (see ``test``).
        alpha: false-discovery rate for ``significant``.
        surrogates: "shift" (default): circular shifts, which keep each neuron's whole
            autocorrelation; "isi": ISI shuffles (`calscope.population.isi_surrogates`), which
            keep each neuron's rate, inter-event intervals and event shapes but not its slow
            fluctuations. An ISI surrogate is prepared (stimulus means, bins, smoothing) as the
            data were; it costs a pass over the tested pairs per surrogate, where all shifts
            of a pair come from one FFT.
        seed: seeds the surrogates and the choice of tested pairs.

    Each surrogate of a pair rolls the second neuron circularly against the first by a lag
    (min_shift = at least 1 s and 10 frames but at most T / 4, up to T − min_shift; every such
    lag by default, else random ones drawn anew for every pair and surrogate), recomputes r, and
    the two-sided p = (1 + #{|r_surrogate| >= |r|}) / (1 + n). Shifting both neurons
    independently instead would leave their relative lag near 0 in some surrogates, which keeps
    a true correlation and bounds p from below. Note p >= 1 / (n + 1): Benjamini–Hochberg over m
    tested pairs can only pass pairs if at least m / (alpha (n + 1)) of them reach that floor.
    With a few hundred random shifts that blocks the test whenever correlated pairs are a small
    fraction (60 neurons, one assembly of 12: nothing passes with 200); every shift gives
    n ≈ T at about twice the cost of 200 (the FFTs, most of the cost, do not grow with n).

    Raises:
        InputError: not a (cells, T) array, fewer than 2 usable neurons, bad fs, bin/smoothing
            widths, stimulus labels or test settings.
    """
    checked = checked_activity(activity)
    rate = check_fs(fs)
    if (n_surrogates is not None and n_surrogates < 0) or max_pairs < 1:
        raise InputError(f"n_surrogates={n_surrogates}, max_pairs={max_pairs}: need "
                         "n_surrogates >= 0 and max_pairs >= 1")
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha={alpha}: the false-discovery rate must lie between 0 and 1")
    if surrogates not in ("shift", "isi"):
        raise InputError(f"surrogates={surrogates!r}: use 'shift' (circular shifts) or 'isi' "
                         "(inter-event interval shuffles)")

    def prepare(raw: np.ndarray) -> np.ndarray:
        return prepared_activity(raw, rate, bin_s=bin_s, smooth_s=smooth_s, stimulus=stimulus)[0]

    raw = checked.values.copy() if surrogates == "isi" else None
    values, used_rate = prepared_activity(checked.values, rate, bin_s=bin_s, smooth_s=smooth_s,
                                          stimulus=stimulus)
    usable = checked.usable & ~unusable_rows(values)
    values[~usable] = 0.0  # ignored from here on; zero rows never carry NaN into a shortcut
    r = correlation_matrix(values, usable)
    p = np.full(r.shape, np.nan, dtype=np.float32)
    significant = np.zeros(r.shape, dtype=bool)
    rows = np.flatnonzero(usable)
    if n_surrogates == 0 or rows.size < 2:
        reason = "n_surrogates = 0" if n_surrogates == 0 else "fewer than 2 usable neurons left"
        return Correlations(r, p, significant, n_surrogates or 0, f"no surrogate test ({reason}): "
                            "p = NaN, nothing significant", rate)
    rng = np.random.default_rng(seed)
    local, n_all = pairs_to_test(rows.size, max_pairs, rng)
    pairs = rows[local]
    if surrogates == "isi":
        n_null = n_surrogates or ISI_SURROGATES
        observed = r[pairs[:, 0], pairs[:, 1]]
        exceed, valid = isi_null_exceedances(raw, values, pairs, observed, n_null, rng, prepare,
                                             _TIE)
        p_tested = p_from_counts(exceed, valid, observed)
        method = (f"ISI-shuffle surrogates (the second neuron's inter-event intervals in a "
                  f"random order, events = rises above median + {EVENT_THRESHOLD_SDS:g} robust "
                  f"SD: {n_null:,} per pair)")
    else:
        p_tested, n_null, method = _shift_p(values, r, pairs, n_surrogates, used_rate, rng)
    significant_tested = fdr_bh(p_tested, alpha)
    for first, second in ((0, 1), (1, 0)):
        p[pairs[:, first], pairs[:, second]] = p_tested
        significant[pairs[:, first], pairs[:, second]] = significant_tested
    if len(pairs) == n_all:
        scope = f"all {n_all:,} pairs"
    else:
        scope = f"a random {len(pairs):,} of {n_all:,} pairs; other pairs untested (p = NaN)"
    test = (f"{method}, {scope}; Benjamini–Hochberg FDR at α = {alpha:g} over the "
            f"{len(pairs):,} tested pairs")
    return Correlations(r, p, significant, n_null, test, rate)


def _shift_p(values: np.ndarray, r: np.ndarray, pairs: np.ndarray, n_surrogates: int | None,
             rate: float, rng: np.random.Generator) -> tuple[np.ndarray, int, str]:
    """Circular-shift p-values of ``pairs``: (P,) p, surrogates per pair, the test in words."""
    n_frames = values.shape[1]
    min_shift = min_shift_frames(rate, n_frames)
    correlator = ShiftedCorrelator(values)
    p_tested = np.empty(len(pairs))
    every_shift = n_surrogates is None
    all_lags = np.arange(min_shift, n_frames - min_shift + 1)
    n_null = all_lags.size if every_shift else n_surrogates
    step = max(1, _NULL_PER_CHUNK // n_null)
    for start in range(0, len(pairs), step):
        chunk = pairs[start:start + step]
        lags = (np.broadcast_to(all_lags, (len(chunk), n_null)) if every_shift
                else circular_shifts(len(chunk), n_frames, n_null, rng, min_shift).T)
        p_tested[start:start + step] = surrogate_p(
            r[chunk[:, 0], chunk[:, 1]], correlator(chunk, lags).T, tolerance=_TIE)
    which = "every shift" if every_shift else f"{n_null} random shifts"
    method = (f"circular-shift surrogates ({which} of the second neuron against the first by "
              f"{min_shift}–{n_frames - min_shift} frames: {n_null:,} per pair)")
    return p_tested, n_null, method


def prepared_activity(values: np.ndarray, fs: float, *, bin_s: float | None = None,
                      smooth_s: float | None = None,
                      stimulus: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Stimulus means removed, then binned or smoothed, as `correlations` describes.

    Args:
        values: (cells, T) float64 activity, NaN where missing; modified in place.
        fs: its frame rate (Hz).

    Returns:
        ``(values, rate)``: (cells, T') activity and its frame rate (Hz); T' = T // bin frames
        when binned, else T.
    """
    if bin_s is not None and smooth_s is not None:
        raise InputError("bin_s and smooth_s: give one of them, not both (bin to count spikes "
                         "in windows, smooth to keep the frame rate)")
    if stimulus is not None:
        _subtract_stimulus_means(values, stimulus)
    if bin_s is not None:
        width = round(_positive_seconds(bin_s, "bin_s") * fs)
        if width > 1:
            n_bins = values.shape[1] // width
            if n_bins < MIN_SAMPLES:
                raise InputError(f"bin_s={bin_s}: leaves {n_bins} bins of {width} frames; at "
                                 f"least {MIN_SAMPLES} are needed, use shorter bins")
            values = values[:, :n_bins * width].reshape(len(values), n_bins, width).sum(axis=2)
            return values, fs / width
    if smooth_s is not None:
        sigma = _positive_seconds(smooth_s, "smooth_s") * fs
        block = max(1, _BLOCK_BYTES // (32 * values.shape[1]))
        for start in range(0, len(values), block):
            rows = values[start:start + block]
            finite = np.isfinite(rows)
            # the weight of the frames present; one row serves when none is missing
            weight = gaussian_filter1d((finite if not finite.all() else finite[:1]).astype(
                np.float64), sigma, axis=1, mode="constant")
            total = gaussian_filter1d(np.where(finite, rows, 0.0), sigma, axis=1, mode="constant")
            rows[...] = np.where(finite, total / np.where(finite, weight, 1.0), np.nan)
    return values, fs


def correlation_matrix(values: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Pearson r of every pair of rows over the frames where both are finite.

    Args:
        values: (cells, T) activity, NaN where missing.
        usable: (cells,) bool; the other rows are ignored and get NaN.

    Returns:
        (cells, cells) float32 r, computed in float32 blocks; 1 on the diagonal of usable rows;
        NaN for pairs with fewer than 10 shared finite frames or constant on them.
    """
    finite = np.isfinite(values)
    finite[~usable] = True
    complete = finite.all(axis=0)
    if finite[np.ix_(usable, ~complete)].any():
        r = _pairwise_r(values, finite & usable[:, None])
    else:  # every usable row misses the same frames: drop them
        r = _gram(standardized_rows(values[:, complete], usable))
    r[~usable] = np.nan
    r[:, ~usable] = np.nan
    rows = np.flatnonzero(usable)
    r[rows, rows] = 1.0
    return r


def pairs_to_test(n: int, max_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """The pairs (i < j) of ``n`` neurons to test: all, or a random ``max_pairs`` of them.

    Returns:
        ``(pairs, n_all)``: (P, 2) int64 pairs sorted row-major, and n (n − 1) / 2.
    """
    n_all = n * (n - 1) // 2
    if n_all <= max_pairs:
        return np.stack(np.triu_indices(n, k=1), axis=1).astype(np.int64), n_all
    index = np.sort(rng.choice(n_all, size=max_pairs, replace=False))
    row = np.floor((2 * n - 1 - np.sqrt((2.0 * n - 1) ** 2 - 8.0 * index)) / 2).astype(np.int64)
    row -= _pairs_above(row, n) > index  # correct float rounding of the square root
    row += _pairs_above(row + 1, n) <= index
    column = index - _pairs_above(row, n) + row + 1
    return np.stack([row, column], axis=1), n_all


def _pairs_above(row: np.ndarray, n: int) -> np.ndarray:
    """How many pairs (i < j) of n neurons have i < ``row``."""
    return row * n - row * (row + 1) // 2


def _positive_seconds(value: float, name: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise InputError(f"{name}={value!r}: must be a positive number of seconds")
    return seconds


def checked_stimulus(stimulus: np.ndarray, n_frames: int) -> np.ndarray:
    """(T,) int64 stimulus labels, one per frame; whole-numbered floats are accepted.

    Raises:
        InputError: not ``n_frames`` labels, or labels that are not whole numbers.
    """
    labels = np.asarray(stimulus)
    whole = labels.dtype.kind in "biu" or (
        labels.dtype.kind == "f" and bool(np.all(np.isfinite(labels)))
        and bool(np.all(labels == np.round(labels))))
    if labels.shape != (n_frames,) or not whole:
        raise InputError(f"stimulus: expected ({n_frames},) integer labels, one per frame of "
                         f"activity, got shape {labels.shape} and dtype {labels.dtype}"
                         + ("" if whole else " with values that are not whole numbers"))
    return labels.astype(np.int64)


def _subtract_stimulus_means(values: np.ndarray, stimulus: np.ndarray) -> None:
    labels = checked_stimulus(stimulus, values.shape[1])
    _, index = np.unique(labels, return_inverse=True)
    for label in range(int(index.max()) + 1):
        frames = np.flatnonzero(index == label)
        response = values[:, frames]
        finite = np.isfinite(response)
        mean = np.where(finite, response, 0.0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)
        values[:, frames] = response - mean[:, None]


def _gram(z: np.ndarray) -> np.ndarray:
    """(cells, cells) float32 z zᵀ, one block of rows at a time, upper blocks mirrored."""
    n = len(z)
    gram = np.empty((n, n), dtype=np.float32)
    block = max(1, _BLOCK_BYTES // (4 * n))
    for start in range(0, n, block):
        stop = min(n, start + block)
        part = np.clip(z[start:stop] @ z[start:].T, -1.0, 1.0)
        gram[start:stop, start:] = part
        gram[start:, start:stop] = part.T
    return gram


def _pairwise_r(values: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """r over the frames both rows are finite, from masked sums as matrix products in float32
    blocks on standardised rows (``finite``: (cells, T) bool, False on ignored rows)."""
    mask = finite.astype(np.float32)
    x = np.zeros(values.shape, dtype=np.float32)
    block = max(1, _BLOCK_BYTES // (8 * values.shape[1]))
    for start in range(0, len(values), block):
        rows = slice(start, start + block)
        x[rows] = unit_rms_rows(values[rows], finite[rows])
    square = x * x
    n = len(values)
    r = np.empty((n, n), dtype=np.float32)
    block = max(1, _BLOCK_BYTES // (80 * n))
    for start in range(0, n, block):
        stop = min(n, start + block)
        rest = slice(start, None)
        sums = [(left[start:stop] @ right[rest].T).astype(np.float64) for left, right in
                ((mask, mask), (x, mask), (mask, x), (square, mask), (mask, square), (x, x))]
        part = masked_pearson(*sums)
        r[start:stop, start:] = part
        r[start:, start:stop] = part.T
    return r

"""Circular-shift surrogates, surrogate p-values and false-discovery control.

A circular shift rolls one neuron's activity in time by a random number of frames, wrapping the
end around to the start. It keeps each neuron's rate and autocorrelation and destroys the
alignment between neurons, so statistics recomputed on shifted data sample their distribution
under "the neurons are independent".

For a pair of neurons only their *relative* lag matters: rolling a by ``s_a`` and b by ``s_b``
is rolling b by ``s_b − s_a`` against a. The shifted pair's r is then the pair's circular
cross-correlation at that lag, so `ShiftedCorrelator` takes one FFT per neuron and one inverse
FFT per pair, and reads every surrogate of the pair off the result: the FFTs, most of the cost,
do not grow with the number of surrogates.
"""

from __future__ import annotations

import numpy as np
from scipy import fft

from calscope.errors import InputError
from calscope.validation import MIN_SAMPLES

#: A pair counts as constant on its overlap when its variance there is at most this fraction of
#: its mean square (float32 sums cannot resolve less).
CONSTANT_RTOL = 1e-5
#: Bytes of work per chunk of rows or pairs (`standardized_rows`, `ShiftedCorrelator`).
_CHUNK_BYTES = 64 * 2**20


def min_shift_frames(fs: float, n_frames: int) -> int:
    """The smallest circular shift (frames) used for surrogates at rate ``fs`` (Hz).

    One second of frames and at least 10, but at most a quarter of the ``n_frames`` recorded, so
    that half the possible shifts remain to draw from.
    """
    return int(max(1, min(max(round(fs), 10), n_frames // 4)))


def circular_shifts(n_cells: int, n_frames: int, n_surrogates: int, rng: np.random.Generator,
                    min_shift: int) -> np.ndarray:
    """Random circular shifts, one per row and surrogate.

    A row is a neuron, or a pair of neurons whose second one is rolled against the first.

    Returns:
        (n_surrogates, n_cells) int64 shifts (frames), drawn independently and uniformly from
        ``min_shift`` .. ``n_frames - min_shift`` (both included).

    Raises:
        InputError: ``min_shift`` negative or more than half of ``n_frames``.
    """
    if not 0 <= min_shift <= n_frames - min_shift:
        raise InputError(f"min_shift={min_shift}: must lie between 0 and half the {n_frames} "
                         "frames; use a smaller minimum shift or a longer recording")
    return rng.integers(min_shift, n_frames - min_shift, size=(n_surrogates, n_cells),
                        endpoint=True)


def shift_rows(values: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Each row of ``values`` (cells, T) rolled circularly by its own ``shifts`` (cells,) frames.

    Row ``i`` of the result equals ``np.roll(values[i], shifts[i])``: frame ``t`` holds the
    original frame ``t - shifts[i]`` (mod T). Returns a new (cells, T) array of the same dtype.
    """
    values = np.asarray(values)
    shifts = np.asarray(shifts)
    if values.ndim != 2 or shifts.shape != (values.shape[0],):
        raise InputError(f"shift_rows: expected (cells, T) values and (cells,) shifts, got "
                         f"{values.shape} and {shifts.shape}")
    n_frames = values.shape[1]
    source = (np.arange(n_frames)[None, :] - shifts[:, None]) % n_frames
    return np.take_along_axis(values, source, axis=1)


def surrogate_p(observed: np.ndarray, null_samples: np.ndarray, *,
                tolerance: float = 0.0) -> np.ndarray:
    """Two-sided surrogate p-values: ``(1 + #{|null| >= |observed|}) / (1 + n)``.

    ``n`` counts the finite null samples of each entry (a surrogate that is undefined, NaN, is
    left out), and the +1 in numerator and denominator counts the observed value as one sample of
    the null, so p is never 0 and is exact (uniform on its grid) under the null.

    Args:
        observed: (...) the statistic on the real data.
        null_samples: (n, ...) the statistic on ``n`` surrogates (axis 0 runs over surrogates).
        tolerance: ``|null| >= |observed| - tolerance`` counts as exceeding, so that a surrogate
            equal to the observation up to rounding counts as a tie (conservative).

    Returns:
        (...) float64 p in (0, 1]; NaN where ``observed`` is NaN or no null sample is finite.
    """
    observed = np.abs(np.asarray(observed, dtype=np.float64))
    null = np.abs(np.asarray(null_samples))  # float32 stays float32: no float64 copy of it
    if null.shape[1:] != observed.shape:
        raise InputError(f"surrogate_p: null_samples {null.shape} must be (n, *{observed.shape})")
    finite = np.isfinite(null)
    n_exceed = (finite & (null >= observed - tolerance)).sum(axis=0)
    return p_from_counts(n_exceed, finite.sum(axis=0), observed)


def p_from_counts(n_exceed: np.ndarray, n_valid: np.ndarray,
                  observed: np.ndarray) -> np.ndarray:
    """``(1 + n_exceed) / (1 + n_valid)`` (see `surrogate_p`); NaN where ``observed`` is NaN or
    no surrogate was valid. Arrays of one shape; float64 result."""
    with np.errstate(invalid="ignore"):
        p = (1.0 + n_exceed) / (1.0 + n_valid)
    return np.where(np.isfinite(observed) & (n_valid > 0), p, np.nan)


def fdr_bh(p: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Benjamini–Hochberg false-discovery control.

    The finite p-values are the tested hypotheses (``m`` of them). With them sorted,
    ``p_(1) <= ... <= p_(m)``, and ``k`` the largest rank with ``p_(k) <= alpha * k / m``, the
    ``k`` smallest are significant. NaN p (untested) is never significant and does not count in m.

    Returns:
        bool array of the shape of ``p``.
    """
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha={alpha}: the false-discovery rate must lie between 0 and 1")
    values = np.asarray(p, dtype=np.float64)
    flat = values.ravel()
    tested = np.flatnonzero(np.isfinite(flat))
    if np.any((flat[tested] < 0) | (flat[tested] > 1)):
        raise InputError("fdr_bh: p-values must lie between 0 and 1")
    significant = np.zeros(flat.shape, dtype=bool)
    order = tested[np.argsort(flat[tested], kind="stable")]
    m = order.size
    below = flat[order] <= alpha * np.arange(1, m + 1) / max(m, 1)
    if below.any():
        significant[order[: np.flatnonzero(below)[-1] + 1]] = True
    return significant.reshape(values.shape)


def standardized_rows(values: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """(cells, T) float32 rows centred and scaled to unit norm (unusable rows zero), so that
    the Gram matrix is r. ``values`` must be finite."""
    z = np.zeros(values.shape, dtype=np.float32)
    block = max(1, _CHUNK_BYTES // (8 * values.shape[1]))
    for start in range(0, len(values), block):
        x = values[start:start + block] - values[start:start + block].mean(axis=1, keepdims=True)
        norm = np.sqrt((x * x).sum(axis=1, keepdims=True))
        keep = usable[start:start + block, None] & (norm > 0)
        z[start:start + block] = np.where(keep, x / np.where(keep, norm, 1.0), 0.0)
    return z


def unit_rms_rows(values: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """(cells, T) rows centred on their mean over ``finite`` frames and scaled to unit RMS
    there, 0 elsewhere (constant rows stay 0): masked sums of them stay accurate in float32."""
    count = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    centred = np.where(finite, values - np.where(finite, values, 0.0).sum(axis=1, keepdims=True)
                       / count, 0.0)
    scale = np.sqrt((centred * centred).sum(axis=1, keepdims=True) / count)
    return centred / np.where(scale > 0, scale, 1.0)


class ShiftedCorrelator:
    """Pearson r of neuron pairs after circular shifts, from spectra computed once per neuron.

    NaN marks missing frames; the shifted pair's r is taken over the frames where both rows are
    finite after the shift, exactly as rolling the row with ``np.roll`` and computing Pearson r
    on the frames both are finite. It is NaN when fewer than ``MIN_SAMPLES`` frames overlap or
    either row is constant on the overlap.

    Memory: one complex64 spectrum per row (three when there is NaN), (cells, T // 2 + 1).
    """

    def __init__(self, values: np.ndarray) -> None:
        """``values``: (cells, T) activity, NaN where missing; rows are standardised here."""
        self.n_frames = int(values.shape[1])
        finite = np.isfinite(values)
        self.masked = not bool(finite.all())
        n_rows, n_freq = values.shape[0], self.n_frames // 2 + 1
        n_spectra = 3 if self.masked else 1
        self.spectra = np.empty((n_spectra, n_rows, n_freq), dtype=np.complex64)
        block = max(1, _CHUNK_BYTES // (8 * self.n_frames))
        for start in range(0, n_rows, block):
            rows = slice(start, start + block)
            self._fill_spectra(values[rows], finite[rows], rows)

    def _fill_spectra(self, x: np.ndarray, finite: np.ndarray, rows: slice) -> None:
        count = np.maximum(finite.sum(axis=1, keepdims=True), 1)
        x = np.where(finite, x, 0.0)
        x -= x.sum(axis=1, keepdims=True) / count
        x[~finite] = 0.0
        norm = np.sqrt((x * x).sum(axis=1, keepdims=True))
        x /= np.where(norm > 0, norm, 1.0)
        x = x.astype(np.float32)
        self.spectra[0, rows] = fft.rfft(x, axis=1, workers=-1)
        if self.masked:
            self.spectra[1, rows] = fft.rfft(x * x, axis=1, workers=-1)
            self.spectra[2, rows] = fft.rfft(finite.astype(np.float32), axis=1, workers=-1)

    def __call__(self, pairs: np.ndarray, lags: np.ndarray) -> np.ndarray:
        """Surrogate r of each pair.

        Args:
            pairs: (P, 2) int row indices (a, b).
            lags: (P, n_surrogates) int frames by which row b is rolled against row a
                (``np.roll(values[b], lag)``), e.g. ``circular_shifts(P, ...).T``.

        Returns:
            (P, n_surrogates) float32 r of row a with each rolled row b.
        """
        per_pair = (6 if self.masked else 1) * 4 * self.n_frames
        chunk = max(1, _CHUNK_BYTES // per_pair)
        out = np.empty(lags.shape, dtype=np.float32)
        for start in range(0, len(pairs), chunk):
            part = slice(start, start + chunk)
            rows = np.arange(len(lags[part]))[:, None] * self.n_frames
            flat = rows + (-lags[part] % self.n_frames)  # index into the (P * T) xcorr
            out[part] = self._at_lags(pairs[part, 0], pairs[part, 1], flat)
        return out

    def _at_lags(self, a: np.ndarray, b: np.ndarray, flat: np.ndarray) -> np.ndarray:
        """r of pairs (a, b) at circular cross-correlation lags d, given as ``flat`` (P, n)
        indices ``p · T + d``: Σ_u f_a[u] g_b[u + d] is irfft(conj(F_a) · G_b) at d, and
        rolling b by ``s`` is d = −s."""
        z = self.spectra[0]
        if not self.masked:
            xcorr = fft.irfft(np.conj(z[a]) * z[b], n=self.n_frames, axis=1, workers=-1)
            return np.clip(np.take(xcorr, flat), -1.0, 1.0)
        z2, mask = self.spectra[1], self.spectra[2]
        products = np.stack([np.conj(mask[a]) * mask[b], np.conj(z[a]) * mask[b],
                             np.conj(mask[a]) * z[b], np.conj(z2[a]) * mask[b],
                             np.conj(mask[a]) * z2[b], np.conj(z[a]) * z[b]])
        xcorr = fft.irfft(products, n=self.n_frames, axis=2, workers=-1)
        n, sa, sb, saa, sbb, sab = (np.take(c, flat).astype(np.float64) for c in xcorr)
        return masked_pearson(np.rint(n), sa, sb, saa, sbb, sab).astype(np.float32)


def masked_pearson(n: np.ndarray, sa: np.ndarray, sb: np.ndarray, saa: np.ndarray,
                   sbb: np.ndarray, sab: np.ndarray) -> np.ndarray:
    """Pearson r from sums over the frames where both a and b are finite.

    ``n`` frames, ``sa = Σ a``, ``sb = Σ b``, ``saa = Σ a²``, ``sbb = Σ b²``, ``sab = Σ a b``
    (arrays of one shape). NaN where fewer than ``MIN_SAMPLES`` frames overlap or a row is
    constant there (variance at most ``CONSTANT_RTOL`` × its mean square).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        var_a = saa - sa * sa / n
        var_b = sbb - sb * sb / n
        r = (sab - sa * sb / n) / np.sqrt(var_a * var_b)
    defined = (n >= MIN_SAMPLES) & (var_a > CONSTANT_RTOL * saa) & (var_b > CONSTANT_RTOL * sbb)
    return np.where(defined, np.clip(r, -1.0, 1.0), np.nan)

"""ISI-shuffle surrogates: each neuron's inter-event intervals put in a random order.

An event starts where a neuron's activity rises above a threshold (frame t above it, frame t − 1
not; the recording read circularly). Cutting a row at its event onsets gives one segment per
event (the event and the quiet interval after it, up to the next onset), whose lengths are the
inter-event intervals (ISIs). A surrogate concatenates the segments in a random order and rolls
the result by a random number of frames. Each neuron keeps its rate, its ISI distribution and
the shape of every event, while the timing of its events relative to the other neurons is lost.
Unlike a circular shift it also loses the slow structure of a neuron's own activity (rate
drifts, up and down states), so the two nulls answer different questions: circular shifts ask
whether two neurons co-vary beyond what their own autocorrelations give (a slow rate drift both
share counts as chance alignment), ISI shuffles whether they co-vary beyond what their
interval statistics give (a shared slow drift counts as correlation). Missing frames (NaN)
travel with their segment.

`isi_null_exceedances` tests pairs of neurons with such surrogates: it shuffles the second
neuron of each pair, prepares it as the observed activity was prepared (stimulus means, binning
or smoothing) and recomputes r against the first, counting how often |r| reaches the observed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np

from calscope.population.surrogates import masked_pearson, standardized_rows, unit_rms_rows

#: Events start where activity rises above the row's median + this many robust SDs (1.4826 MAD)
#: of its finite frames; for sparse spike trains (median and MAD 0) any frame above 0.
EVENT_THRESHOLD_SDS = 3.0
#: Elements of float32 work per chunk of gathered pair rows.
_CHUNK_ELEMENTS = 16 * 2**20


def event_thresholds(values: np.ndarray) -> np.ndarray:
    """(cells,) threshold per row: median + `EVENT_THRESHOLD_SDS` · 1.4826 · MAD (finite frames).

    Rows without a finite frame get +inf (no events).
    """
    thresholds = np.full(len(values), np.inf)
    for i, row in enumerate(values):
        row = row[np.isfinite(row)]
        if row.size:
            centre = np.median(row)
            thresholds[i] = centre + EVENT_THRESHOLD_SDS * 1.4826 * np.median(np.abs(row - centre))
    return thresholds


def isi_shuffle(values: np.ndarray, thresholds: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """One ISI-shuffle surrogate of every row of ``values``.

    Args:
        values: (cells, T) activity, NaN where missing.
        thresholds: (cells,) event thresholds (e.g. `event_thresholds`).
        rng: the random generator (segment orders and final roll).

    Returns:
        (cells, T) array of the dtype of ``values``: each row's segments (one per event onset,
        the recording read circularly) in a random order, then rolled by a random number of
        frames. A row with fewer than 2 events is only rolled.
    """
    n_frames = values.shape[1]
    out = np.empty_like(values)
    frames = np.arange(n_frames)
    for i, row in enumerate(values):
        above = row > thresholds[i]  # NaN is never above
        starts = np.flatnonzero(above & ~np.roll(above, 1))
        source = frames
        if starts.size >= 2:
            lengths = np.diff(np.r_[starts, starts[0] + n_frames])
            order = rng.permutation(starts.size)
            new_lengths = lengths[order]
            offsets = starts[order] - (np.cumsum(new_lengths) - new_lengths)
            source = (frames + np.repeat(offsets, new_lengths)) % n_frames
        out[i] = row[np.roll(source, int(rng.integers(n_frames)))]
    return out


def isi_null_exceedances(raw: np.ndarray, observed: np.ndarray, pairs: np.ndarray,
                         r_observed: np.ndarray, n_surrogates: int, rng: np.random.Generator,
                         prepare: Callable[[np.ndarray], np.ndarray],
                         tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Count ISI-shuffle surrogates whose |r| reaches each pair's observed |r|.

    Args:
        raw: (cells, T) activity before preparation, NaN where missing (shuffled).
        observed: (cells, T') prepared activity (the first neuron of each pair is read here).
        pairs: (P, 2) int rows (a, b); b is shuffled.
        r_observed: (P,) observed r of each pair.
        n_surrogates: surrogates per pair.
        rng: random generator.
        prepare: maps (k, T) raw rows to (k, T') prepared rows, as ``observed`` was made.
        tolerance: a surrogate |r| within this below the observed counts as reaching it.

    Returns:
        ``(exceed, valid)``: (P,) int64 counts of surrogates with |r| >= |r_observed| −
        tolerance, and of surrogates with a defined r (see `surrogate_p`'s formula).
    """
    shuffled_rows, b_local = np.unique(pairs[:, 1], return_inverse=True)
    raw_b = raw[shuffled_rows]
    thresholds = event_thresholds(raw_b)
    correlator = PairCorrelator(observed)
    target = np.abs(np.asarray(r_observed, dtype=np.float64)) - tolerance
    exceed = np.zeros(len(pairs), dtype=np.int64)
    valid = np.zeros(len(pairs), dtype=np.int64)
    for _ in range(n_surrogates):
        r = correlator(prepare(isi_shuffle(raw_b, thresholds, rng)), pairs[:, 0], b_local)
        defined = np.isfinite(r)
        valid += defined
        exceed += defined & (np.abs(np.where(defined, r, 0.0)) >= target)
    return exceed, valid


class PairCorrelator:
    """Pearson r of rows of one fixed array ``x`` with rows of other arrays ``y``.

    r is taken over the frames where both rows are finite; NaN where fewer than 10 frames
    overlap or a row is constant there (`masked_pearson`). What depends on ``x`` alone is
    computed once.
    """

    def __init__(self, x: np.ndarray) -> None:
        """``x``: (cells, T) activity, NaN where missing."""
        self.x = x
        self.unit = standardized_rows(x, np.ones(len(x), dtype=bool)) if np.isfinite(x).all() \
            else None
        self.varies = None if self.unit is None else self.unit.any(axis=1)  # not constant

    @cached_property
    def masked(self) -> list[np.ndarray]:
        """The x-side factors of the six masked sums (made on first use: six (cells, T)
        float32 arrays, needed only when a row misses frames)."""
        finite = np.isfinite(self.x)
        mask = finite.astype(np.float32)
        x0 = unit_rms_rows(self.x, finite).astype(np.float32)
        return [mask, x0, mask, x0 * x0, mask, x0]

    def __call__(self, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(P,) r of ``x[a]`` with ``y[b]``; ``y`` is (rows, T) with the same T."""
        finite = np.isfinite(y)
        if self.unit is not None and finite.all():
            z = standardized_rows(y, np.ones(len(y), dtype=bool))
            r = np.clip(_pair_dots([self.unit], [z], a, b)[0], -1.0, 1.0)
            return np.where(z.any(axis=1)[b] & self.varies[a], r, np.nan)
        mask = finite.astype(np.float32)
        y0 = unit_rms_rows(y, finite).astype(np.float32)
        sums = _pair_dots(self.masked, [mask, mask, y0, mask, y0 * y0, y0], a, b)
        return masked_pearson(np.rint(sums[0]), *sums[1:])


def _pair_dots(lefts: list[np.ndarray], rights: list[np.ndarray], a: np.ndarray,
               b: np.ndarray) -> list[np.ndarray]:
    """Σ_t left[a_p, t] · right[b_p, t] for every pair p and each (left, right): float64 (P,).

    A matrix product over the rows involved when they are few, else gathered in chunks.
    """
    rows_a, ia = np.unique(a, return_inverse=True)
    rows_b, ib = np.unique(b, return_inverse=True)
    if rows_a.size * rows_b.size <= 4 * a.size:
        return [(left[rows_a] @ right[rows_b].T)[ia, ib].astype(np.float64)
                for left, right in zip(lefts, rights)]
    step = max(1, _CHUNK_ELEMENTS // lefts[0].shape[1])
    out = [np.empty(a.size) for _ in lefts]
    for start in range(0, a.size, step):
        part = slice(start, start + step)
        for total, left, right in zip(out, lefts, rights):
            total[part] = np.einsum("pt,pt->p", left[a[part]], right[b[part]])
    return out

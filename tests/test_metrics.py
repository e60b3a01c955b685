"""Tests of calscope.metrics against independent computations (no real data needed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from calscope import metrics


@dataclass(frozen=True)
class _Rec:
    """A minimal stand-in for io.ground_truth.GroundTruthRecording."""

    dataset: str
    neuron: str
    trial: int
    dff: np.ndarray
    time: np.ndarray
    spike_times: np.ndarray
    fs: float = 0.0


def _kernel_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing by explicit reflected padding and a dense kernel (reference)."""
    radius = int(4.0 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(x, radius, mode="symmetric")
    return np.array([np.dot(padded[i : i + 2 * radius + 1], k) for i in range(x.size)])


def _spike_train(rng: np.random.Generator, t_end: float, rate: float) -> np.ndarray:
    return np.sort(rng.uniform(0.0, t_end, rng.poisson(rate * t_end)))


# --- resample_linear -----------------------------------------------------------------------


def test_resample_identity_on_regular_grid():
    t = np.arange(100) / 30.0
    v = np.random.default_rng(0).normal(size=100)
    out, t_out = metrics.resample_linear(v, t, 30.0)
    np.testing.assert_allclose(t_out, t)
    np.testing.assert_allclose(out, v, atol=1e-12)


def test_resample_linear_function_is_exact():
    """Linear interpolation reproduces a linear function on any grid."""
    t = 0.3 + np.arange(200) / 7.8
    out, t_out = metrics.resample_linear(2.0 * t - 1.0, t, 30.0)
    assert t_out[0] == pytest.approx(0.3)
    np.testing.assert_allclose(np.diff(t_out), 1 / 30.0)
    assert t_out[-1] <= t[-1] + 1e-12 and t_out[-1] > t[-1] - 1 / 30.0
    np.testing.assert_allclose(out, 2.0 * t_out - 1.0, atol=1e-12)


def test_resample_bridges_interior_gap_and_trims_ends():
    t = np.arange(60) / 10.0
    v = 3.0 * t
    v[:5] = np.nan  # leading run: excluded from the grid
    v[20:30] = np.nan  # interior gap: bridged
    v[-3:] = np.nan  # trailing run: excluded
    out, t_out = metrics.resample_linear(v, t, 20.0)
    assert t_out[0] == pytest.approx(t[5])
    assert t_out[-1] == pytest.approx(t[-4])
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, 3.0 * t_out, atol=1e-12)


def test_resample_all_nan_is_empty():
    out, t_out = metrics.resample_linear(np.full(5, np.nan), np.arange(5.0), 30.0)
    assert out.size == 0 and t_out.size == 0


# --- spike_counts --------------------------------------------------------------------------


def test_spike_counts_edges():
    fs = 10.0
    t_out = 1.0 + np.arange(5) / fs  # frames [0.95, 1.05), [1.05, 1.15), ..., [1.35, 1.45)
    spikes = np.array([0.9, 0.95, 1.0, 1.04999, 1.05, 1.2, 1.2, 1.44, 1.45, 2.0])
    counts = metrics.spike_counts(spikes, t_out, fs)
    np.testing.assert_array_equal(counts, [3, 1, 2, 0, 1])
    assert counts.dtype == np.float64


def test_spike_counts_match_histogram():
    rng = np.random.default_rng(1)
    fs = 30.0
    t_out = 0.2 + np.arange(3000) / fs
    spikes = rng.uniform(0, 110, 5000)
    edges = np.append(t_out, t_out[-1] + 1 / fs) - 0.5 / fs
    ref, _ = np.histogram(spikes[spikes < edges[-1]], bins=edges)
    np.testing.assert_array_equal(metrics.spike_counts(spikes, t_out, fs), ref)


def test_spike_counts_empty():
    assert metrics.spike_counts(np.array([]), np.arange(4) / 30.0, 30.0).tolist() == [0] * 4
    assert metrics.spike_counts(np.array([1.0]), np.array([]), 30.0).size == 0


# --- smoothing and correlation -------------------------------------------------------------


def test_gaussian_smooth_matches_dense_kernel():
    x = np.random.default_rng(2).poisson(0.3, 500).astype(float)
    out = metrics.gaussian_smooth(x, fs=30.0, sigma_s=0.05)
    np.testing.assert_allclose(out, _kernel_smooth(x, 1.5), atol=1e-12)
    assert out.sum() == pytest.approx(x.sum(), rel=1e-2)


def test_gaussian_smooth_nan_is_normalized_convolution():
    x = np.ones(200)
    x[50:60] = np.nan
    out = metrics.gaussian_smooth(x, fs=30.0)
    assert np.all(np.isnan(out[50:60]))
    np.testing.assert_allclose(np.delete(out, np.arange(50, 60)), 1.0)


def test_pearson_matches_corrcoef_and_ignores_nan():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=300), rng.normal(size=300)
    b += 0.5 * a
    assert metrics.pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    a2, b2 = a.copy(), b.copy()
    a2[10], b2[20] = np.nan, np.nan
    keep = np.ones(300, bool)
    keep[[10, 20]] = False
    assert metrics.pearson(a2, b2) == pytest.approx(np.corrcoef(a[keep], b[keep])[0, 1])


def test_pearson_degenerate_is_nan():
    assert np.isnan(metrics.pearson(np.zeros(10), np.arange(10.0)))
    assert np.isnan(metrics.pearson(np.full(10, 3.0), np.arange(10.0)))
    assert np.isnan(metrics.pearson(np.array([1.0, np.nan]), np.array([np.nan, 1.0])))


def test_smoothed_correlation_perfect_and_shuffled():
    rng = np.random.default_rng(4)
    truth = rng.poisson(0.2, 20000).astype(float)
    assert metrics.smoothed_correlation(3.0 * truth + 1.0, truth, 30.0) == pytest.approx(1.0)
    shuffled = rng.permutation(truth)
    assert abs(metrics.smoothed_correlation(shuffled, truth, 30.0)) < 0.05
    ref = np.corrcoef(_kernel_smooth(shuffled, 1.5), _kernel_smooth(truth, 1.5))[0, 1]
    assert metrics.smoothed_correlation(shuffled, truth, 30.0) == pytest.approx(ref, abs=1e-10)


def test_smoothed_correlation_rewards_small_jitter():
    """Smoothing makes a one-frame shift score far above 0 (it would be ~0 unsmoothed)."""
    truth = np.zeros(3000)
    truth[np.random.default_rng(5).choice(3000, 60, replace=False)] = 1.0
    r = metrics.smoothed_correlation(np.roll(truth, 1), truth, 30.0)
    assert 0.7 < r < 0.95


# --- CASCADE protocol ------------------------------------------------------------------------


def _recordings() -> list[_Rec]:
    """Two datasets; neuron 'a' of DS1 has two trials at 60 Hz with a NaN gap."""
    rng = np.random.default_rng(6)
    recs = []
    for ds, neuron, trial, fs in [
        ("DS1", "a", 0, 60.0),
        ("DS1", "a", 1, 60.0),
        ("DS1", "b", 0, 7.8),
        ("DS1", "c", 0, 30.0),
        ("DS2", "x", 0, 15.0),
    ]:
        t = np.arange(int(120 * fs)) / fs
        spikes = _spike_train(rng, t[-1], 1.0)
        dff = rng.normal(size=t.size)
        if neuron == "a":
            dff[100:200] = np.nan
        recs.append(_Rec(ds, neuron, trial, dff, t, spikes, fs))
    recs.append(_Rec("DS2", "silent", 0, np.ones(300), np.arange(300) / 30.0, np.array([])))
    return recs


def test_prepare_cascade_grid_and_counts():
    recs = _recordings()
    traces = metrics.prepare_cascade(recs)
    assert len(traces) == len(recs)
    for rec, tr in zip(recs, traces):
        assert tr.fs == 30.0 and tr.dff.shape == tr.counts.shape
        assert not np.isnan(tr.dff).any()
        inside = (rec.spike_times >= -0.5 / 30) & (rec.spike_times < rec.time[-1] + 0.5 / 30)
        assert tr.counts.sum() <= inside.sum()
        assert tr.counts.sum() >= inside.sum() - 1  # at most the spike after the last frame


def test_score_cascade_perfect_prediction_and_aggregation():
    recs = _recordings()
    truth = {t.dff.tobytes(): t.counts for t in metrics.prepare_cascade(recs)}
    calls = []

    def oracle(batch: list[np.ndarray], fs: float) -> list[np.ndarray]:
        """Return each trace's true counts (found by its resampled ΔF/F, which is unique)."""
        calls.append(len(batch))
        return [truth[x.tobytes()] for x in batch]

    res = metrics.score_cascade(recs, oracle)
    assert calls == [4, 2]  # one batch per dataset
    assert res["per_dataset"] == {"DS1": pytest.approx(1.0), "DS2": pytest.approx(1.0)}
    assert set(res["per_neuron"]["DS2"]) == {"x"}  # the silent neuron has no truth
    assert res["counts"]["DS2"]["no_truth"] == 1
    assert res["counts"]["DS1"] == {
        "neurons": 3, "recordings": 4, "failed": 0, "constant": 0, "no_truth": 0
    }


def test_score_predictions_mean_then_median_and_failures():
    traces = metrics.prepare_cascade(_recordings())
    rng = np.random.default_rng(7)
    preds: list[np.ndarray | None] = [t.counts + rng.normal(0, 0.3, t.counts.size) for t in traces]
    preds[1] = None  # DS1/a trial 1 failed -> r = 0
    preds[2] = np.zeros(traces[2].counts.size)  # DS1/b constant -> r = 0
    res = metrics.score_predictions(traces, preds)
    rs = [rec["r"] for rec in res["per_recording"]]
    assert [rec["status"] for rec in res["per_recording"]] == [
        "ok", "failed", "constant", "ok", "ok", "no_truth"
    ]
    assert rs[1] == 0.0 and rs[2] == 0.0 and np.isnan(rs[5])
    assert res["per_neuron"]["DS1"]["a"] == pytest.approx((rs[0] + 0.0) / 2)
    assert res["per_dataset"]["DS1"] == pytest.approx(np.median([(rs[0]) / 2, 0.0, rs[3]]))
    assert res["counts"]["DS1"]["failed"] == 1 and res["counts"]["DS1"]["constant"] == 1


def test_score_predictions_rejects_wrong_shape():
    traces = metrics.prepare_cascade(_recordings()[:1])
    with pytest.raises(ValueError, match="prediction shape"):
        metrics.score_predictions(traces, [np.zeros(3)])


# --- Spikefinder -----------------------------------------------------------------------------


def test_spikefinder_correlation_blocks_and_nan_padding():
    rng = np.random.default_rng(8)
    truth = rng.poisson(0.1, 4003).astype(float)
    pred = truth + rng.normal(0, 0.5, truth.size)
    ref = np.corrcoef(pred[:4000].reshape(-1, 4).mean(1), truth[:4000].reshape(-1, 4).mean(1))
    assert metrics.spikefinder_correlation(pred, truth) == pytest.approx(ref[0, 1])
    # Truth NaN-padded past the prediction's end: the padding is ignored.
    padded = np.concatenate([truth, np.full(500, np.nan)])
    assert metrics.spikefinder_correlation(pred, padded) == pytest.approx(ref[0, 1])
    assert metrics.spikefinder_correlation(truth, truth) == pytest.approx(1.0)
    # Block averaging forgives sub-block jitter a bin-wise r would punish.
    shifted = np.roll(truth, 1)
    assert metrics.spikefinder_correlation(shifted, truth) > 0.6 > metrics.pearson(shifted, truth)


def test_assembly_match_pairs_sets_by_jaccard_and_counts_misses():
    a, b, c = np.arange(0, 4), np.arange(10, 14), np.arange(20, 23)
    assert metrics.assembly_match([b, a], [a, b]) == 1.0  # order does not matter
    # found {0,1,2} vs planted {0..3}: 3/4; {10..13} exact; planted c missed → (0.75 + 1 + 0) / 3
    assert metrics.assembly_match([a[:3], b], [a, b, c]) == pytest.approx(1.75 / 3)
    # a spurious extra assembly counts like a missed one
    assert metrics.assembly_match([a, b, c], [a, b]) == pytest.approx(2 / 3)
    # one to one: two found sets cannot both claim the same planted one
    assert metrics.assembly_match([a, a], [a, b]) == pytest.approx(0.5)
    assert metrics.assembly_match([], []) == 1.0 and metrics.assembly_match([a], []) == 0.0


def _disk_masks(centres, shape=(30, 30), radius=3.0):
    """(pixels, cells) footprints: Gaussian-ish blobs cut at `radius` around each centre."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    columns = []
    for y, x in centres:
        d2 = (yy - y) ** 2 + (xx - x) ** 2
        columns.append(np.where(d2 <= radius ** 2, np.exp(-d2 / radius ** 2), 0.0).ravel())
    return np.stack(columns, axis=1)


def test_match_footprints_perfect_missing_and_spurious():
    import scipy.sparse

    truth = _disk_masks([(5, 5), (5, 20), (20, 12)])
    perfect = metrics.match_footprints(scipy.sparse.csc_matrix(truth[:, ::-1]), truth)
    assert perfect.f1 == perfect.precision == perfect.recall == 1.0
    assert sorted(map(tuple, perfect.pairs)) == [(0, 2), (1, 1), (2, 0)]
    np.testing.assert_allclose(perfect.iou, 1.0)

    missing = metrics.match_footprints(truth[:, :2], truth)
    assert missing.precision == 1.0 and missing.recall == pytest.approx(2 / 3)
    assert missing.f1 == pytest.approx(0.8)

    spurious = metrics.match_footprints(np.hstack([truth, _disk_masks([(25, 25)])]), truth)
    assert spurious.precision == pytest.approx(0.75) and spurious.recall == 1.0

    shifted = metrics.match_footprints(_disk_masks([(5, 6), (5, 27)]), truth[:, :2])
    assert shifted.pairs.tolist() == [[0, 0]]  # one-pixel shift matches; 7 px apart does not
    assert 0.3 < shifted.iou[0] < 1.0

    nothing = metrics.match_footprints(np.zeros((900, 0)), truth)
    assert nothing.f1 == 0.0 and nothing.recall == 0.0 and nothing.pairs.shape == (0, 2)

"""Synchrony events against circular-shift surrogates."""

import numpy as np
import pytest

from calscope.errors import InputError
from calscope.io.traces import read_traces
from calscope.population.events import synchrony_events
from calscope.population.surrogates import circular_shifts
from calscope.simulate.population import population

ALLEN_EXCERPT = "Allen-Brain-Observatory-Visual-Coding-30Hz__Experiment_552195520_excerpt.mat"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_synchronous_events_are_detected(seed):
    sim = population(seed=seed)
    res = synchrony_events(sim.spikes, sim.fs, seed=0)
    planted = np.unique(np.concatenate(sim.assembly_events))
    assert res.events[planted].mean() >= 0.9  # recall
    assert np.isin(res.event_frames, planted).mean() >= 0.75  # precision
    assert res.fs == 30.0 and res.events.shape == res.population.shape == (9000,)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_independent_neurons_give_about_alpha_event_frames(seed):
    rng = np.random.default_rng(seed)
    continuous = rng.gamma(0.5, size=(200, 6000))
    fraction = synchrony_events(continuous, 30.0, alpha=0.01, seed=seed).events.mean()
    assert 0.005 <= fraction <= 0.02
    # integer counts tie at the threshold, so strictly-above frames are fewer than alpha
    counts = rng.poisson(0.3, size=(200, 6000)).astype(np.float32)
    fraction = synchrony_events(counts, 30.0, alpha=0.01, seed=seed).events.mean()
    assert 0.002 <= fraction <= 0.015


def test_threshold_matches_np_roll_surrogates():
    rng = np.random.default_rng(3)
    x = rng.gamma(0.5, size=(30, 500))
    res = synchrony_events(x, 10.0, n_surrogates=7, alpha=0.05, min_shift_s=2.0, seed=4)
    lags = circular_shifts(30, 500, 7, np.random.default_rng(4), 20)
    sums = [sum(np.roll(row, lag) for row, lag in zip(x, row_lags)) for row_lags in lags]
    assert res.threshold == pytest.approx(np.quantile(sums, 0.95), rel=1e-12)
    np.testing.assert_allclose(res.population, x.sum(axis=0))
    np.testing.assert_array_equal(res.event_frames, np.flatnonzero(res.population > res.threshold))


def test_missing_values_count_as_zero_and_unusable_rows_are_left_out():
    x = np.random.default_rng(5).gamma(0.5, size=(20, 400))
    x[3, 10:20] = np.nan
    x[4] = np.nan
    res = synchrony_events(x, 30.0, seed=0)
    np.testing.assert_allclose(res.population, np.nansum(x, axis=0))


def test_onsets_are_the_first_frames_of_runs():
    x = np.random.default_rng(6).gamma(0.5, size=(20, 400))
    x[:, 50:53] += 5.0
    x[:, 200] += 5.0
    res = synchrony_events(x, 30.0, seed=0)
    assert {50, 200} <= set(res.onsets.tolist())
    assert not np.isin([51, 52], res.onsets).any() and res.events[50:53].all()
    runs = np.flatnonzero(np.diff(np.concatenate(([0], res.events.astype(int)))) == 1)
    np.testing.assert_array_equal(res.onsets, runs)


def test_bad_input_is_refused():
    rng = np.random.default_rng(0)
    good = rng.gamma(0.5, size=(10, 100))
    for bad in (np.zeros((5, 100)), rng.standard_normal((2, 3, 100)), good[:1]):
        with pytest.raises(InputError):
            synchrony_events(bad, 30.0)
    for kwargs, match in (({"n_surrogates": 0}, "n_surrogates"), ({"alpha": 0.0}, "alpha"),
                          ({"min_shift_s": 2.0}, "min_shift_s"), ({"min_shift_s": -1}, "min")):
        with pytest.raises(InputError, match=match):
            synchrony_events(good, 30.0, **kwargs)
    with pytest.raises(InputError, match="fs"):
        synchrony_events(good, 0.0)


def test_allen_recording_runs_and_sums_usable_neurons(shared_data):
    x = read_traces(shared_data / "populations" / ALLEN_EXCERPT, fs=30.0).traces  # 74 × 6001
    res = synchrony_events(x, 30.0, seed=0)
    np.testing.assert_allclose(res.population, np.nansum(x.astype(np.float64), axis=0))
    assert 0 < res.events.mean() < 0.2 and res.onsets.size <= res.event_frames.size

"""Poisson and bursty spike trains."""

import numpy as np
import pytest

from calscope.errors import InputError
from calscope.simulate import bursty_spikes, poisson_spikes

PROCESSES = [poisson_spikes, bursty_spikes]


def fano_factor(spikes: np.ndarray, frames_per_bin: int) -> float:
    """Mean over cells of var/mean of spike counts in bins of ``frames_per_bin`` frames."""
    n_bins = spikes.shape[1] // frames_per_bin
    counts = spikes[:, : n_bins * frames_per_bin].reshape(spikes.shape[0], n_bins, -1).sum(-1)
    active = counts.mean(axis=1) > 0
    return float(np.mean(counts[active].var(axis=1) / counts[active].mean(axis=1)))


@pytest.mark.parametrize("process", PROCESSES)
def test_shape_dtype_and_determinism(process):
    spikes = process(7, 500, 30.0, 2.0, 3)
    assert spikes.shape == (7, 500) and spikes.dtype == np.int64 and spikes.min() >= 0
    np.testing.assert_array_equal(spikes, process(7, 500, 30.0, 2.0, 3))
    np.testing.assert_array_equal(
        process(7, 500, 30.0, 2.0, np.random.default_rng(5)),
        process(7, 500, 30.0, 2.0, np.random.default_rng(5)),
    )
    assert not np.array_equal(spikes, process(7, 500, 30.0, 2.0, 4))


@pytest.mark.parametrize("process", PROCESSES)
@pytest.mark.parametrize("rate_hz", [0.5, 3.0])
def test_empirical_rate_matches_request(process, rate_hz):
    fs = 30.0
    spikes = process(200, 30_000, fs, rate_hz, 0)
    assert spikes.mean() * fs == pytest.approx(rate_hz, rel=0.1)
    per_cell = spikes.mean(axis=1) * fs
    assert per_cell.std() > 0.1 * rate_hz  # rates differ between cells


@pytest.mark.parametrize("process", PROCESSES)
def test_zero_rate_gives_no_spikes(process):
    assert process(3, 100, 30.0, 0.0, 0).sum() == 0


def test_bursty_spikes_are_more_variable_than_poisson():
    poisson = poisson_spikes(100, 18_000, 30.0, 1.0, 1)
    bursty = bursty_spikes(100, 18_000, 30.0, 1.0, 1)
    assert fano_factor(poisson, 30) == pytest.approx(1.0, abs=0.1)
    assert fano_factor(bursty, 30) > 2.0


@pytest.mark.parametrize(
    "args",
    [(0, 10, 30.0, 1.0), (2, 0, 30.0, 1.0), (2, 10, 0.0, 1.0), (2, 10, 30.0, -1.0),
     (2.5, 10, 30.0, 1.0), (2, 10, float("inf"), 1.0), (2, 10, 30.0, float("nan"))],
)
@pytest.mark.parametrize("process", PROCESSES)
def test_bad_arguments_raise(process, args):
    with pytest.raises(InputError):
        process(*args)


@pytest.mark.parametrize(
    "options",
    [{"burst_rate_hz": 0.0}, {"burst_duration_s": -1.0}, {"background_fraction": 1.0}],
)
def test_bad_burst_options_raise(options):
    with pytest.raises(InputError):
        bursty_spikes(2, 10, 30.0, 1.0, 0, **options)


def test_bad_seed_raises():
    with pytest.raises(InputError, match="seed"):
        poisson_spikes(2, 10, 30.0, 1.0, "abc")

"""CNMF cell extraction against simulated ground truth, and its input checks."""

from __future__ import annotations

import numpy as np
import pytest

from calscope import simulate
from calscope.config import CnmfSettings
from calscope.errors import InputError
from calscope.extract import cnmf
from calscope.metrics import match_footprints


@pytest.fixture(scope="module")
def extracted():
    sim = simulate.movie(20, 800, (96, 96), motion_px=0, seed=1)
    steps = []
    sources = cnmf(sim.movie, sim.fs, progress=lambda step, done, total: steps.append(
        (step, done, total)))
    return sim, sources, steps


def test_finds_the_simulated_cells(extracted):
    sim, sources, _ = extracted
    accepted = sources.footprints[:, sources.accepted]
    match = match_footprints(accepted, sim.footprints)
    assert match.f1 >= 0.85, match
    assert match.precision >= 0.9  # accepted cells are true cells
    assert np.median(match.iou) >= 0.6
    found, true = match.pairs[:, 0], match.pairs[:, 1]
    pick = np.flatnonzero(sources.accepted)[found]

    def median_r(traces: np.ndarray) -> float:
        return float(np.median([np.corrcoef(traces[i], sim.calcium[j])[0, 1]
                                for i, j in zip(pick, true)]))

    assert median_r(sources.traces) >= 0.9   # denoised
    assert median_r(sources.raw_traces) >= 0.8  # noisy: single spikes at SNR 5
    assert median_r(sources.dff) >= 0.8


def test_result_shapes_units_and_progress(extracted):
    sim, sources, steps = extracted
    n_frames, height, width = sim.movie.shape
    k = sources.footprints.shape[1]
    assert sources.footprints.shape == (height * width, k)
    assert sources.footprints.dtype == np.float32
    norms = np.sqrt(np.asarray(sources.footprints.multiply(sources.footprints).sum(axis=0)))
    np.testing.assert_allclose(norms, 1.0, rtol=1e-4)
    assert sources.footprints.min() >= 0
    for name in ("traces", "raw_traces", "spikes", "dff"):
        value = getattr(sources, name)
        assert value.shape == (k, n_frames) and value.dtype == np.float32, name
        assert np.isfinite(value).all(), name
    assert (sources.spikes >= 0).all()
    nb = sources.background_footprints.shape[1]
    assert sources.background_traces.shape == (nb, n_frames)
    assert (sources.background_footprints >= 0).all() and (sources.background_traces >= 0).all()
    assert sources.noise_map.shape == (height, width)
    assert sources.accepted.shape == sources.quality.snr.shape == (k,)
    assert sources.shape == (height, width) and sources.fs == sim.fs
    # the model explains the movie: residual near the noise level
    model = (sources.footprints @ sources.traces
             + sources.background_footprints @ sources.background_traces)
    residual = sim.movie.reshape(n_frames, -1).T - model
    assert np.std(residual) < 1.1 * np.median(sources.noise_map)
    assert steps[0][1] == 0 and steps[-1][1] == steps[-1][2]
    assert [s[1] for s in steps] == sorted(s[1] for s in steps)


def test_deterministic_for_a_seed():
    sim = simulate.movie(6, 300, (48, 48), motion_px=0, seed=5)
    settings = CnmfSettings(iterations=1)
    first = cnmf(sim.movie, sim.fs, settings, seed=3)
    second = cnmf(sim.movie, sim.fs, settings, seed=3)
    assert (first.footprints != second.footprints).nnz == 0
    np.testing.assert_array_equal(first.traces, second.traces)
    np.testing.assert_array_equal(first.background_traces, second.background_traces)


@pytest.mark.parametrize("movie, fs, settings, match", [
    (np.zeros((100, 32), dtype=np.float32), 30.0, None, "3-D"),
    (np.ones((20, 32, 32), dtype=np.float32), 30.0, None, "at least 50"),
    (np.full((60, 32, 32), np.nan, dtype=np.float32), 30.0, None,
     r"frame\(s\) 0, 1, 2, 3, 4, … hold NaN"),
    (np.ones((60, 32, 32), dtype=np.float32), 0.0, None, "fs=0.0"),
    (np.ones((60, 32, 32), dtype=np.float32), -5, None, "fs=-5"),
    (np.ones((60, 32, 32), dtype=np.float32), 30.0, CnmfSettings(max_memory_gb=1e-4),
     "max_memory_gb"),
])
def test_bad_input(movie, fs, settings, match):
    with pytest.raises(InputError, match=match):
        cnmf(movie, fs, settings)

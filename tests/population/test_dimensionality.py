"""PCA, participation ratio, significant dimensions and embedding, against numpy references."""

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d
from scipy.signal import lfilter

from calscope.errors import InputError
from calscope.io.traces import read_traces
from calscope.population import spectrum
from calscope.population.dimensionality import (
    embedding,
    participation_ratio,
    pca,
    significant_dimensions,
    top_singular,
)
from calscope.simulate.population import population

ZEBRAFISH_PLANE = "Multiplane-OGB1-zf-pDp-Rupprecht-7.5Hz__Calcium_traces_01.mat"


def _latent(n_cells=40, n_frames=600, n_latent=3, noise=1.0, seed=0):
    """Neurons mixing ``n_latent`` smooth (5-frame) shared signals plus independent noise."""
    rng = np.random.default_rng(seed)
    shared = uniform_filter1d(rng.standard_normal((n_latent, n_frames)), 5, axis=1)
    shared /= shared.std(axis=1, keepdims=True)
    loadings = rng.standard_normal((n_cells, n_latent)) * np.array([3.0, 2.0, 1.5])[:n_latent]
    return loadings @ shared + noise * rng.standard_normal((n_cells, n_frames))


def _cov_eigh(x):
    values, vectors = np.linalg.eigh(np.cov(x))
    return values[::-1], vectors[:, ::-1].T


def test_pca_matches_eigh_of_np_cov():
    x = _latent()
    res = pca(x)
    values, vectors = _cov_eigh(x)
    assert res.method == "exact" and res.note == ""
    np.testing.assert_allclose(res.explained_variance, values, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.abs(res.components[:10]), np.abs(vectors[:10]), atol=1e-8)
    centred = x - x.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(res.scores, res.components @ centred, atol=1e-8)
    assert res.total_variance == pytest.approx(np.trace(np.cov(x)))
    assert res.explained_ratio.sum() == pytest.approx(1.0)
    largest = np.abs(res.components).argmax(axis=1)
    assert np.all(res.components[np.arange(len(largest)), largest] > 0)


def test_more_neurons_than_frames_caps_components_and_says_so():
    x = np.random.default_rng(1).standard_normal((200, 80))
    for asked in (None, 500):
        res = pca(x, asked)
        assert res.explained_variance.shape == (79,) and res.scores.shape == (79, 80)
        assert res.components.shape == (79, 200)
        assert "capped at 79" in res.note and "frames 80 − 1" in res.note
    values, vectors = _cov_eigh(x)
    np.testing.assert_allclose(res.explained_variance, values[:79], rtol=1e-8)
    np.testing.assert_allclose(np.abs(res.components[:5]), np.abs(vectors[:5]), atol=1e-7)
    assert pca(x, 10).note == ""


def test_randomized_path_matches_exact_path(monkeypatch):
    x = _latent(n_cells=300, n_frames=500, n_latent=3, noise=0.5, seed=2)
    exact = pca(x, 5)
    monkeypatch.setattr(spectrum, "EXACT_LIMIT", 50)
    for data in (x, x[:, :250]):  # Gram on the neuron side, then on the frame side
        randomized = pca(data, 5, seed=3)
        assert randomized.method == "randomized" and "randomized" in randomized.note
        values, vectors = _cov_eigh(data)
        np.testing.assert_allclose(randomized.explained_variance, values[:5], rtol=1e-4)
        np.testing.assert_allclose(np.abs(randomized.components[:3]), np.abs(vectors[:3]),
                                   atol=1e-5)
        assert randomized.participation_ratio == pytest.approx(
            participation_ratio(np.clip(values, 0, None)), rel=1e-5)
    randomized = pca(x, 5, seed=3)
    np.testing.assert_allclose(randomized.components[:3], exact.components[:3], atol=1e-5)
    np.testing.assert_allclose(randomized.scores[:3], exact.scores[:3], rtol=1e-4, atol=1e-3)


def test_randomized_singular_values_match_exact_on_a_flat_noise_spectrum(monkeypatch):
    x = np.random.default_rng(4).poisson(0.05, (600, 500)).astype(float)
    x -= x.mean(axis=1, keepdims=True)
    s_exact, u_exact = top_singular(x, 5)
    monkeypatch.setattr(spectrum, "EXACT_LIMIT", 50)
    s_fast, u_fast = top_singular(x, 5, seed=1)
    np.testing.assert_allclose(s_fast**2, s_exact**2, rtol=1e-5)
    assert np.all(np.abs(np.sum(u_fast * u_exact, axis=0)) > 0.999)


def test_participation_ratio_hand_formula():
    assert participation_ratio([2.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert participation_ratio(np.ones(7)) == pytest.approx(7.0)
    values = np.array([4.0, 2.0, 1.0, 0.5])
    assert participation_ratio(values) == pytest.approx(7.5**2 / (16 + 4 + 1 + 0.25))
    x = _latent(seed=5)
    full = np.clip(np.linalg.eigvalsh(np.cov(x)), 0, None)
    # the PCA's ratio uses the whole spectrum even when only 3 components are computed
    assert pca(x, 3).participation_ratio == pytest.approx(participation_ratio(full), rel=1e-9)
    for bad in ([], [[1.0]], [1.0, -1.0], [0.0, 0.0], [np.nan]):
        with pytest.raises(InputError, match="eigenvalues"):
            participation_ratio(bad)


def test_missing_values_are_filled_with_the_neuron_mean_and_unusable_rows_load_zero():
    x = _latent(seed=6)
    with_gaps = x.copy()
    with_gaps[4, 100:130] = np.nan
    with_gaps[9] = np.nan  # unusable
    filled = np.delete(with_gaps, 9, axis=0)
    filled[4, 100:130] = np.nanmean(with_gaps[4])
    res = pca(with_gaps)
    reference = pca(filled)
    assert res.components.shape == (39, 40) and np.all(res.components[:, 9] == 0)
    np.testing.assert_allclose(res.explained_variance, reference.explained_variance)
    np.testing.assert_allclose(np.delete(res.components, 9, axis=1), reference.components,
                               atol=1e-10)


def test_significant_dimensions_finds_planted_latents_and_none_in_noise():
    # 200 neurons: each latent's eigenvalue outgrows any single neuron's variance, which
    # bounds the shuffles' top eigenvalue from below
    x = _latent(n_cells=200, seed=7)
    planted = significant_dimensions(x, n_shuffles=20, seed=0)
    assert planted.n == 3 and planted.note == ""
    assert planted.eigenvalues.shape == (200,) and np.ndim(planted.null_threshold) == 0
    assert planted.eigenvalues[2] > planted.null_threshold > planted.eigenvalues[3]
    np.testing.assert_allclose(planted.eigenvalues, np.linalg.eigvalsh(np.cov(x))[::-1],
                               rtol=1e-8)
    # independent neurons: the top eigenvalue beats the largest of 20 shuffles' top
    # eigenvalues with probability 1/21
    found = [significant_dimensions(np.random.default_rng(seed).standard_normal((20, 300)),
                                    n_shuffles=20, seed=seed).n for seed in range(20)]
    assert max(found) <= 1 and sum(found) <= 3


def test_significant_dimensions_large_path_tests_ranks_in_doubling_blocks(monkeypatch):
    # a shallow Krylov space so that 200 × 250 counts as large for 16 ranks
    monkeypatch.setattr(spectrum, "EXACT_LIMIT", 50)
    monkeypatch.setattr(spectrum, "KRYLOV_DEPTH", 3)
    x = _latent(n_cells=200, n_frames=250, seed=9)
    res = significant_dimensions(x, n_shuffles=3, seed=0)
    assert res.n == 3 and res.eigenvalues.shape == (16,)
    np.testing.assert_allclose(res.eigenvalues[:3], np.linalg.eigvalsh(np.cov(x))[::-1][:3],
                               rtol=1e-4)
    capped = significant_dimensions(x, n_shuffles=3, max_dimensions=2, seed=0)
    assert capped.n == 2 and "at least 2" in capped.note


def test_embedding_is_the_first_pca_scores():
    x = _latent(seed=10)
    for n_dims in (2, 3):
        np.testing.assert_allclose(embedding(x, n_dims), pca(x).scores[:n_dims], atol=1e-8)
    with pytest.raises(InputError, match="n_dims"):
        embedding(x, 4)


@pytest.mark.parametrize("function", [pca, significant_dimensions, embedding])
def test_bad_input_is_refused(function):
    rng = np.random.default_rng(0)
    one_usable = np.vstack([rng.standard_normal(50), np.full(50, np.nan), np.ones(50)])
    for bad in (one_usable, np.zeros((5, 50)), rng.standard_normal((2, 3, 50)),
                rng.standard_normal(50)):
        with pytest.raises(InputError):
            function(bad)


def test_bad_arguments_are_refused():
    x = _latent(seed=11)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="n_components"):
            pca(x, bad)
    with pytest.raises(InputError, match="n_shuffles"):
        significant_dimensions(x, n_shuffles=1)
    with pytest.raises(InputError, match="alpha"):
        significant_dimensions(x, alpha=1.0)


def test_zebrafish_plane_with_more_neurons_than_frames(shared_data):
    x = read_traces(shared_data / "populations" / ZEBRAFISH_PLANE, fs=7.5).traces
    dead = np.flatnonzero(np.isnan(x).all(axis=1))  # 1005 neurons × 260 frames, 2 all NaN
    res = pca(x)
    assert res.explained_variance.shape == (259,) and "capped at 259" in res.note
    assert dead.size == 2 and np.all(res.components[:, dead] == 0)
    usable = np.delete(x, dead, axis=0).astype(np.float64)
    singular = np.linalg.svd(usable - usable.mean(axis=1, keepdims=True), compute_uv=False)
    np.testing.assert_allclose(res.explained_variance, singular[:259] ** 2 / 259, rtol=1e-6)
    dims = significant_dimensions(x, seed=0)
    assert dims.eigenvalues.shape == (259,) and 1 <= dims.n < 259
    assert embedding(x, 3).shape == (3, 260)


def test_significant_dimensions_compare_with_the_null_edge_not_rank_by_rank():
    # 3 planted assemblies in autocorrelated activity: rank by rank (Horn), the noise bulk,
    # pushed down 3 ranks by the assemblies, stands above the shuffles' same ranks (5–6
    # "dimensions" measured); against the shuffles' top eigenvalue it does not
    x = lfilter([1.0], [1.0, -0.7], population(300, 6000, n_assemblies=3, assembly_size=20,
                                               seed=0).spikes, axis=1)
    rng = np.random.default_rng(0)
    null = np.array([np.linalg.eigvalsh(np.cov(np.array([np.roll(row, rng.integers(6000))
                                                         for row in x])))[::-1]
                     for _ in range(20)])
    data = np.linalg.eigvalsh(np.cov(x))[::-1]
    assert np.argmin(data > np.quantile(null, 0.95, axis=0, method="higher")) > 3
    assert significant_dimensions(x, seed=0).n == 3

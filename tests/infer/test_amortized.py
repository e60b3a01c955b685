"""Amortized inference end to end: fit, infer, NaN rule, save/load, dispatch, bad input."""

import numpy as np
import pytest
import torch

import calscope
from calscope import metrics, simulate
from calscope.errors import InputError
from calscope.infer import SpikeInference, amortized
from calscope.infer import blocks as block_size

FS = 30.0
# epochs and patience bound the run (not the clock), so results do not depend on machine load
FAST = {"max_epochs": 200, "max_time_s": 600.0, "patience": 15}


@pytest.fixture(scope="module")
def sim():
    return simulate.traces(8, 4000, FS, indicator="GCaMP6f", seed=3)


@pytest.fixture(scope="module")
def model(sim):
    return amortized.fit(sim.fluorescence, FS, **FAST)


def _mean_r(pred, truth):
    return np.mean(metrics.smoothed_correlations(pred, truth, FS))


def test_fit_learns_kinetics_and_recovers_spikes_better_than_oasis(sim, model):
    res = model.infer(sim.fluorescence, FS)
    assert isinstance(res, SpikeInference)
    assert res.spikes.shape == res.lower.shape == res.upper.shape == res.calcium.shape == (8, 4000)
    assert model.settings.oasis_blend == 0.5 and np.all(res.spikes >= 0)
    posterior = model.with_oasis_blend(0.0).infer(sim.fluorescence, FS).spikes
    assert np.all((posterior >= 0) & (posterior <= 1))  # Bernoulli probabilities
    assert _mean_r(posterior, sim.spikes) >= 0.9
    r_amortized = _mean_r(res.spikes, sim.spikes)
    r_oasis = _mean_r(calscope.deconvolve(sim.fluorescence, FS).spikes, sim.spikes)
    assert r_amortized >= 0.93
    assert r_amortized > r_oasis - 0.01
    # expected spike count and single-spike amplitude close to the truth
    assert np.nansum(res.spikes) == pytest.approx(sim.spikes.sum(), rel=0.15)
    np.testing.assert_allclose(res.params["gain"], sim.amplitude, rtol=0.35)
    assert model.log.epochs >= 1 and model.log.stopped in ("patience", "max_epochs", "time")


def test_band_contains_most_true_spikes_and_samples_are_binary(sim, model):
    res = model.infer(sim.fluorescence, FS, n_samples=5, seed=1)
    assert res.samples.shape == (5, 8, 4000)
    assert set(np.unique(res.samples)) <= {0.0, 1.0}
    inside = res.upper[sim.spikes > 0] >= 1
    assert inside.mean() >= 0.8
    again = model.infer(sim.fluorescence, FS, n_samples=5, seed=1)
    np.testing.assert_array_equal(res.samples, again.samples)


def test_nan_rule_and_new_cells(sim, model):
    y = sim.fluorescence[:3].copy()
    y[0, :40] = np.nan
    y[1, 1000:1100] = np.nan
    y[2, -25:] = np.nan
    res = model.infer(y, FS)
    for field in (res.spikes, res.lower, res.upper, res.calcium):
        assert np.array_equal(np.isnan(field), np.isnan(y))
    assert res.params["tau_decay_s"].shape == (3,)
    one = model.infer(sim.fluorescence[4], FS)
    assert one.spikes.shape == (4000,) and np.all(np.isfinite(one.spikes))


@pytest.mark.filterwarnings("ignore:row 2")
def test_cells_inferred_in_blocks_match_one_pass(sim, model, monkeypatch):
    y = sim.fluorescence.copy()
    y[2] = np.nan  # an unusable row inside a block
    y[5, 100:300] = np.nan
    whole = {"training": model.infer(sim.fluorescence, FS), "new": model.infer(y, FS)}
    monkeypatch.setattr(block_size, "BLOCK_SAMPLES", 3 * 4000)  # blocks of 3 cells
    seen = []
    for name, traces in (("training", sim.fluorescence), ("new", y)):
        blocks = model.infer(traces, FS, progress=lambda done, cells: seen.append(done))
        for field in ("spikes", "lower", "upper", "calcium"):
            np.testing.assert_allclose(getattr(blocks, field), getattr(whole[name], field),
                                       rtol=1e-5, atol=1e-6, err_msg=f"{name} {field}")
        assert whole[name].params.keys() == blocks.params.keys()
        for key, value in whole[name].params.items():  # the training cells keep their own
            np.testing.assert_allclose(blocks.params[key], value, rtol=1e-5, err_msg=key)
    assert seen == [3, 6, 8, 3, 6, 8]
    assert np.all(np.isnan(blocks.spikes[2])) and np.isnan(blocks.params["gain"][2])
    for field in ("spikes", "lower", "upper", "calcium"):  # each its own array
        assert getattr(blocks, field).base is None, field
    drawn = model.infer(y, FS, n_samples=3, seed=2)
    assert drawn.samples.shape == (3, 8, 4000)
    assert np.array_equal(np.isnan(drawn.samples[0]), np.isnan(blocks.spikes))
    np.testing.assert_array_equal(drawn.samples, model.infer(y, FS, n_samples=3, seed=2).samples)


def test_short_traces_shorter_than_the_receptive_field(model):
    y = np.random.default_rng(0).normal(size=(2, 20))
    res = model.infer(y, FS)
    assert res.spikes.shape == (2, 20) and np.all(np.isfinite(res.spikes))


def test_save_load_round_trip(tmp_path, sim, model):
    path = model.save(tmp_path / "model.pt")
    loaded = amortized.load(path)
    assert loaded.fs == FS and loaded.settings == model.settings
    a = model.infer(sim.fluorescence, FS)
    b = loaded.infer(sim.fluorescence, FS)
    np.testing.assert_allclose(a.spikes, b.spikes, atol=1e-6)
    np.testing.assert_allclose(a.calcium, b.calcium, atol=1e-6)


def test_bad_model_files_and_rates(tmp_path, sim, model):
    not_model = tmp_path / "x.pt"
    not_model.write_bytes(b"hello")
    with pytest.raises(InputError, match="not a calscope model"):
        amortized.load(not_model)
    with pytest.raises(InputError, match="no such model"):
        amortized.load(tmp_path / "missing.pt")
    with pytest.raises(InputError, match="trained at 30 Hz"):
        model.infer(sim.fluorescence, 15.0)


def test_dispatch_fits_and_infers(sim, model, tmp_path):
    path = model.save(tmp_path / "m.pt")
    res = calscope.deconvolve(sim.fluorescence[:2], FS, method="amortized", model=path)
    assert isinstance(res, SpikeInference) and res.spikes.shape == (2, 4000)
    fitted = calscope.deconvolve(sim.fluorescence[:2, :1500], FS, method="amortized",
                                 max_epochs=2, n_samples=2)
    assert fitted.samples.shape == (2, 2, 1500)
    with pytest.raises(InputError, match="max_epochs.*leave out model="):
        calscope.deconvolve(sim.fluorescence[:2], FS, method="amortized", model=path,
                            max_epochs=2)  # a training setting: not silently dropped


def test_the_relaxed_estimator_with_the_autoregressive_network_is_refused(sim):
    with pytest.raises(InputError, match="relaxed.*autoregressive.*vimco"):
        amortized.fit(sim.fluorescence[:2, :900], FS, max_epochs=2,
                      recognition="autoregressive", estimator="relaxed")


@pytest.fixture
def stray_tensors_fail():
    """torch's default device set to "meta" for the test: a tensor made without the model's
    device lands there, and using it with the model's tensors raises. This is how the GPU
    path is checked on a machine without a GPU: code that passes runs on any one device."""
    before = torch.get_default_device()
    torch.set_default_device("meta")
    yield
    torch.set_default_device(before)


@pytest.mark.parametrize("overrides", [{}, {"estimator": "relaxed"}, {"generative": "scf"},
                                       {"generative": "mlphys"},
                                       {"recognition": "autoregressive"},
                                       {"likelihood": "student-t"}])
def test_every_variant_trains_and_infers_on_its_device(sim, overrides, tmp_path,
                                                       stray_tensors_fail):
    y = sim.fluorescence[:2, :900]
    m = amortized.fit(y, FS, max_epochs=2, device="cpu", **overrides)
    assert m.device == torch.device("cpu")
    res = m.infer(y, FS, n_samples=2)  # the training cells: their own parameters
    assert res.spikes.shape == (2, 900) and np.all(np.isfinite(res.spikes))
    assert res.samples.shape == (2, 2, 900)
    new = m.infer(sim.fluorescence[2:3, :900], FS)  # a new cell: gain and bias refitted
    assert np.all(np.isfinite(new.calcium))
    loaded = amortized.load(m.save(tmp_path / "m.pt"), device="cpu")
    np.testing.assert_allclose(loaded.infer(y, FS, n_samples=2).spikes, res.spikes, atol=1e-6)


def test_the_model_moves_between_devices_and_its_file_is_on_the_cpu(tmp_path, model):
    assert model.to("cpu") is model and model.to("auto").device == model.device
    with pytest.raises(InputError, match="cuda:7"):
        model.to("cuda:7")
    with pytest.raises(InputError, match="not a device name"):
        amortized.load(model.save(tmp_path / "m.pt"), device="gpu")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    tensors = [*payload["recognition"].values(), *payload["generative"].values()]
    assert {t.device.type for t in tensors} == {"cpu"}


def test_the_likelihood_setting_reaches_the_model_and_its_file(tmp_path, sim, model):
    m = amortized.fit(sim.fluorescence[:2, :900], FS, max_epochs=1, likelihood="student-t")
    assert m.generative.likelihood == "student-t"
    assert amortized.load(m.save(tmp_path / "t.pt")).generative.likelihood == "student-t"
    # a file written before the setting existed was trained with Gaussian noise
    path = model.save(tmp_path / "old.pt")
    payload = torch.load(path, weights_only=True)
    del payload["settings"]["likelihood"]
    torch.save(payload, path)
    assert amortized.load(path).generative.likelihood == "gaussian"


def test_the_oasis_blend_is_saved_and_old_files_get_the_default(tmp_path, model):
    path = model.with_oasis_blend(0.2).save(tmp_path / "b.pt")
    assert amortized.load(path).settings.oasis_blend == 0.2
    payload = torch.load(path, weights_only=True)
    del payload["settings"]["oasis_blend"]  # a file written before the setting existed
    torch.save(payload, path)
    assert amortized.load(path).settings.oasis_blend == 0.5
    with pytest.raises(InputError, match="oasis_blend"):
        model.with_oasis_blend(1.5)


def test_bad_settings_are_input_errors(sim):
    with pytest.raises(InputError, match="estimator"):
        amortized.fit(sim.fluorescence[:1, :300], FS, estimator="nope")
    with pytest.raises(InputError, match="n_samples"):
        amortized.fit(sim.fluorescence[:1, :300], FS, n_samples=1)
    with pytest.raises(InputError, match="unknown_knob"):
        amortized.fit(sim.fluorescence[:1, :300], FS, unknown_knob=3)


def test_residual_noise_start_matches_traces_whose_spectrum_top_is_not_white(sim):
    # Upsampling 30 → 120 Hz (linear) empties the top of the spectrum: the spectral σ reads
    # far less than the noise an OASIS fit leaves, which noise_start="residual" starts from.
    t = np.arange(sim.fluorescence.shape[1]) / FS
    fine = np.arange(0, t[-1], 1 / 120.0)
    up = np.stack([np.interp(fine, t, row) for row in sim.fluorescence[:2]])
    start = {}
    for how in ("spectral", "residual"):
        m = amortized.fit(up, 120.0, noise_start=how, max_epochs=1, learning_rate=1e-6)
        start[how] = m.generative.cell_parameters()["noise_sigma"]
    np.testing.assert_allclose(start["spectral"], 1.0, atol=0.01)
    assert np.all(start["residual"] > 2.0)


def test_oasis_blend_mixes_the_posterior_mean_with_oasis(sim, model):
    y = sim.fluorescence.copy()
    y[1, 200:260] = np.nan
    plain = model.with_oasis_blend(0.0).infer(y, FS)
    blended = model.with_oasis_blend(0.5)
    res = blended.infer(y, FS)
    assert np.array_equal(np.isnan(res.spikes), np.isnan(y))
    ok = np.isfinite(res.spikes)
    # the network's expected count per cell is kept, and the band still holds the estimate
    np.testing.assert_allclose(np.nansum(res.spikes, axis=1), np.nansum(plain.spikes, axis=1),
                               rtol=1e-6)
    assert np.all(res.lower[ok] <= res.spikes[ok]) and np.all(res.spikes[ok] <= res.upper[ok])
    # half of the estimate is the OASIS solution: it moves toward OASIS where the two differ
    oasis = np.nan_to_num(calscope.deconvolve(sim.fluorescence, FS).spikes)
    gap = np.abs(np.nan_to_num(plain.spikes) - np.nan_to_num(res.spikes))
    assert gap.max() > 0.05 and np.corrcoef(gap.ravel(), oasis.ravel())[0, 1] > 0.2
    assert _mean_r(res.spikes[[0, 2]], sim.spikes[[0, 2]]) >= 0.9


def test_traces_resampled_up_are_trained_on_and_inferred_at_their_native_rate():
    from scipy import signal

    from calscope.deconv import deconvolve

    native = 7.8
    sim = simulate.traces(6, 2400, native, indicator="GCaMP6f", snr=4.0, seed=5)
    up = signal.resample(sim.fluorescence.astype(np.float64), 30769, axis=1)  # → 100 Hz
    up[2, 4000:4600] = np.nan
    m = amortized.fit(up, 100.0, **FAST)
    assert m.fs == pytest.approx(native, rel=0.02)  # trained at the detected rate
    res = m.infer(up, 100.0, n_samples=3)
    assert res.fs == 100.0 and res.native_fs == m.fs and res.spikes.shape == up.shape
    for field in (res.spikes, res.lower, res.upper, res.calcium, *res.samples):
        np.testing.assert_array_equal(np.isnan(field), np.isnan(up))
    draws = res.samples[np.isfinite(res.samples)]
    assert np.array_equal(draws, np.round(draws)) and draws.max() >= 1  # still spike counts
    low = m.infer(calscope.deconv.resample.resample_with_gaps(up, 100.0, m.fs)[0], m.fs)
    np.testing.assert_allclose(np.nansum(res.spikes, axis=1), np.nansum(low.spikes, axis=1),
                               rtol=0.02)
    # half-second bins of the truth (at 7.8 Hz) against both methods' spikes at 100 Hz
    seconds = sim.spikes.shape[1] / native

    def binned(x, fs):
        idx = (np.arange(x.shape[1]) / fs / 0.5).astype(int)
        keep = idx < int(seconds / 0.5)
        return np.stack([np.bincount(idx[keep], np.nan_to_num(r)[keep]) for r in x])

    truth = binned(sim.spikes, native)

    def r(x):
        return np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(binned(x, 100.0), truth)])

    assert r(res.spikes) > r(deconvolve(up, 100.0, native_fs=100.0).spikes) + 0.1
    assert r(res.spikes) > 0.7
    with pytest.raises(InputError, match="not resampled up"):
        m.infer(simulate.traces(2, 900, 30.0, seed=1).fluorescence, 30.0)
    one = m.infer(up[0], 100.0)
    assert one.spikes.shape == up[0].shape and np.ndim(one.params["sn"]) == 0

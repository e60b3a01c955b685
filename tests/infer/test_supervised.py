"""Supervised inference: the shipped model and its card, a tiny out-of-sample training,
noise matching, checkpoint resume, the NaN rule, save/load and bad input."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import calscope
from calscope import metrics
from calscope.config import SupervisedSettings
from calscope.deconv.noise import noise_sigma
from calscope.errors import InputError
from calscope.infer import SpikeInference, supervised
from calscope.infer import blocks as block_size
from calscope.infer.blend import blend_with_oasis
from calscope.infer.card_check import check_recordings
from calscope.infer.cell_types import CELL_TYPES, dataset_cell_type
from calscope.infer.supervised_training import train_members, train_network
from calscope.infer.torch_device import resolve_device
from calscope.infer.training_set import match_noise, training_traces
from calscope.io.ground_truth import load_cascade_dataset

TINY = {"channels": 16, "dilations": (1, 2, 4, 8, 16), "epochs": 4, "windows_per_epoch": 512,
        "batch_windows": 32, "simulated_minutes": 0.0}


def _dataset(root, prefix, n):
    folder = next(d for d in sorted(root.iterdir()) if d.name.startswith(prefix))
    return load_cascade_dataset(folder)[:n]


@pytest.fixture(scope="module")
def cascade(shared_data):
    return shared_data / "ground_truth" / "cascade"


@pytest.fixture(scope="module")
def tiny(cascade):
    """Trained in seconds on 30 recordings of DS06, DS08 and DS21 (DS09 left out)."""
    recordings = [r for p in ("DS06", "DS08", "DS21") for r in _dataset(cascade, p, 10)]
    return supervised.train(recordings, **TINY)


def test_tiny_model_scores_on_a_dataset_it_never_saw(tiny, cascade):
    traces = metrics.prepare_cascade(_dataset(cascade, "DS09", 8))
    preds = [tiny.infer(tr.dff, tr.fs).spikes for tr in traces]
    r = metrics.score_predictions(traces, preds)["per_dataset"]["DS09-GCaMP6f-m-V1"]
    assert r > 0.4


def test_card_records_data_and_a_reproducible_check(tiny, cascade, tmp_path):
    card = tiny.card
    assert card["datasets"] == ["DS06-GCaMP6f-zf-aDp", "DS08-GCaMP6f-zf-OB", "DS21-jGECO1a-m-V1"]
    assert card["recordings"] == 30 and card["epochs"] == 4 and card["train_device"] == "cpu"
    path = tmp_path / "m.pt"
    tiny.save(path)
    loaded = supervised.load(path)
    assert json.loads(path.with_suffix(".json").read_text()) == loaded.card == card
    check = [r for r in _dataset(cascade, "DS06", 10)
             if [r.dataset, r.neuron, r.trial] in card["check"]["recordings"]]
    assert supervised.slice_score(loaded, check) == pytest.approx(card["check"]["r"], abs=1e-4)


@pytest.mark.parametrize("cell_type", CELL_TYPES)
def test_shipped_model_loads_with_its_card_and_reproduces_its_check(shared_data, cell_type):
    model = supervised.load(cell_type=cell_type)
    card = model.card
    for key in ("datasets", "frame_rates_hz", "noise_sigma_range", "training_command", "date",
                "validation", "check", "cell_type"):
        assert key in card, key
    assert card["cell_type"] == cell_type
    real = {dataset_cell_type(d) for d in card["datasets"] if not d.startswith("SIM-")}
    assert real == ({"excitatory", "inhibitory"} if cell_type == "any" else {cell_type})
    recs = check_recordings(card, shared_data / "ground_truth" / "cascade")
    assert len(recs) == len(card["check"]["recordings"])
    assert supervised.slice_score(model, recs) == pytest.approx(card["check"]["r"], abs=2e-3)


def test_check_recordings_missing_from_the_folder_are_named(tmp_path):
    card = {"check": {"recordings": [["DS99-none", "cell1", 0]]}}
    with pytest.raises(InputError, match="DS99-none: no such dataset folder"):
        check_recordings(card, tmp_path)


def test_cell_types_select_datasets_and_models(cascade, tmp_path):
    inhibitory = {r.dataset for r in supervised.load_ground_truth(
        cascade, exclude=["DS24", "DS25", "DS26", "DS33", "DS41"], cell_type="inhibitory")}
    assert inhibitory == {"DS22-OGB1-m-SST-V1", "DS23-OGB1-m-PV-V1", "DS27-GCaMP6f-m-PV-vivo-V1"}
    assert dataset_cell_type("DS09-GCaMP6f-m-V1") == "excitatory"
    assert dataset_cell_type("DS41-GCaMP6s-spinal-cord-inhibitory") == "inhibitory"
    with pytest.raises(InputError, match="choose one of"):
        supervised.load(cell_type="pyramidal")
    with pytest.raises(InputError, match="both given"):
        supervised.load(tmp_path / "m.pt", cell_type="excitatory")
    y = calscope.simulate.traces(2, 900, 30.0, seed=4).fluorescence
    np.testing.assert_array_equal(
        calscope.deconvolve(y, 30.0, method="supervised", cell_type="inhibitory").spikes,
        supervised.load(cell_type="inhibitory").infer(y, 30.0).spikes)
    with pytest.raises(InputError, match="not both"):
        calscope.deconvolve(y, 30.0, method="supervised", model=supervised.load(),
                            cell_type="excitatory")


def test_match_noise_reaches_the_requested_level():
    rng = np.random.default_rng(0)
    t = np.arange(60_000) / 60.0
    y = 0.3 * np.sin(2 * np.pi * 0.2 * t) + 0.05 * rng.standard_normal(t.size)
    noisy = match_noise(y, 0.05, 0.2, rng)
    assert noise_sigma(noisy[None], 60.0)[0] == pytest.approx(0.2, rel=0.03)
    assert np.array_equal(match_noise(y, 0.05, 0.01, rng), y)  # never lowers the noise


@pytest.mark.parametrize("pretrain, stop_at", [(0, 1), (1, 1), (1, 2)])
def test_interrupted_training_continues_from_its_checkpoint(cascade, tmp_path, pretrain,
                                                            stop_at):
    recordings = _dataset(cascade, "DS06", 3)
    if pretrain:  # stopped at the end of pre-training, and within the training after it
        from calscope.infer.simulated_truth import simulated_recordings

        recordings += simulated_recordings(0.2, seed=1)[:8]
    traces = training_traces(recordings)
    settings = SupervisedSettings(**{**TINY, "epochs": 2, "windows_per_epoch": 64,
                                     "pretrain_epochs": pretrain,
                                     "simulated_minutes": 0.2 * pretrain})
    whole, _ = train_network(traces, settings)
    ckpt = tmp_path / "run.ckpt"

    def stop(epoch, total, loss):
        assert total == 2 + pretrain
        if epoch == stop_at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_network(traces, settings, progress=stop, checkpoint=ckpt)
    assert ckpt.is_file()
    resumed, log = train_network(traces, settings, checkpoint=ckpt)
    assert log.epochs == 2 + pretrain and not ckpt.exists()
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy())


def test_an_ensemble_is_its_seeds_trained_alone_averaged(cascade, tmp_path):
    from calscope.infer.spikenet import SpikeEnsemble

    traces = training_traces(_dataset(cascade, "DS06", 3))
    settings = SupervisedSettings(**{**TINY, "epochs": 2, "windows_per_epoch": 64,
                                     "ensemble": 2, "seed": 5})
    ckpt = tmp_path / "run.ckpt"
    calls = []

    def stop(epoch, total, loss):
        calls.append((epoch, total))
        if epoch == 3:  # within the second member
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_members(traces, settings, progress=stop, checkpoint=ckpt)
    assert calls == [(1, 4), (2, 4), (3, 4)]
    assert Path(f"{ckpt}.member0").is_file()  # the finished member is kept
    ensemble, log = train_members(traces, settings, checkpoint=ckpt)
    assert isinstance(ensemble, SpikeEnsemble) and log.epochs == 4 and len(log.losses) == 4
    assert not list(tmp_path.iterdir())  # nothing left behind
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 4, 300)).astype(np.float32))
    outputs = []
    for k, seed in enumerate((5, 6)):
        alone, _ = train_network(traces, settings.model_copy(update={"seed": seed,
                                                                     "ensemble": 1}))
        for a, b in zip(alone.state_dict().values(), ensemble.members[k].state_dict().values()):
            assert np.array_equal(a.numpy(), b.numpy())
        with torch.no_grad():
            outputs.append(alone(x))
    with torch.no_grad():
        torch.testing.assert_close(ensemble(x), (outputs[0] + outputs[1]) / 2)


def test_an_ensemble_model_saves_loads_and_infers(cascade, tmp_path):
    recordings = _dataset(cascade, "DS06", 3)
    model = supervised.train(recordings, **{**TINY, "epochs": 1, "windows_per_epoch": 64,
                                            "ensemble": 3})
    path = tmp_path / "e.pt"
    model.save(path)
    loaded = supervised.load(path)
    assert loaded.settings.ensemble == 3 and len(loaded.net.members) == 3
    y = metrics.prepare_cascade(recordings[:1])[0].dff
    np.testing.assert_array_equal(loaded.infer(y, 30.0).spikes, model.infer(y, 30.0).spikes)
    assert loaded.card["epochs"] == 3 and loaded.card["networks"] == 3  # epochs of all three


def test_training_stops_at_its_time_budget(cascade):
    traces = training_traces(_dataset(cascade, "DS06", 2))
    settings = SupervisedSettings(**{**TINY, "epochs": 500, "windows_per_epoch": 32,
                                     "max_time_s": 0.5})
    _, log = train_network(traces, settings)
    assert log.stopped == "time" and 1 <= log.epochs < 500 and len(log.losses) == log.epochs


def test_pretraining_sees_the_simulated_recordings_alone_first(cascade, monkeypatch):
    from calscope.infer import supervised_training
    from calscope.infer.simulated_truth import SIMULATED_PREFIX, simulated_recordings

    seen: list[set[bool]] = []  # per epoch: whether each recording seen was simulated
    augment = supervised_training.augment

    def recording(tr, rng, settings):
        seen[-1].add(tr.dataset.startswith(SIMULATED_PREFIX))
        return augment(tr, rng, settings)

    def next_epoch(epoch, total, loss):
        seen.append(set())

    monkeypatch.setattr(supervised_training, "augment", recording)
    traces = training_traces(_dataset(cascade, "DS06", 2) + simulated_recordings(0.2)[:4])
    settings = SupervisedSettings(**{**TINY, "epochs": 1, "windows_per_epoch": 32,
                                     "pretrain_epochs": 1, "simulated_minutes": 0.2})
    seen.append(set())
    _, log = train_network(traces, settings, progress=next_epoch)
    assert log.epochs == 2 and seen[:2] == [{True}, {True, False}]
    with pytest.raises(InputError, match="pretrain_epochs=1 .*simulated_minutes > 0"):
        supervised.train(_dataset(cascade, "DS06", 2), pretrain_epochs=1, simulated_minutes=0)


def test_infer_keeps_shapes_rates_and_the_nan_rule(tiny, cascade):
    rec = _dataset(cascade, "DS09", 1)[0]
    y30 = metrics.prepare_cascade([rec])[0].dff[:3000]
    y = np.vstack([y30, y30, np.full_like(y30, np.nan)])
    y[1, 100:160] = np.nan
    with pytest.warns(UserWarning, match="row"):
        res = tiny.infer(y, 30.0)
    assert isinstance(res, SpikeInference) and res.calcium is None
    assert res.spikes.shape == res.lower.shape == res.upper.shape == y.shape
    assert np.array_equal(np.isnan(res.spikes), np.isnan(y))
    ok = np.isfinite(res.spikes)
    assert np.all(res.lower[ok] <= res.spikes[ok]) and np.all(res.spikes[ok] <= res.upper[ok])
    one = tiny.infer(y30, 30.0)
    assert one.spikes.shape == y30.shape
    np.testing.assert_allclose(one.spikes, res.spikes[0], atol=1e-5)
    # the same recording at 100 Hz gives the shipped model the same expected number of spikes
    # (a model trained for seconds is too crude for this: ±16%)
    y100 = np.interp(np.arange(10_000) / 100.0, np.arange(3000) / 30.0, y30)
    shipped = supervised.load()
    assert np.nansum(shipped.infer(y100, 100.0).spikes) == pytest.approx(
        shipped.infer(y30, 30.0).spikes.sum(), rel=0.1)


def test_cells_inferred_in_blocks_match_one_pass_and_rows_are_reported_once(tiny, cascade,
                                                                           monkeypatch):
    rec = _dataset(cascade, "DS09", 1)[0]
    y30 = metrics.prepare_cascade([rec])[0].dff[:1500]
    y = np.vstack([y30, np.full_like(y30, np.nan), y30[::-1], np.full_like(y30, 0.5), y30 * 2])
    y[2, 200:260] = np.nan
    with pytest.warns(UserWarning):  # rows 1 and 3
        whole = tiny.infer(y, 30.0)
    given = y.copy()
    monkeypatch.setattr(block_size, "BLOCK_SAMPLES", 2000)  # one cell per block
    calls = []
    with pytest.warns(UserWarning) as caught:
        blocks = tiny.infer(y, 30.0, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(k, 5) for k in range(1, 6)]
    np.testing.assert_array_equal(y, given)  # read in place, never written
    rows = [str(w.message) for w in caught if "trace is all NaN" in str(w.message)]
    assert [m.split(":")[0] for m in rows] == ["row 1", "row 3"]  # numbered in the whole input
    for name in ("spikes", "lower", "upper"):
        np.testing.assert_allclose(getattr(blocks, name), getattr(whole, name), atol=1e-6)
    np.testing.assert_array_equal(blocks.params["sn"], whole.params["sn"])
    # separate arrays: keeping the spikes alone frees the band (analyze keeps only the spikes)
    for name in ("spikes", "lower", "upper"):
        assert getattr(whole, name).base is None, name  # its own array, not a view
    with pytest.raises(InputError, match="every trace"):
        tiny.infer(y[[1, 3]], 30.0)


def test_dispatch_runs_the_supervised_method(tiny):
    y = calscope.simulate.traces(2, 900, 30.0, seed=1).fluorescence
    res = calscope.deconvolve(y, 30.0, method="supervised", model=tiny)
    assert res.spikes.shape == y.shape
    with pytest.raises(InputError, match="only model=, cell_type=, oasis_blend=, "
                                         "oasis_blend_form=, native_fs= and device="):
        calscope.deconvolve(y, 30.0, method="supervised", model=tiny, order=2)
    on_cpu = calscope.deconvolve(y, 30.0, method="supervised", model=tiny, device="cpu")
    np.testing.assert_array_equal(on_cpu.spikes, res.spikes)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_a_gpu_that_is_not_there_is_refused_before_any_work(tiny, tmp_path):
    y = calscope.simulate.traces(1, 300, 30.0, seed=1).fluorescence
    with pytest.raises(InputError, match="device 'cuda'.*use device 'cpu' or 'auto'"):
        supervised.load(device="cuda")
    with pytest.raises(InputError, match="device 'cuda:0'"):
        tiny.to("cuda:0")
    with pytest.raises(InputError, match="device 'cuda'"):
        calscope.deconvolve(y, 30.0, method="supervised", device="cuda")
    with pytest.raises(InputError, match="device 'cuda'"):
        supervised.train([], device="cuda")  # refused before looking at the recordings


def test_a_model_runs_where_it_is_told_and_stays_put_otherwise(tiny):
    assert supervised.load(device="cpu").device == torch.device("cpu")
    assert tiny.device == torch.device("cpu") and tiny.to("cpu") is tiny
    assert tiny.to("auto").device.type == resolve_device("auto").type


def test_bad_input_gives_clear_errors(tiny, tmp_path):
    y = calscope.simulate.traces(1, 900, 30.0, seed=1).fluorescence
    with pytest.raises(InputError, match="outside"):
        tiny.infer(y, 0.5)
    with pytest.raises(InputError, match="needs at least"):
        tiny.infer(y[:, :40], 500.0)  # 40 frames at 500 Hz: 3 frames at the network's 30 Hz
    assert tiny.infer(y[:, :30], 30.0).spikes.shape == (1, 30)  # 1 s is enough
    with pytest.warns(UserWarning, match="not raw fluorescence or percent"):
        tiny.infer(y * 100.0 + 500.0, 30.0)
    with pytest.raises(InputError, match="no such model"):
        supervised.load(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_text("not a model")
    with pytest.raises(InputError, match="not a calscope model"):
        supervised.load(junk)
    from calscope.infer import amortized

    other = tmp_path / "amortized.pt"
    amortized.fit(y, 30.0, max_epochs=1).save(other)
    with pytest.raises(InputError, match="not a calscope supervised model"):
        supervised.load(other)


def test_simulated_recordings_carry_their_spikes_and_enter_training():
    from calscope.infer.simulated_truth import SIMULATED_RATES, simulated_recordings

    recs = simulated_recordings(0.5, seed=3)
    assert len(recs) == 4 * len(SIMULATED_RATES) * 5
    assert {r.dataset for r in recs} == {"SIM-GCaMP6f", "SIM-GCaMP6s", "SIM-jGCaMP8m", "SIM-OGB-1"}
    for r in recs[:20]:
        assert r.dff.shape == r.time.shape and np.all(np.diff(r.spike_times) >= 0)
        assert r.spike_times.min(initial=0) >= -0.5 / r.fs
        assert r.spike_times.max(initial=0) < r.time[-1] + 0.5 / r.fs
    model = supervised.train(recs[:20], **{**TINY, "epochs": 1, "windows_per_epoch": 32,
                                           "simulated_minutes": 0.5})
    assert "SIM-OGB-1" in model.card["datasets"]  # added by simulated_minutes


def test_a_model_file_of_another_format_version_is_refused(tiny, tmp_path):
    import torch

    path = tmp_path / "old.pt"
    tiny.save(path)
    payload = torch.load(path, weights_only=True)
    payload["version"] = supervised.FORMAT_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(InputError, match="format version"):
        supervised.load(path)


def test_a_model_file_from_before_a_setting_existed_keeps_what_it_was_made_with(
        tiny, tmp_path):
    """Trained without the low-rate augmentation; inferring with the linear OASIS blend."""
    import torch

    path = tmp_path / "before.pt"
    tiny.save(path)
    payload = torch.load(path, weights_only=True)
    assert payload["settings"]["low_rate_fraction"] == 0.3
    assert payload["settings"]["oasis_blend_form"] == "geometric"
    del payload["settings"]["low_rate_fraction"], payload["settings"]["min_rate_hz"]
    del payload["settings"]["oasis_blend_form"]
    torch.save(payload, path)
    old = supervised.load(path)
    assert old.settings.low_rate_fraction == 0.0 and old.settings.oasis_blend_form == "linear"
    shipped = supervised.load()  # the shipped model has both
    assert shipped.settings.low_rate_fraction == 0.3
    assert shipped.settings.oasis_blend_form == "geometric" and shipped.settings.oasis_blend == 0.6


def test_stretch_augmentation_scales_time_and_keeps_every_spike():
    from calscope.infer.simulated_truth import simulated_recordings
    from calscope.infer.training_set import augment

    trace = training_traces(simulated_recordings(0.5, seed=4)[:1])[0]
    rng = np.random.default_rng(0)
    plain = augment(trace, rng, SupervisedSettings(clean_fraction=1.0,
                                                   low_rate_fraction=0.0))
    assert plain.target.sum() == pytest.approx(trace.spike_s.size, rel=0.05, abs=2)
    stretches = []
    for _ in range(20):
        copy = augment(trace, rng, SupervisedSettings(clean_fraction=1.0, max_stretch=2.0))
        stretches.append(plain.target.size / copy.target.size)
        # the same spikes, now in a shorter or longer recording
        assert copy.target.sum() == pytest.approx(trace.spike_s.size, rel=0.05, abs=2)
    assert 0.5 - 0.02 <= min(stretches) < 0.9 and 1.1 < max(stretches) <= 2.0 + 0.02


def test_low_rate_copies_average_frames_and_keep_every_spike():
    from calscope.infer.simulated_truth import simulated_recordings
    from calscope.infer.training_set import TrainingTrace, at_lower_rate, augment

    rng = np.random.default_rng(5)
    noise = TrainingTrace("n", "n", rng.standard_normal(60 * 120) * 0.1, 60.0, 0.1, np.zeros(0))
    for _ in range(5):
        y, rate, sigma = at_lower_rate(noise, rng, 5.0)
        assert 5.0 <= rate <= 30.0
        assert y.size == pytest.approx(120 * rate, abs=2)
        assert np.std(y) == pytest.approx(sigma, rel=0.15)  # white noise averaged down
        assert sigma == pytest.approx(0.1 * np.sqrt(rate / 60.0))
    rates = [at_lower_rate(noise, rng, 5.0, max_rate_hz=15.0)[1] for _ in range(20)]
    assert 5.0 <= min(rates) and max(rates) <= 15.0  # a ceiling below 30 Hz is kept
    slow = TrainingTrace("s", "s", noise.dff[:600], 5.0, 0.1, np.zeros(0))
    assert at_lower_rate(slow, rng, 5.0)[1] == 5.0
    gap = noise.dff.copy()
    gap[1000:2000] = np.nan
    y, rate, _ = at_lower_rate(TrainingTrace("g", "g", gap, 60.0, 0.1, np.zeros(0)), rng, 5.0)
    assert np.isnan(y[int(1100 * rate / 60):int(1900 * rate / 60)]).all()
    assert np.isfinite(y[: int(900 * rate / 60)]).all()

    trace = [t for t in training_traces(simulated_recordings(0.5, seed=4)) if t.fs == 60.0][0]
    settings = SupervisedSettings(clean_fraction=1.0, low_rate_fraction=1.0, min_rate_hz=6.0)
    plain = augment(trace, rng, SupervisedSettings(clean_fraction=1.0,
                                                   low_rate_fraction=0.0))
    roughness = []
    for _ in range(4):
        copy = augment(trace, rng, settings)
        # the last slow frame ends at most 1 / 6 s (5 model frames) before the recording's end
        assert plain.target.size - 6 <= copy.target.size <= plain.target.size
        assert copy.target.sum() == pytest.approx(trace.spike_s.size, rel=0.05, abs=2)
        roughness.append(np.mean(np.abs(np.diff(copy.x[1][copy.valid]))))
    # frame averages at < 30 Hz, brought back to 30 Hz: a smoother input than the 60 Hz copy
    assert max(roughness) < np.mean(np.abs(np.diff(plain.x[1][plain.valid])))


def test_point_sampled_low_rate_copies_keep_the_noise_and_the_timing():
    from calscope.deconv.resample import n_frames_at
    from calscope.infer.training_set import TrainingTrace, at_lower_rate

    rng = np.random.default_rng(8)
    t = np.arange(60 * 120) / 60.0
    ramp = TrainingTrace("r", "r", t.copy(), 60.0, 0.1, np.zeros(0))  # the value is the time
    noise = TrainingTrace("n", "n", rng.standard_normal(t.size) * 0.1, 60.0, 0.1, np.zeros(0))
    offsets = []
    for _ in range(30):
        y, rate, sigma = at_lower_rate(ramp, rng, 5.0, point=True)
        assert 5.0 <= rate <= 30.0 and sigma == 0.1
        assert y.size == n_frames_at(t.size, 60.0, rate)  # the frames of an averaged copy
        lag = (y - np.arange(y.size) / rate)[1:-1] * rate  # in frames of the copy
        assert np.ptp(lag) < 2 * rate / 60.0 + 1e-9  # one phase per copy (± rounding)
        assert np.all(np.abs(lag) <= 0.5 + rate / 60.0)  # within half a frame
        offsets.append(np.median(lag))
        y, rate, _ = at_lower_rate(noise, rng, 5.0, point=True)
        assert np.std(y) == pytest.approx(0.1, rel=0.15)  # samples, not averages
    assert np.ptp(offsets) > 0.5  # the phase varies between copies


def test_gain_augmentation_scales_the_dff_and_keeps_the_target():
    from calscope.infer.simulated_truth import simulated_recordings
    from calscope.infer.training_set import augment

    trace = [t for t in training_traces(simulated_recordings(0.5, seed=4)) if t.fs == 60.0][0]
    base = {"clean_fraction": 1.0, "low_rate_fraction": 0.0}
    plain = augment(trace, np.random.default_rng(2), SupervisedSettings(**base))
    ratios = []
    for seed in range(12):
        copy = augment(trace, np.random.default_rng(seed), SupervisedSettings(**base,
                                                                             max_gain=3.0))
        np.testing.assert_array_equal(copy.target, plain.target)
        np.testing.assert_allclose(copy.x[0], plain.x[0], atol=1e-5)  # noise units: unchanged
        ratios.append(np.exp(np.mean(copy.x[2] - plain.x[2])))  # the log σ channel
    assert 1 / 3 - 1e-6 <= min(ratios) < 0.8 and 1.25 < max(ratios) <= 3 + 1e-6


def test_low_rate_point_fraction_off_leaves_training_copies_unchanged():
    from calscope.infer.simulated_truth import simulated_recordings
    from calscope.infer.training_set import augment

    trace = [t for t in training_traces(simulated_recordings(0.5, seed=4)) if t.fs == 60.0][0]
    base = {"clean_fraction": 0.5, "low_rate_fraction": 1.0}
    off = augment(trace, np.random.default_rng(3), SupervisedSettings(**base))
    default = augment(trace, np.random.default_rng(3), SupervisedSettings(
        **base, low_rate_point_fraction=0.0))
    np.testing.assert_array_equal(off.x, default.x)
    points = [augment(trace, np.random.default_rng(s), SupervisedSettings(
        **base, low_rate_point_fraction=1.0)) for s in range(3)]
    averages = [augment(trace, np.random.default_rng(s), SupervisedSettings(**base))
                for s in range(3)]
    # instants keep the rises sharp: a rougher input than frame averages at the same rates
    rough = [np.mean(np.abs(np.diff(a.x[1][a.valid]))) for a in points]
    smooth = [np.mean(np.abs(np.diff(a.x[1][a.valid]))) for a in averages]
    assert np.mean(rough) > np.mean(smooth)


def test_slow_copies_get_a_target_no_sharper_than_their_frames():
    from dataclasses import replace

    from calscope.deconv.resample import resample_with_gaps
    from calscope.infer.simulated_truth import simulated_recordings
    from calscope.infer.training_set import augment

    fast = [t for t in training_traces(simulated_recordings(0.5, seed=4)) if t.fs == 60.0][0]
    slow = replace(fast, dff=resample_with_gaps(fast.dff, 60.0, 7.5)[0][0], fs=7.5)

    def targets(trace):
        settings = {"clean_fraction": 1.0, "low_rate_fraction": 0.0, "target_sigma_s": 0.0}
        sharp = augment(trace, np.random.default_rng(1), SupervisedSettings(**settings))
        framed = augment(trace, np.random.default_rng(1),
                         SupervisedSettings(**settings, target_sigma_frames=0.29))
        np.testing.assert_array_equal(sharp.x, framed.x)  # the same copy: only the target moves
        assert framed.target.sum() == pytest.approx(sharp.target.sum(), rel=0.01)
        return sharp.target, framed.target

    # at 7.5 Hz: σ = 0.29 frames = 39 ms, more than a model frame
    sharp, framed = targets(slow)
    np.testing.assert_allclose(framed, metrics.gaussian_smooth(sharp, 30.0, 0.29 / 7.5),
                               atol=1e-5)
    assert framed.max() < 0.6 * sharp.max()
    # at 60 Hz: σ = 0.29 / 60 s, a seventh of a model frame: still the raw count
    sharp, framed = targets(fast)
    np.testing.assert_allclose(framed, sharp, atol=0.02)


def test_oasis_blend_mixes_in_oasis_at_the_networks_count():
    rng = np.random.default_rng(3)
    net = rng.random((3, 200))
    oasis = np.zeros((3, 200))
    oasis[0, [20, 90]] = [2.0, 6.0]
    oasis[1, 50] = 1.0  # row 2: OASIS found no spike
    assert blend_with_oasis(net, oasis, 0.0) is net
    full = blend_with_oasis(net, oasis, 1.0)
    np.testing.assert_allclose(full[0, [20, 90]], net[0].sum() * np.array([0.25, 0.75]))
    assert np.count_nonzero(full[0]) == 2
    np.testing.assert_allclose(full[2], net[2])
    half = blend_with_oasis(net, oasis, 0.5)
    np.testing.assert_allclose(half[:2], 0.5 * net[:2] + 0.5 * full[:2])
    np.testing.assert_allclose(half.sum(axis=1), net.sum(axis=1))
    with pytest.raises(ValueError):
        SupervisedSettings(oasis_blend=1.5)
    with pytest.raises(InputError, match="oasis_blend"):
        supervised.load().with_oasis_blend(-0.1)


def test_geometric_blend_keeps_the_events_both_agree_on():
    """The geometric form is an AND: an event both place (OASIS one frame off) keeps most of
    the count, events only one of them has nearly vanish; the count is the network's."""
    t = np.arange(300)
    bump = lambda c: np.exp(-0.5 * ((t - c) / 2.0) ** 2)  # noqa: E731
    net = (bump(50) + bump(150))[None]  # the network: events at 50 and 150
    oasis = np.zeros((1, 300))
    oasis[0, [51, 250]] = 1.0  # OASIS: 50 one frame off, 250 instead of 150
    geo = blend_with_oasis(net, oasis, 0.5, form="geometric")
    lin = blend_with_oasis(net, oasis, 0.5)
    np.testing.assert_allclose(geo.sum(), net.sum())
    def share(x, c):  # the part of the count within ±6 frames of frame c
        return x[0, c - 6:c + 7].sum() / x.sum()

    assert share(geo, 50) > 0.8 and share(geo, 150) < 0.06 and share(geo, 250) < 0.06
    assert share(lin, 50) < 0.55 and share(lin, 150) > 0.2  # the linear form keeps every event
    # w = 0 is the network; w = 1 is OASIS spread by ±1 frame, at the network's count
    assert blend_with_oasis(net, oasis, 0.0, form="geometric") is net
    only = blend_with_oasis(net, oasis, 1.0, form="geometric")
    assert share(only, 51) + share(only, 250) > 0.9 and only[0, 150] < 1e-2 * only.max()
    # no OASIS spike: the network alone; a silent network stays silent
    np.testing.assert_allclose(blend_with_oasis(net, 0 * oasis, 0.5, form="geometric"), net)
    assert not blend_with_oasis(0 * net, oasis, 0.5, form="geometric").any()
    with pytest.raises(InputError, match="oasis_blend_form"):
        blend_with_oasis(net, oasis, 0.5, form="harmonic")
    with pytest.raises(InputError, match="oasis_blend_form"):
        supervised.load().with_oasis_blend(0.5, "harmonic")


def test_oasis_blend_is_an_inference_setting_of_a_trained_model(tiny):
    y = calscope.simulate.traces(4, 3000, 30.0, indicator="GCaMP6f", seed=2)
    plain = tiny.with_oasis_blend(0.0).infer(y.fluorescence, 30.0).spikes
    assert (tiny.settings.oasis_blend, tiny.settings.oasis_blend_form) == (0.6, "geometric")
    default = tiny.infer(y.fluorescence, 30.0).spikes
    mixed = tiny.with_oasis_blend(0.5, "linear").infer(y.fluorescence, 30.0).spikes
    oasis_only = tiny.with_oasis_blend(1.0, "linear")
    pure = oasis_only.infer(y.fluorescence, 30.0).spikes
    np.testing.assert_allclose(mixed, 0.5 * plain + 0.5 * pure, rtol=1e-6, atol=1e-9)
    for out in (mixed, default):
        np.testing.assert_allclose(out.sum(axis=1), plain.sum(axis=1), rtol=1e-6)
    assert not np.allclose(default, mixed)
    # the OASIS end is as sparse as OASIS: most frames hold no spike
    assert np.mean(pure > 1e-6) < 0.5 < np.mean(plain > 1e-6)


def test_cell_context_channels_describe_the_whole_cell():
    from calscope.infer.features import N_CHANNELS, N_CONTEXT, features

    def context(**kw):
        sim = calscope.simulate.traces(6, 6000, 30.0, seed=5, **kw)
        x = features(sim.fluorescence, context=True).x
        assert x.shape[1] == N_CHANNELS + N_CONTEXT
        np.testing.assert_array_equal(x[:, N_CHANNELS:], x[:, N_CHANNELS:, :1].repeat(6000, 2))
        np.testing.assert_array_equal(x[:, :N_CHANNELS],
                                      features(sim.fluorescence).x)  # the rest unchanged
        return np.median(x[:, N_CHANNELS:, 0], axis=0)  # activity, peak SNR, decay

    fast, slow = context(indicator="GCaMP6f"), context(indicator="GCaMP6s")
    assert slow[2] > fast[2] + 0.3  # GCaMP6s decays > 1.35× slower than GCaMP6f
    busy, quiet = context(rate_hz=2.0), context(rate_hz=0.2)
    assert busy[0] > quiet[0] + 0.3  # more OASIS activity per frame
    loud, faint = context(snr=10.0), context(snr=2.0)
    assert loud[1] > faint[1] + 0.3  # events rise further above the noise


@pytest.mark.parametrize("option, channels", [("cell_context", 7), ("residual_input", 4)])
def test_a_model_with_an_input_option_trains_saves_and_infers(cascade, tmp_path, option,
                                                              channels):
    recordings = [r for p in ("DS06", "DS21") for r in _dataset(cascade, p, 4)]
    model = supervised.train(recordings, **{option: True},
                             **{**TINY, "epochs": 1, "windows_per_epoch": 64})
    model.save(tmp_path / "c.pt")
    loaded = supervised.load(tmp_path / "c.pt")
    assert getattr(loaded.settings, option) and loaded.net.inp.in_channels == channels
    y = calscope.simulate.traces(3, 900, 30.0, seed=1).fluorescence
    np.testing.assert_allclose(loaded.infer(y, 30.0).spikes, model.infer(y, 30.0).spikes)
    assert not getattr(supervised.load().settings, option)  # the shipped model: without


def test_residual_input_shows_what_oasis_leaves_unexplained():
    from calscope.infer.features import features
    from calscope.infer.normalize import normalize

    sim = calscope.simulate.traces(6, 6000, 30.0, seed=3, snr=8.0)
    y = sim.fluorescence.copy()
    y[1, 100:400] = np.nan  # a gap: zero in every channel, as in the plain features
    plain, res = features(y).x, features(y, residual=True).x
    np.testing.assert_array_equal(res[:, 2:], plain[:, 2:])  # log σ and OASIS spikes unchanged
    assert np.all(res[1, :2, 100:400] == 0)
    # channel 1: OASIS's calcium in ΔF/F, a noise-free version of the trace it replaces
    norm = normalize(y, 30.0)
    calcium = calscope.deconvolve(y - norm.baseline, 30.0, sn=norm.sn, baseline=False,
                                  native_fs=30.0).calcium
    np.testing.assert_allclose(res[:, 1], np.clip(np.nan_to_num(calcium), -3, 15) * 4, atol=1e-5)
    # channel 0: what is left once the calcium is taken out is mostly the noise (σ ≈ 1)
    raw_sd, left_sd = plain[:, 0].std(axis=1) / 0.2, res[:, 0].std(axis=1) / 0.2
    assert np.all(left_sd < 1.3) and np.all(raw_sd > 2 * left_sd)


def test_spikefinder_4_is_inferred_with_oasis_at_its_recorded_rate(shared_data):
    """Spikefinder 4 holds 7.8 Hz recordings interpolated to 100 Hz (and was never trained
    on): the OASIS solution blended in is solved at 7.8 Hz, which lifts r from 0.26 to 0.44."""
    from calscope.io.ground_truth import load_spikefinder

    shipped = supervised.load()
    scores = {"detected": [], "at 100 Hz": []}
    for rec in load_spikefinder(shared_data / "ground_truth" / "spikefinder", "4"):
        truth = np.histogram(rec.spike_times, bins=np.arange(rec.dff.size + 1) / 100.0)[0]
        detected = shipped.infer(rec.dff, 100.0)
        assert detected.native_fs == pytest.approx(7.8125, rel=0.01)
        for key, res in (("detected", detected),
                         ("at 100 Hz", shipped.infer(rec.dff, 100.0, native_fs=100.0))):
            scores[key].append(metrics.spikefinder_correlation(np.nan_to_num(res.spikes), truth))
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    assert mean["detected"] > mean["at 100 Hz"] + 0.1, mean
    assert mean["detected"] > 0.4, mean


def test_native_fs_is_checked(tiny):
    y = calscope.simulate.traces(1, 900, 30.0, seed=1).fluorescence
    assert tiny.infer(y, 30.0).native_fs == 30.0
    assert tiny.infer(y, 30.0, native_fs=15.0).native_fs == 15.0
    with pytest.raises(InputError, match="native_fs"):
        tiny.infer(y, 30.0, native_fs=60.0)
    with pytest.raises(InputError, match="native_fs"):
        tiny.infer(y, 30.0, native_fs=1.0)
    res = calscope.deconvolve(y, 30.0, method="supervised", model=tiny, native_fs=15.0)
    assert res.native_fs == 15.0


def test_windows_balance_datasets_or_indicators():
    from calscope.infer.training_set import (Augmented, TrainingTrace, indicator_of,
                                             sample_windows)

    assert indicator_of("DS09-GCaMP6f-m-V1") == "GCaMP6f"
    assert indicator_of("DS18-R-CaMP-m-CA3") == "R"  # both R-CaMP sets alike
    assert indicator_of("SIM-GCaMP6f") == "SIM-GCaMP6f"  # not merged with the real GCaMP6f
    names = ["DS01-GCaMP6f-a", "DS02-GCaMP6f-b", "DS03-Cal520-c"]
    traces = [TrainingTrace(name, "n", np.zeros(10), 30.0, 0.1, np.zeros(0)) for name in names]
    inputs = [Augmented(np.full((1, 400), k, np.float32), np.zeros(400, np.float32),
                        np.ones(400, bool)) for k in range(3)]
    for balance, share in (("dataset", 1 / 3), ("indicator", 1 / 2)):
        w = sample_windows(traces, inputs, 3000, 50, np.random.default_rng(0), balance)
        assert np.mean(w.x[:, 0, 0] == 2) == pytest.approx(share, abs=0.03), balance
    with pytest.raises(ValueError, match="balance"):
        sample_windows(traces, inputs, 1, 50, np.random.default_rng(0), "neuron")


@pytest.mark.filterwarnings("ignore:the traces' median noise")  # the card's check infers them
def test_training_on_percent_dff_warns_with_the_dataset(tmp_path):
    from calscope.io import write_cascade_neuron

    sim = calscope.simulate.traces(2, 900, 30.0, indicator="GCaMP6f", seed=2)
    for name, scale in (("DS90-percent", 100.0), ("DS91-fraction", 1.0)):
        for i in range(2):
            frames = np.repeat(np.arange(sim.spikes.shape[1]), sim.spikes[i])
            write_cascade_neuron(tmp_path / name / f"c{i}.mat",
                                 [(scale * sim.fluorescence[i], 30.0, (frames + 0.5) / 30.0)])
    tiny = SupervisedSettings(channels=4, dilations=(1,), epochs=1, windows_per_epoch=8,
                              batch_windows=8, simulated_minutes=0.0)
    with pytest.warns(UserWarning, match=r"not ΔF/F as a fraction: DS90-percent \(σ") as caught:
        supervised.train(supervised.load_ground_truth(tmp_path), tiny)
    assert not any("DS91" in str(w.message) for w in caught)

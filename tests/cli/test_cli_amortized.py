"""The command line for the amortized method: train, deconvolve with and without --model."""

import numpy as np
import pytest
import torch

from calscope import simulate
from calscope.config import AmortizedSettings, Settings


def test_train_then_deconvolve_with_the_model(cli, traces_file, tmp_path):
    src, y = traces_file
    model = tmp_path / "model.pt"
    res = cli("train", src, "--fs", 30, "--method", "amortized", "--out", model,
              "--max-time", 3, "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert model.is_file() and "on cpu" in res.output
    out = tmp_path / "spikes.npz"
    res = cli("deconvolve", src, "--fs", 30, "--method", "amortized", "--model", model,
              "--samples", 3, "--device", "auto", "--out", out)
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())  # the message may wrap
    expected = "cuda" if torch.cuda.is_available() else "cpu"  # --device auto
    assert "amortized model:" in flat and f"model.pt, on {expected}" in flat
    with np.load(out) as z:
        assert z["spikes"].shape == y.shape and z["samples"].shape == (3, *y.shape)
        assert np.array_equal(np.isnan(z["spikes"]), np.isnan(y))
        assert "params_tau_decay_s" in z and z["rows"].tolist() == [0, 1, 2]
        blended = z["spikes"]
    # --oasis-blend 0: the posterior mean alone, Bernoulli probabilities; the count is the same
    res = cli("deconvolve", src, "--fs", 30, "--method", "amortized", "--model", model,
              "--oasis-blend", 0, "--out", tmp_path / "p.npy")
    assert res.exit_code == 0, res.output
    posterior = np.load(tmp_path / "p.npy")
    assert np.nanmax(posterior) <= 1 and not np.allclose(np.nan_to_num(posterior),
                                                         np.nan_to_num(blended))
    np.testing.assert_allclose(np.nansum(posterior, axis=1), np.nansum(blended, axis=1),
                               rtol=1e-4)


def test_deconvolve_trains_on_the_input_without_a_model(cli, traces_file, tmp_path):
    src, y = traces_file
    config = tmp_path / "settings.yaml"
    config.write_text(Settings(amortized=AmortizedSettings(max_epochs=2)).to_yaml())
    out = tmp_path / "spikes.npy"
    res = cli("deconvolve", src, "--fs", 30, "--method", "amortized", "--config", config,
              "--out", out)
    assert res.exit_code == 0, res.output
    assert np.load(out).shape == y.shape


def test_amortized_bad_input(cli, traces_file, tmp_path):
    src, _ = traces_file
    fake = tmp_path / "fake.pt"
    fake.write_text("not a model")
    res = cli("deconvolve", src, "--fs", 30, "--method", "amortized", "--model", fake,
              "--out", tmp_path / "o.npy")
    assert res.exit_code == 2 and "not a calscope model" in res.output
    assert not (tmp_path / "o.npy").exists()
    res = cli("train", src, "--fs", 30, "--out", tmp_path / "m.npy")
    assert res.exit_code == 2 and ".pt" in res.output
    res = cli("deconvolve", src, "--fs", 30, "--method", "oasis", "--model", fake,
              "--out", tmp_path / "o.npy")
    assert res.exit_code == 2 and "--method amortized" in res.output


def test_train_on_upsampled_traces_trains_at_their_native_rate(cli, tmp_path):
    from scipy import signal

    from calscope.infer import amortized

    low = simulate.traces(3, 1200, 7.8, seed=4).fluorescence.astype(np.float64)
    np.save(tmp_path / "up.npy", signal.resample(low, 15385, axis=1))  # 7.8 → 100 Hz
    res = cli("train", tmp_path / "up.npy", "--fs", 100, "--out", tmp_path / "m.pt",
              "--max-time", 5)
    assert res.exit_code == 0, res.output
    assert "trained at 7." in res.output
    assert amortized.load(tmp_path / "m.pt").fs == pytest.approx(7.8, rel=0.02)
    res = cli("deconvolve", tmp_path / "up.npy", "--fs", 100, "--method", "amortized",
              "--model", tmp_path / "m.pt", "--out", tmp_path / "s.npy")
    assert res.exit_code == 0, res.output
    assert np.load(tmp_path / "s.npy").shape == (3, 15385)
    res = cli("train", tmp_path / "up.npy", "--fs", 100, "--native-fs", 100, "--out",
              tmp_path / "plain.pt", "--max-time", 5)
    assert res.exit_code == 0 and amortized.load(tmp_path / "plain.pt").fs == 100.0


def test_a_bad_or_absent_device_is_refused_before_any_work(cli, traces_file, tmp_path):
    src, _ = traces_file
    res = cli("train", src, "--fs", 30, "--method", "amortized", "--device", "tpu",
              "--out", tmp_path / "m.pt")
    assert res.exit_code == 2 and "not a device name" in res.output
    if not torch.cuda.is_available():
        res = cli("deconvolve", src, "--fs", 30, "--method", "amortized", "--device", "cuda",
                  "--out", tmp_path / "s.npy")
        assert res.exit_code == 2 and "device 'cuda'" in res.output
    assert [p.name for p in tmp_path.iterdir()] == ["traces.npy"]

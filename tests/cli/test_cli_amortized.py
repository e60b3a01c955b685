"""The command line for the amortized method: train, deconvolve with and without --model."""

import numpy as np
from typer.testing import CliRunner

from calscope import simulate
from calscope.cli import app
from calscope.config import AmortizedSettings, Settings

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _traces(tmp_path):
    sim = simulate.traces(3, 900, 30.0, indicator="GCaMP6f", seed=2)
    y = sim.fluorescence.copy()
    y[1, -30:] = np.nan  # padding
    path = tmp_path / "traces.npy"
    np.save(path, y)
    return path, y


def test_train_then_deconvolve_with_the_model(tmp_path):
    src, y = _traces(tmp_path)
    model = tmp_path / "model.pt"
    res = _run("train", src, "--fs", 30, "--method", "amortized", "--out", model,
               "--max-time", 3)
    assert res.exit_code == 0, res.output
    assert model.is_file()
    out = tmp_path / "spikes.npz"
    res = _run("deconvolve", src, "--fs", 30, "--method", "amortized", "--model", model,
               "--samples", 3, "--out", out)
    assert res.exit_code == 0, res.output
    with np.load(out) as z:
        assert z["spikes"].shape == y.shape and z["samples"].shape == (3, *y.shape)
        assert np.array_equal(np.isnan(z["spikes"]), np.isnan(y))
        assert "params_tau_decay_s" in z and z["rows"].tolist() == [0, 1, 2]


def test_deconvolve_trains_on_the_input_without_a_model(tmp_path):
    src, y = _traces(tmp_path)
    config = tmp_path / "settings.yaml"
    config.write_text(Settings(amortized=AmortizedSettings(max_epochs=2)).to_yaml())
    out = tmp_path / "spikes.npy"
    res = _run("deconvolve", src, "--fs", 30, "--method", "amortized", "--config", config,
               "--out", out)
    assert res.exit_code == 0, res.output
    assert np.load(out).shape == y.shape


def test_amortized_bad_input(tmp_path):
    src, _ = _traces(tmp_path)
    fake = tmp_path / "fake.pt"
    fake.write_text("not a model")
    res = _run("deconvolve", src, "--fs", 30, "--method", "amortized", "--model", fake,
               "--out", tmp_path / "o.npy")
    assert res.exit_code == 2 and "not a calscope model" in res.output
    assert not (tmp_path / "o.npy").exists()
    res = _run("train", src, "--fs", 30, "--out", tmp_path / "m.npy")
    assert res.exit_code == 2 and ".pt" in res.output
    res = _run("deconvolve", src, "--fs", 30, "--model", fake, "--out", tmp_path / "o.npy")
    assert res.exit_code == 2 and "--method amortized" in res.output

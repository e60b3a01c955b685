"""The command line for the supervised method: train on ground truth, deconvolve with the
shipped model and with a trained one, and the errors of bad calls."""

import json

import numpy as np
import pytest
import torch

import calscope
from calscope.config import Settings, SupervisedSettings
from calscope.io import write_cascade_neuron


def _tiny_settings(path):
    """A settings file for a network trained in seconds."""
    tiny = SupervisedSettings(channels=8, dilations=(1, 2, 4), epochs=1, windows_per_epoch=32,
                              batch_windows=16, simulated_minutes=0.0)
    path.write_text(Settings(supervised=tiny).to_yaml())
    return path


def test_deconvolve_with_the_shipped_model(cli, traces_file, tmp_path):
    src, y = traces_file
    out = tmp_path / "spikes.npz"
    res = cli("deconvolve", src, "--fs", 30, "--method", "supervised", "--out", out)
    assert res.exit_code == 0, res.output
    assert "supervised network: the shipped excitatory model, on " in res.output
    with np.load(out) as z:
        assert z["spikes"].shape == z["lower"].shape == z["upper"].shape == y.shape
        assert np.array_equal(np.isnan(z["spikes"]), np.isnan(y))
        assert "params_sn" in z and "calcium" not in z


def test_supervised_is_the_default_method_and_oasis_settings_ask_for_oasis(cli, traces_file,
                                                                         tmp_path):
    from calscope.infer import supervised

    src, y = traces_file
    out = tmp_path / "spikes.npy"
    res = cli("deconvolve", src, "--fs", 30, "--out", out)
    assert res.exit_code == 0 and "supervised network: the shipped" in res.output, res.output
    np.testing.assert_allclose(np.load(out), supervised.load().infer(y, 30.0).spikes,
                               rtol=1e-4, atol=1e-6)
    for option in (["--order", "1"], ["--penalty", "l0"], ["--lam", "0.1"], ["--optimize-g"]):
        res = cli("deconvolve", src, "--fs", 30, *option, "--out", tmp_path / "x.npy")
        assert res.exit_code == 2 and f"{option[0]}: settings of --method oasis" in res.output
        assert "add --method oasis" in res.output and not (tmp_path / "x.npy").exists()
    res = cli("deconvolve", src, "--fs", 30, "--method", "oasis", "--order", "1", "--out", out)
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(out), calscope.deconvolve(y, 30.0, order=1).spikes,
                               rtol=1e-4, atol=1e-6)


def test_train_on_ground_truth_then_deconvolve_with_it(cli, traces_file, shared_data,
                                                        tmp_path):
    config = _tiny_settings(tmp_path / "settings.yaml")
    root = shared_data / "ground_truth" / "cascade"
    keep = {"DS23", "DS20"}  # the smallest folder, and an excitatory one: leave all others out
    others = ",".join(sorted({d.name[:4] for d in root.iterdir() if d.is_dir()} - keep))
    model = tmp_path / "model.pt"
    res = cli("train", "--method", "supervised", "--ground-truth", root, "--exclude", others,
              "--cell-type", "inhibitory", "--config", config, "--device", "cpu", "--out", model)
    assert res.exit_code == 0, res.output
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["datasets"] == ["DS23-OGB1-m-PV-V1"] and card["epochs"] == 1  # DS20: excitatory
    assert card["cell_type"] == "inhibitory"
    assert "calscope train --method supervised" in card["training_command"]
    assert "--cell-type inhibitory --device cpu" in card["training_command"]
    assert card["train_device"] == "cpu"
    assert not model.with_name(model.name + ".ckpt").exists()
    src, y = traces_file
    out = tmp_path / "spikes.npy"
    res = cli("deconvolve", src, "--fs", 30, "--method", "supervised", "--model", model,
              "--out", out)
    assert res.exit_code == 0, res.output
    assert np.load(out).shape == y.shape


def test_train_on_own_ground_truth_written_in_cascade_layout(cli, tmp_path):
    """A lab's own ground truth (here simulated), written by `write_cascade_neuron`, trains a
    model with no shared data at all."""
    root = tmp_path / "my_ground_truth"
    sim = calscope.simulate.traces(3, 1800, 30.0, indicator="GCaMP6f", seed=5)
    for i in range(3):
        frames = np.repeat(np.arange(sim.spikes.shape[1]), sim.spikes[i])
        write_cascade_neuron(root / "DS90-GCaMP6f-sim" / f"cell{i}.mat",
                             [(sim.fluorescence[i], 30.0, (frames + 0.5) / 30.0)])
    model = tmp_path / "model.pt"
    res = cli("train", "--method", "supervised", "--ground-truth", root,
              "--config", _tiny_settings(tmp_path / "settings.yaml"), "--out", model)
    assert res.exit_code == 0, res.output
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["datasets"] == ["DS90-GCaMP6f-sim"] and card["cell_type"] == "excitatory"


def test_a_ground_truth_folder_of_the_wrong_shape_is_explained(cli, tmp_path):
    root = tmp_path / "gt"
    write_cascade_neuron(root / "DS90-mine" / "cell.mat",
                         [(np.sin(np.arange(300) / 9.0), 30.0, [1.0, 5.0])])
    (tmp_path / "empty").mkdir()
    for where, extra, message in [
            (root / "DS90-mine", [], "holds .mat files itself; pass the folder above it"),
            (tmp_path / "empty", [], "no dataset folders with .mat files"),
            (root, ["--exclude", "DS90"], "none of its 1 dataset folders is left"),
            (root, ["--cell-type", "inhibitory"], "cell type 'inhibitory'")]:
        res = cli("train", "--method", "supervised", "--ground-truth", where, *extra,
                  "--out", tmp_path / "m.pt")
        assert res.exit_code == 2 and message in " ".join(res.output.split()), res.output
    assert not (tmp_path / "m.pt").exists()


def test_bad_calls_fail_with_a_message(cli, traces_file, tmp_path):
    src, _ = traces_file
    res = cli("train", src, "--method", "supervised", "--out", tmp_path / "m.pt")
    assert res.exit_code == 2 and "--ground-truth" in res.output
    res = cli("train", "--method", "supervised", "--ground-truth", tmp_path / "none",
              "--out", tmp_path / "m.pt")
    assert res.exit_code == 2 and "no such folder" in res.output
    res = cli("deconvolve", src, "--fs", 0.5, "--method", "supervised", "--out",
              tmp_path / "s.npy")
    assert res.exit_code == 2 and "outside" in res.output
    assert not (tmp_path / "s.npy").exists()
    res = cli("deconvolve", src, "--fs", 30, "--method", "supervised", "--samples", 3,
              "--out", tmp_path / "s.npy")
    assert res.exit_code == 2 and "--samples" in res.output
    res = cli("deconvolve", src, "--fs", 30, "--method", "supervised", "--oasis-blend", 1.5,
              "--out", tmp_path / "s.npy")
    assert res.exit_code == 2 and "--oasis-blend" in res.output
    res = cli("deconvolve", src, "--fs", 30, "--method", "oasis", "--oasis-blend", 0.5,
              "--out", tmp_path / "s.npy")
    assert res.exit_code == 2 and "--oasis-blend" in res.output
    for extra in (["--method", "supervised", "--cell-type", "pyramidal"],
                  ["--method", "oasis", "--cell-type", "excitatory"],
                  ["--method", "supervised", "--cell-type", "excitatory", "--model", src]):
        res = cli("deconvolve", src, "--fs", 30, *extra, "--out", tmp_path / "s.npy")
        assert res.exit_code == 2 and "--cell-type" in res.output, extra
    res = cli("train", src, "--fs", 30, "--cell-type", "excitatory", "--out", tmp_path / "m.pt")
    assert res.exit_code == 2 and "--cell-type" in res.output
    assert not (tmp_path / "s.npy").exists()


def test_cell_type_picks_the_shipped_model_of_that_type(cli, traces_file, tmp_path):
    from calscope.infer import supervised

    src, y = traces_file
    outs = {}
    for cell_type in ("excitatory", "inhibitory"):
        outs[cell_type] = tmp_path / f"{cell_type}.npy"
        res = cli("deconvolve", src, "--fs", 30, "--method", "supervised", "--cell-type",
                  cell_type, "--out", outs[cell_type])
        assert res.exit_code == 0, res.output
        expected = supervised.load(cell_type=cell_type).infer(y, 30.0).spikes
        np.testing.assert_allclose(np.load(outs[cell_type]), expected, rtol=1e-5, atol=1e-7)
    # interneurons fire more spikes per unit of ΔF/F: the inhibitory model counts more
    exc, inh = (np.nansum(np.load(outs[t])) for t in ("excitatory", "inhibitory"))
    assert inh > 1.5 * exc


def test_oasis_blend_mixes_oasis_into_the_shipped_models_output(cli, traces_file, tmp_path):
    src, y = traces_file
    runs = {}
    for weight in ("0", "1"):
        out = tmp_path / f"spikes{weight}.npy"
        res = cli("deconvolve", src, "--fs", 30, "--method", "supervised", "--oasis-blend",
                  weight, "--out", out)
        assert res.exit_code == 0, res.output
        runs[weight] = np.load(out)
    ok = np.isfinite(y)
    # the same expected count per cell; at w = 1 the sparse OASIS solution (spread by ±1
    # frame in the default geometric form): fewer frames above 1% of the cell's peak
    np.testing.assert_allclose(np.nansum(runs["1"], axis=1), np.nansum(runs["0"], axis=1),
                               rtol=1e-4)

    def active(x):
        return np.mean((x > 0.01 * np.nanmax(x, axis=1, keepdims=True))[ok])

    assert active(runs["1"]) < 0.7 * active(runs["0"])


def test_oasis_blend_form_is_the_python_setting(cli, traces_file, tmp_path):
    from calscope.infer import supervised

    src, y = traces_file
    outs = {}
    for form in ("linear", "geometric"):
        outs[form] = tmp_path / f"{form}.npy"
        res = cli("deconvolve", src, "--fs", 30, "--method", "supervised", "--oasis-blend", 0.6,
                  "--oasis-blend-form", form, "--out", outs[form])
        assert res.exit_code == 0, res.output
    geometric = np.load(outs["geometric"])
    expected = supervised.load().with_oasis_blend(0.6, "geometric").infer(y, 30.0).spikes
    np.testing.assert_allclose(geometric, expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(geometric, np.load(outs["linear"]), equal_nan=True)
    for extra in (["--method", "supervised", "--oasis-blend-form", "harmonic"],
                  ["--method", "oasis", "--oasis-blend-form", "geometric"]):
        res = cli("deconvolve", src, "--fs", 30, *extra, "--out", tmp_path / "bad.npy")
        assert res.exit_code == 2 and "--oasis-blend-form" in res.output, extra
    assert not (tmp_path / "bad.npy").exists()


def _suite2p_folder(tmp_path, y):
    """A Suite2p plane folder whose F is raw fluorescence: 400 + 200 · ΔF/F, all ROIs cells."""
    folder = tmp_path / "plane0"
    folder.mkdir()
    np.save(folder / "F.npy", (400.0 + 200.0 * y).astype(np.float32))
    np.save(folder / "iscell.npy", np.ones((y.shape[0], 2)))
    return folder


def test_suite2p_fluorescence_becomes_dff_for_the_supervised_network(cli, traces_file,
                                                                     tmp_path):
    from calscope.extract import delta_f_over_f
    from calscope.infer import supervised

    _, y = traces_file
    y = y[:, :-30]  # Suite2p traces have no padding
    folder = _suite2p_folder(tmp_path, y)
    out = tmp_path / "spikes.npy"
    res = cli("deconvolve", folder, "--fs", 30, "--method", "supervised", "--out", out)
    assert res.exit_code == 0, res.output
    assert "ΔF/F computed from Suite2p" in res.output and "far above" not in res.output
    raw = np.load(folder / "F.npy")
    expected = supervised.load().infer(delta_f_over_f(raw, 30.0), 30.0).spikes
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-4, atol=1e-6)
    # --no-dff hands the raw fluorescence on, and the network warns about it
    res = cli("deconvolve", folder, "--fs", 30, "--method", "supervised", "--no-dff", "--out", out)
    assert res.exit_code == 0 and "far above" in res.output, res.output


def test_dff_flag_converts_any_input_and_oasis_keeps_raw_units_without_it(cli, traces_file,
                                                                         tmp_path):
    import calscope
    from calscope.extract import delta_f_over_f

    _, y = traces_file
    raw = (400.0 + 200.0 * y).astype(np.float32)
    src = tmp_path / "raw.npy"
    np.save(src, raw)
    out = tmp_path / "spikes.npy"
    assert cli("deconvolve", src, "--fs", 30, "--method", "oasis", "--dff",
               "--out", out).exit_code == 0
    np.testing.assert_allclose(np.load(out), calscope.deconvolve(delta_f_over_f(raw, 30.0),
                                                                  30.0).spikes,
                               rtol=1e-4, atol=1e-6)
    folder = _suite2p_folder(tmp_path, y[:, :-30])
    assert cli("deconvolve", folder, "--fs", 30, "--method", "oasis", "--out", out).exit_code == 0
    assert np.nanmax(np.load(out)) > 10  # OASIS of raw F: spikes in fluorescence units


def test_device_option_runs_on_the_cpu_and_is_checked_before_any_work(cli, traces_file,
                                                                      tmp_path):
    src, y = traces_file
    out = tmp_path / "spikes.npy"
    res = cli("deconvolve", src, "--fs", 30, "--method", "supervised", "--device", "cpu",
              "--out", out)
    assert res.exit_code == 0, res.output
    assert np.load(out).shape == y.shape
    for command, out_path in (("deconvolve", tmp_path / "x.npy"), ("analyze", tmp_path / "a")):
        res = cli(command, src, "--fs", 30, "--method", "oasis", "--device", "cpu", "--out",
                  out_path)  # oasis: no network
        assert res.exit_code == 2 and "--device" in res.output, command
    assert not (tmp_path / "a").exists() and not (tmp_path / "x.npy").exists()
    res = cli("deconvolve", src, "--fs", 30, "--method", "supervised", "--device", "tpu",
              "--out", tmp_path / "x.npy")
    assert res.exit_code == 2 and "not a device name" in res.output
    assert not (tmp_path / "x.npy").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_a_cuda_device_on_a_machine_without_one_fails_fast(cli, traces_file, shared_data,
                                                           tmp_path):
    src, _ = traces_file
    res = cli("deconvolve", src, "--fs", 30, "--method", "supervised", "--device", "cuda",
              "--out", tmp_path / "s.npy")
    assert res.exit_code == 2 and "device 'cuda'" in res.output
    res = cli("train", "--method", "supervised", "--ground-truth",
              shared_data / "ground_truth" / "cascade", "--device", "cuda",
              "--out", tmp_path / "m.pt")
    assert res.exit_code == 2 and "device 'cuda'" in res.output
    assert not list(tmp_path.glob("*.pt*")) and not (tmp_path / "s.npy").exists()

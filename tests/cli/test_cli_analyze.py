"""`calscope analyze` and `calscope report`: round trips on simulated and real inputs."""

import numpy as np
import pytest

from calscope import simulate
from calscope.io.bundle import read_bundle

FAST = "population:\n  sort: pc1\n  n_surrogates: 20\n  n_shuffles: 3\n"


@pytest.fixture
def fast_config(tmp_path):
    path = tmp_path / "fast.yaml"
    path.write_text(FAST)
    return path


def _outputs_complete(out):
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    return (out / "results.npz").is_file() and (out / "report.html").is_file() and figures


def test_analyze_infers_spikes_and_writes_results_report_and_figures(cli, tmp_path, fast_config):
    sim = simulate.traces(12, 1800, 30.0, indicator="GCaMP6f", seed=4)
    y = sim.fluorescence.copy()
    y[5] = np.nan  # a dead row is carried, not dropped
    np.save(tmp_path / "t.npy", y)
    out = tmp_path / "an"
    res = cli("analyze", tmp_path / "t.npy", "--fs", 30, "--out", out, "--config", fast_config)
    assert res.exit_code == 0, res.output
    assert _outputs_complete(out)
    arrays, meta = read_bundle(out / "results.npz")
    assert arrays["spikes"].shape == (12, 1800) and np.isnan(arrays["spikes"][5]).all()
    assert arrays["coupling"].shape == (12, 1800)
    assert meta["method"] == "supervised" and meta["usable_cells"] == 11  # the default
    assert "field of view" in meta["skipped"]  # a plain array has no footprints
    html = (out / "report.html").read_text()
    assert "field of view" in html and "12" in html
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_report_re_renders_from_the_results_alone(cli, tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "s.npy", rng.poisson(0.1, (8, 900)).astype(np.float32))
    out = tmp_path / "an"
    isi_config = tmp_path / "isi.yaml"
    isi_config.write_text(FAST + "  surrogates: isi\n")
    assert cli("analyze", tmp_path / "s.npy", "--fs", 30, "--spikes", "--out", out,
               "--config", isi_config).exit_code == 0
    assert "ISI-shuffle surrogates" in (out / "report.html").read_text()
    (out / "report.html").unlink()
    res = cli("report", out, "--out", tmp_path / "again.html")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "again.html").read_text().count("data:image/png;base64,") >= 4
    res = cli("report", out, "--format", "png", "--out", tmp_path / "pngs" / "report.html")
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "pngs" / "figures").glob("*.png"))) >= 4
    res = cli("report", out, "--format", "png", "--out", tmp_path / "figs")  # a folder
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "figs" / "figures").glob("*.png"))) >= 4
    assert not (tmp_path / "figs" / "report.html").exists()
    res = cli("report", out, "--out", tmp_path / "page.pdf")
    assert res.exit_code == 2 and "ending in .html" in res.output


def test_analyze_a_real_suite2p_folder_shows_its_field_of_view(cli, tmp_path, shared_data,
                                                               fast_config):
    folder = shared_data / "suite2p_output" / "inscopix_1p"
    out = tmp_path / "s2p"
    res = cli("analyze", folder, "--fs", 10, "--out", out, "--config", fast_config)
    assert res.exit_code == 0, res.output
    arrays, meta = read_bundle(out / "results.npz")
    assert arrays["fov_labels"].max() == arrays["spikes"].shape[0] == 20  # iscell ROIs
    assert any("ΔF/F computed" in n for n in meta["notes"])
    assert (out / "figures" / "fov.png").is_file()


def test_bad_analyze_input_gives_one_line_errors_and_no_output(cli, tmp_path, fast_config):
    np.save(tmp_path / "one.npy", np.random.default_rng(0).random((1, 500)))
    res = cli("analyze", tmp_path / "one.npy", "--fs", 30, "--out", tmp_path / "o",
              "--spikes", "--config", fast_config)
    assert res.exit_code == 2 and "at least 2" in res.output
    assert not (tmp_path / "o" / "results.npz").exists()
    res = cli("report", tmp_path / "nothing")
    assert res.exit_code == 2 and "calscope analyze" in res.output
    res = cli("analyze", tmp_path / "one.npy", "--fs", 30, "--out", tmp_path / "o",
              "--method", "magic")
    assert res.exit_code == 2 and "unknown method" in res.output
    res = cli("analyze", tmp_path / "one.npy", "--fs", 30, "--out", tmp_path / "o",
              "--method", "oasis", "--cell-type", "inhibitory")
    assert res.exit_code == 2 and "--cell-type" in res.output


def test_analyze_with_the_supervised_model_of_a_cell_type_says_which(cli, tmp_path,
                                                                     fast_config):
    y = simulate.traces(8, 1800, 30.0, indicator="GCaMP6f", seed=6).fluorescence
    np.save(tmp_path / "t.npy", y)
    out = tmp_path / "an"
    res = cli("analyze", tmp_path / "t.npy", "--fs", 30, "--out", out, "--method",
              "supervised", "--cell-type", "inhibitory", "--config", fast_config)
    assert res.exit_code == 0, res.output
    arrays, meta = read_bundle(out / "results.npz")
    assert meta["method"] == "supervised"
    assert "supervised model of inhibitory cells" in " ".join(meta["notes"])


def test_analyze_converts_raw_fluorescence_to_dff_when_asked(cli, tmp_path, fast_config):
    y = simulate.traces(8, 1800, 30.0, indicator="GCaMP6f", seed=6).fluorescence
    np.save(tmp_path / "raw.npy", (400.0 + 200.0 * y).astype(np.float32))
    out = tmp_path / "an"
    res = cli("analyze", tmp_path / "raw.npy", "--fs", 30, "--out", out, "--method",
              "supervised", "--dff", "--config", fast_config)
    assert res.exit_code == 0 and "far above" not in res.output, res.output
    _, meta = read_bundle(out / "results.npz")
    assert "ΔF/F computed from the input fluorescence" in " ".join(meta["notes"])
    res = cli("analyze", tmp_path / "raw.npy", "--fs", 30, "--out", tmp_path / "o", "--spikes",
              "--dff", "--config", fast_config)
    assert res.exit_code == 2 and "--dff" in res.output


def test_analyze_with_stimulus_labels_tests_noise_correlations(cli, tmp_path, fast_config):
    # Two neurons share only their stimulus tuning: their signal correlation is large, their
    # noise correlation (the contract of --stimulus) is near 0.
    rng = np.random.default_rng(3)
    stimulus = np.repeat(rng.integers(0, 4, size=90), 20)  # 90 trials of 20 frames
    tuning = np.array([0.0, 2.0, 4.0, 1.0])
    activity = np.vstack([tuning[stimulus] + rng.random((2, stimulus.size)),
                          rng.random((2, stimulus.size))]).astype(np.float32)
    np.save(tmp_path / "a.npy", activity)
    (tmp_path / "stim.csv").write_text("label\n" + "\n".join(map(str, stimulus)) + "\n")
    out = tmp_path / "noise"
    res = cli("analyze", tmp_path / "a.npy", "--fs", 30, "--spikes", "--out", out,
              "--stimulus", tmp_path / "stim.csv", "--config", fast_config)
    assert res.exit_code == 0, res.output
    arrays, meta = read_bundle(out / "results.npz")
    assert np.array_equal(arrays["stimulus"], stimulus)
    assert abs(arrays["corr_r"][0, 1]) < 0.15
    assert "noise correlations" in meta["correlation_test"]
    assert "noise correlations" in (out / "report.html").read_text()
    plain = tmp_path / "plain"
    assert cli("analyze", tmp_path / "a.npy", "--fs", 30, "--spikes", "--out", plain,
               "--config", fast_config).exit_code == 0
    assert read_bundle(plain / "results.npz")[0]["corr_r"][0, 1] > 0.8


def test_bad_stimulus_files_are_refused_before_anything_is_written(cli, tmp_path, fast_config):
    np.save(tmp_path / "a.npy", np.random.default_rng(0).random((3, 600)))
    np.save(tmp_path / "short.npy", np.zeros(599, int))
    (tmp_path / "half.txt").write_text(" ".join(["0.5"] * 600))
    cases = [(tmp_path / "short.npy", "(600,) integer labels"),
             (tmp_path / "half.txt", "not whole numbers"),
             (tmp_path / "missing.csv", "no such stimulus file")]
    for path, message in cases:
        res = cli("analyze", tmp_path / "a.npy", "--fs", 30, "--spikes", "--out", tmp_path / "o",
                  "--stimulus", path, "--config", fast_config)
        assert res.exit_code == 2 and message in res.output, res.output
        assert str(path.name) in res.output
    assert not (tmp_path / "o").exists()


def test_analyze_can_store_results_in_zarr_and_report_reads_them(cli, tmp_path, fast_config):
    rng = np.random.default_rng(2)
    np.save(tmp_path / "s.npy", rng.poisson(0.1, (6, 900)).astype(np.float32))
    out = tmp_path / "an"
    res = cli("analyze", tmp_path / "s.npy", "--fs", 30, "--spikes", "--out", out,
              "--store", "zarr", "--config", fast_config)
    assert res.exit_code == 0, res.output
    assert (out / "calscope.zarr" / "population").is_dir() and not (out / "results.npz").exists()
    arrays, meta = read_bundle(out / "calscope.zarr")
    np.testing.assert_array_equal(arrays["spikes"], np.load(tmp_path / "s.npy"))
    assert meta["frames"] == 900
    (out / "report.html").unlink()
    assert cli("report", out).exit_code == 0 and (out / "report.html").is_file()
    res = cli("analyze", tmp_path / "s.npy", "--fs", 30, "--spikes", "--out", out,
              "--store", "hdf5")
    assert res.exit_code == 2 and "--store" in res.output



def test_analyze_notes_a_native_rate_below_fs(cli, tmp_path, fast_config):
    from scipy import signal

    low = simulate.traces(6, 2400, 7.8, seed=4).fluorescence.astype(np.float64)
    np.save(tmp_path / "up.npy", signal.resample(low, 30769, axis=1))  # 7.8 → 100 Hz
    res = cli("analyze", tmp_path / "up.npy", "--fs", 100, "--out", tmp_path / "a",
              "--config", fast_config)
    assert res.exit_code == 0, res.output
    assert "treated as recorded at 7." in (tmp_path / "a" / "report.html").read_text()

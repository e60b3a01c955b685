"""The command line: round-trips for every trace format, errors, config, demo."""

import json

import numpy as np
import pytest
import scipy.io
from typer.testing import CliRunner

import calscope
from calscope import simulate
from calscope.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def sim():
    return simulate.traces(4, 600, 30.0, g=[0.95], sn=0.2, amplitude=1.0, seed=3)


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _oasis(*args):
    """`calscope deconvolve ARGS --method oasis` (the CLI's default method is supervised)."""
    return _run("deconvolve", *args, "--method", "oasis")


def _no_leftovers(folder):
    return not [p for p in folder.iterdir() if ".tmp-" in p.name]


def test_version_and_help():
    out = _run("--version")
    assert out.exit_code == 0 and calscope.__version__ in out.output
    out = _run("--help")
    assert out.exit_code == 0 and "deconvolve" in out.output and "demo" in out.output
    out = _run("deconvolve", "--help")
    assert "--penalty" in out.output and "--order" in out.output


def test_config_show_round_trips(tmp_path):
    out = _run("config", "--show")
    assert out.exit_code == 0
    assert calscope.Settings.from_yaml(out.output) == calscope.Settings()
    (tmp_path / "s.yaml").write_text("deconv:\n  order: 1\n")
    out = _run("config", "--config", tmp_path / "s.yaml")
    assert "order: 1" in out.output


def test_oasis_settings_come_from_the_config_unless_given(tmp_path, sim):
    y = sim.fluorescence.astype(np.float64)
    np.save(tmp_path / "in.npy", y)
    (tmp_path / "s.yaml").write_text("deconv:\n  order: 1\n  penalty: l0\n")
    out = _oasis(tmp_path / "in.npy", "--fs", 30, "--config", tmp_path / "s.yaml",
                 "--out", tmp_path / "c.npy")
    assert out.exit_code == 0, out.output
    np.testing.assert_allclose(np.load(tmp_path / "c.npy"),
                               calscope.deconvolve(y, 30.0, order=1, penalty="l0").spikes,
                               rtol=1e-4, atol=1e-5)
    out = _oasis(tmp_path / "in.npy", "--fs", 30, "--config", tmp_path / "s.yaml",
                 "--order", 2, "--out", tmp_path / "o.npy")
    assert out.exit_code == 0, out.output
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"),
                               calscope.deconvolve(y, 30.0, order=2, penalty="l0").spikes,
                               rtol=1e-4, atol=1e-5)


def _write_input(fmt, path, y):
    if fmt == "npy":
        np.save(path, y)
    elif fmt == "csv":
        lines = [",".join(str(i) for i in range(len(y)))]
        for t in range(y.shape[1]):
            lines.append(",".join("" if np.isnan(v) else repr(float(v)) for v in y[:, t]))
        path.write_text("\n".join(lines) + "\n")
    elif fmt == "mat":
        scipy.io.savemat(path, {"dF_traces": y})


@pytest.mark.parametrize("fmt", ["npy", "csv", "mat"])
@pytest.mark.parametrize("out_fmt", ["npy", "csv", "npz"])
def test_deconvolve_round_trip(tmp_path, sim, fmt, out_fmt):
    y = sim.fluorescence.astype(np.float64).copy()
    y[1, -100:] = np.nan          # padding, as in Spikefinder files
    y[2, 200:210] = np.nan        # an interior gap
    src = tmp_path / f"in.{fmt}"
    _write_input(fmt, src, y)
    dst = tmp_path / f"out.{out_fmt}"
    out = _oasis(src, "--fs", 30, "--out", dst)
    assert out.exit_code == 0, out.output
    if out_fmt == "npy":
        spikes = np.load(dst)
        assert spikes.dtype == np.float32
    elif out_fmt == "csv":
        spikes = np.genfromtxt(dst, delimiter=",", skip_header=1).T
    else:
        npz = np.load(dst)
        spikes = npz["spikes"]
        assert set(npz.files) >= {"calcium", "spikes", "baseline", "g", "sn", "lam", "rows"}
        np.testing.assert_array_equal(npz["rows"], np.arange(4))
    assert spikes.shape == y.shape
    np.testing.assert_array_equal(np.isnan(spikes), np.isnan(y))
    expected = calscope.deconvolve(y, 30.0).spikes
    np.testing.assert_allclose(spikes, expected, rtol=1e-4, atol=1e-5)
    assert _no_leftovers(tmp_path)


def test_deconvolve_1d_npy_gives_1d_npy(tmp_path, sim):
    y = sim.fluorescence[0].astype(np.float64).copy()
    y[-50:] = np.nan
    y[100:105] = np.nan
    np.save(tmp_path / "in.npy", y)
    out = _oasis(tmp_path / "in.npy", "--fs", 30, "--out", tmp_path / "out.npy")
    assert out.exit_code == 0, out.output
    spikes = np.load(tmp_path / "out.npy")
    assert spikes.shape == y.shape and spikes.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(spikes), np.isnan(y))
    np.testing.assert_allclose(spikes, calscope.deconvolve(y, 30.0).spikes, rtol=1e-4, atol=1e-5)
    assert _no_leftovers(tmp_path)


def test_suite2p_folder_needs_fs(tmp_path, sim):
    folder = tmp_path / "plane0"
    folder.mkdir()
    np.save(folder / "F.npy", sim.fluorescence + 10)
    np.save(folder / "iscell.npy", np.array([[1, 0.9], [0, 0.1], [1, 0.8], [1, 0.7]]))
    out = _run("deconvolve", folder, "--out", tmp_path / "s.npz")
    assert out.exit_code != 0 and "--fs" in out.output
    out = _run("deconvolve", folder, "--fs", 30, "--out", tmp_path / "s.npz")
    assert out.exit_code == 0, out.output
    np.testing.assert_array_equal(np.load(tmp_path / "s.npz")["rows"], [0, 2, 3])


@pytest.mark.parametrize("args, match", [
    (["missing.npy", "--fs", "30"], "no such file"),
    (["in.npy", "--fs", "0"], "fs"),
    (["in.npy", "--fs", "-5"], "fs"),
    (["in.npy", "--fs", "30", "--lam", "-1"], "lam"),
    (["in.npy", "--fs", "30", "--order", "3"], "order"),
    (["in.npy", "--fs", "30", "--method", "magic"], "method"),
    (["in.npy", "--fs", "30", "--penalty", "l5"], "penalty"),
    (["in.txt", "--fs", "30"], "in.txt"),
    (["empty.npy", "--fs", "30"], "empty.npy"),
    (["cube.npy", "--fs", "30"], "3"),
    (["short.npy", "--fs", "30"], "samples"),
    (["flat.npy", "--fs", "30"], "constant"),
    (["words.csv", "--fs", "30"], "words.csv"),
])
def test_bad_input_one_line_no_output(tmp_path, sim, args, match):
    np.save(tmp_path / "in.npy", sim.fluorescence)
    (tmp_path / "in.txt").write_text("1 2 3")
    (tmp_path / "empty.npy").write_bytes(b"")
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 40)))
    np.save(tmp_path / "short.npy", np.ones((2, 5)))
    np.save(tmp_path / "flat.npy", np.ones((2, 50)))
    (tmp_path / "words.csv").write_text("a,b\n1,x\n2,3\n")
    dst = tmp_path / "result.npy"
    out = runner.invoke(app, ["deconvolve", *[str(tmp_path / a) if i == 0 else a
                                              for i, a in enumerate(args)], "--out", str(dst)])
    assert out.exit_code != 0
    assert match.lower() in out.output.lower()
    assert "Traceback" not in out.output
    assert not dst.exists() and _no_leftovers(tmp_path)


def test_bad_row_warns_and_rest_processed(tmp_path, sim):
    y = sim.fluorescence.astype(np.float64).copy()
    y[2] = 0.5
    np.save(tmp_path / "in.npy", y)
    out = _oasis(tmp_path / "in.npy", "--fs", 30, "--out", tmp_path / "s.npy")
    assert out.exit_code == 0 and "row 2" in out.output
    spikes = np.load(tmp_path / "s.npy")
    assert np.isnan(spikes[2]).all() and np.isfinite(spikes[[0, 1, 3]]).all()


def test_demo_runs_and_ends_with_the_report(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("simulate:\n  n_cells: 24\n  duration_s: 120\n  n_assemblies: 2\n"
                   "  assembly_size: 8\npopulation:\n  sort: pc1\n  n_surrogates: 20\n"
                   "  n_shuffles: 3\n")
    out = _run("demo", "--out", tmp_path / "demo", "--config", cfg)
    assert out.exit_code == 0, out.output
    scores = json.loads((tmp_path / "demo" / "summary.json").read_text())["scores"]
    assert scores["cells"] == 24 and scores["spike_correlation_median"] > 0.6
    assert scores["assemblies_planted"] == scores["assemblies_found"] == 2
    assert scores["assembly_membership_match"] > 0.8
    assert np.load(tmp_path / "demo" / "spikes.npy").shape == (24, 3600)
    assert (tmp_path / "demo" / "report.html").is_file() and "report.html" in out.output
    assert (tmp_path / "demo" / "figures" / "assemblies.png").is_file()


def test_demo_without_room_for_assemblies_plants_none(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("simulate:\n  n_cells: 6\n  duration_s: 60\npopulation:\n  sort: pc1\n"
                   "  n_surrogates: 20\n  n_shuffles: 3\n")
    out = _run("demo", "--out", tmp_path / "demo", "--config", cfg)
    assert out.exit_code == 0, out.output
    scores = json.loads((tmp_path / "demo" / "summary.json").read_text())["scores"]
    assert scores["cells"] == 6 and scores["assemblies_planted"] == 0
    assert scores["spike_correlation_median"] > 0.6


def test_bad_rows_numbered_in_the_whole_input_even_across_chunks(tmp_path, monkeypatch, sim):
    import calscope.cli.spikes as cli

    monkeypatch.setattr(cli, "CHUNK_CELLS", 2)
    y = np.vstack([sim.fluorescence, np.full((2, 600), np.nan)])  # rows 4, 5: a whole chunk
    y[1] = 0.5  # constant
    np.save(tmp_path / "t.npy", y)
    res = _oasis(tmp_path / "t.npy", "--fs", 30, "--out", tmp_path / "s.npy")
    assert res.exit_code == 0, res.output
    for row in (1, 4, 5):
        assert f"row {row}:" in res.output
    spikes = np.load(tmp_path / "s.npy")
    assert np.isnan(spikes[[1, 4, 5]]).all() and np.isfinite(spikes[[0, 2, 3]]).all()


def test_upsampled_traces_are_solved_at_their_native_rate(tmp_path):
    from scipy import signal

    low = simulate.traces(3, 2400, 7.8, seed=4).fluorescence.astype(np.float64)
    up = signal.resample(low, 30769, axis=1)  # 7.8 → 100 Hz, band-limited
    np.save(tmp_path / "up.npy", up)
    out = _oasis(tmp_path / "up.npy", "--fs", 100, "--out", tmp_path / "s.npz")
    assert out.exit_code == 0, out.output
    assert "treated as recorded at 7.8" in out.output or "recorded at 7.79" in out.output
    saved = np.load(tmp_path / "s.npz")
    direct = calscope.deconvolve(up, 100.0)
    assert float(saved["native_fs"]) == pytest.approx(direct.native_fs)
    np.testing.assert_allclose(saved["spikes"], direct.spikes, rtol=1e-4, atol=1e-5)
    out = _oasis(tmp_path / "up.npy", "--fs", 100, "--native-fs", 100, "--out",
                 tmp_path / "plain.npz")
    assert out.exit_code == 0 and "treated as" not in out.output
    assert float(np.load(tmp_path / "plain.npz")["native_fs"]) == 100.0
    out = _oasis(tmp_path / "up.npy", "--fs", 100, "--native-fs", 200, "--out",
                 tmp_path / "bad.npz")
    assert out.exit_code != 0 and "native_fs=200" in out.output
    assert not (tmp_path / "bad.npz").exists()

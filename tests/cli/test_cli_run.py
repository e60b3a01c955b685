"""`calscope run`: a moving simulated movie to cells, spikes, analysis and report in one
command; finished stages reused by a rerun, redone when their inputs change; a stopped run
leaves no half-written stage."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from calscope import simulate
from calscope.cli import app
from calscope.io import write_movie
from calscope.io.bundle import read_bundle
from calscope.io.sources import read_footprints
from calscope.io.traces import read_traces
from calscope.metrics import match_footprints
from calscope.pipeline.analysis import read_analysis

runner = CliRunner()


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> tuple[simulate.SimulatedMovie, Path]:
    sim = simulate.movie(15, 400, (80, 80), motion_px=2.0, seed=4)
    path = write_movie(tmp_path_factory.mktemp("movie") / "raw.tif", sim.movie, fs=sim.fs)
    return sim, path


def run(movie: Path, out: Path, *extra: str):
    return runner.invoke(app, ["run", str(movie), "--out", str(out), "--cell-radius", "5",
                               "--method", "oasis", *extra])


def fingerprints(out: Path) -> dict[str, str]:
    return {group: read_bundle(out / "calscope.zarr", group=group)[1]["fingerprint"]
            for group in ("motion", "sources")}


def test_run_goes_from_the_movie_to_the_report(recording, tmp_path):
    sim, movie = recording
    out = tmp_path / "out"
    result = run(movie, out)
    assert result.exit_code == 0, result.output
    assert "motion: done" in result.output and "cells: done" in result.output
    store = out / "calscope.zarr"
    assert sorted(p.name for p in store.iterdir() if p.is_dir()) == [
        "motion", "population", "sources"]
    assert (out / "report.html").is_file() and (out / "cells.dff.npy").is_file()
    footprints, arrays, meta = read_footprints(store)
    assert meta["settings"]["border_px"] >= 2  # the strip registration filled
    match = match_footprints(footprints[:, arrays["accepted"]], sim.footprints)
    assert match.f1 >= 0.7, match  # as `register` then `extract` (test_cli_movie)
    analysis = read_analysis(out)
    accepted = int(arrays["accepted"].sum())
    assert analysis.spikes.shape == (accepted, 400) and analysis.fs == sim.fs
    assert analysis.fov_labels.max() == accepted
    np.testing.assert_array_equal(np.load(out / "cells.dff.npy"),
                                  arrays["dff"][arrays["accepted"]])

    described = runner.invoke(app, ["info", str(out)], env={"COLUMNS": "200"})
    assert described.exit_code == 0, described.output
    for said in ("a `calscope run` folder", "a registration", "line offset measured",
                 "cells extracted by CNMF",
                 f"{arrays['accepted'].size} / {accepted}", "a population analysis"):
        assert said in described.output, said

    # the run as a new NWB file: the accepted cells' ΔF/F, spikes and motion, read back
    nwb = runner.invoke(app, ["export-nwb", str(out), "--out", str(tmp_path / "s.nwb"),
                              "--species", "Mus musculus", "--age", "P90D"])
    assert nwb.exit_code == 0, nwb.output
    assert "spikes" in nwb.output and "motion" in nwb.output
    exported = read_traces(tmp_path / "s.nwb")
    assert exported.fs == sim.fs
    np.testing.assert_array_equal(exported.rows, np.flatnonzero(arrays["accepted"]))
    np.testing.assert_allclose(exported.traces, arrays["dff"][arrays["accepted"]], rtol=1e-6)

    # a rerun reuses both stages; another cell radius redoes the cells only
    again = run(movie, out)
    assert again.exit_code == 0, again.output
    assert "motion: reused" in again.output and "cells: reused" in again.output
    before = fingerprints(out)
    smaller = runner.invoke(app, ["run", str(movie), "--out", str(out), "--cell-radius", "4",
                                  "--method", "oasis"])
    assert smaller.exit_code == 0, smaller.output
    assert "motion: reused" in smaller.output and "cells: done" in smaller.output
    after = fingerprints(out)
    assert after["motion"] == before["motion"] and after["sources"] != before["sources"]
    # a changed movie file redoes everything
    os.utime(movie, ns=(movie.stat().st_atime_ns, movie.stat().st_mtime_ns + 10**9))
    changed = run(movie, out)
    assert "motion: done" in changed.output and "cells: done" in changed.output


def test_a_stopped_run_resumes_after_its_last_complete_stage(recording, tmp_path,
                                                             monkeypatch):
    _, movie = recording
    out = tmp_path / "out"
    stages = importlib.import_module("calscope.pipeline.movie")

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(stages, "cnmf", stopped)
        result = run(movie, out)
    assert result.exit_code != 0
    store = out / "calscope.zarr"
    assert [p.name for p in store.iterdir() if p.is_dir()] == ["motion"]  # nothing half-done
    resumed = run(movie, out)
    assert resumed.exit_code == 0, resumed.output
    assert "motion: reused" in resumed.output and "cells: done" in resumed.output


def test_export_nwb_refuses_bad_requests(recording, tmp_path):
    cells = tmp_path / "nothing.npz"
    missing = runner.invoke(app, ["export-nwb", str(cells), "--out", str(tmp_path / "a.nwb")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    for option, value, said in (("--out", str(tmp_path / "a.h5"), "*.nwb"),
                                ("--sex", "X", "M, F, U"),
                                ("--session-start", "yesterday", "ISO 8601")):
        args = ["export-nwb", str(tmp_path), "--out", str(tmp_path / "a.nwb"), option, value]
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and said in result.output, (option, result.output)
    assert not (tmp_path / "a.nwb").exists()


def test_run_refuses_bad_requests_before_any_work(recording, tmp_path):
    sim, movie = recording
    method = runner.invoke(app, ["run", str(movie), "--out", str(tmp_path / "a"),
                                 "--method", "magic"])
    assert method.exit_code == 2 and "--method" in method.output
    assert not (tmp_path / "a").exists()
    (tmp_path / "file").write_text("x")
    folder = run(movie, tmp_path / "file")
    assert folder.exit_code == 2 and "not a folder" in folder.output
    rate = run(write_movie(tmp_path / "raw.npy", sim.movie[:60]), tmp_path / "b")
    assert rate.exit_code == 2 and "--fs" in rate.output
    assert not (tmp_path / "b").exists()
    # too short for cells: refused before the motion is measured
    short = run(write_movie(tmp_path / "short.tif", sim.movie[:20], fs=sim.fs), tmp_path / "c")
    assert short.exit_code == 2 and "at least 50" in short.output
    assert not (tmp_path / "c").exists()

"""`calscope info`: what a movie, traces, cells, a model or a bad file is, as calscope reads
it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from calscope import simulate
from calscope.cli import app
from calscope.infer.supervised import shipped_model
from calscope.io import write_movie

runner = CliRunner()


def info(path: Path) -> str:
    result = runner.invoke(app, ["info", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_info_names_what_each_input_is(tmp_path):
    sim = simulate.movie(4, 60, (24, 32), motion_px=0, seed=0)
    movie = info(write_movie(tmp_path / "m.tif", sim.movie, fs=sim.fs))
    assert "a movie" in movie and "60 × 24 × 32" in movie and "30 Hz" in movie
    np.save(tmp_path / "t.npy", np.random.default_rng(0).normal(size=(3, 100)))
    traces = info(tmp_path / "t.npy")
    assert "traces (npy)" in traces and "3 × 100" in traces and "pass --fs" in traces
    model = info(shipped_model("excitatory"))
    assert "calscope-supervised" in model and "excitatory" in model


def test_info_refuses_what_it_cannot_read(tmp_path):
    missing = runner.invoke(app, ["info", str(tmp_path / "none.tif")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    (tmp_path / "junk.csv").write_text("not, numbers\nx, y\n")
    junk = runner.invoke(app, ["info", str(tmp_path / "junk.csv")])
    assert junk.exit_code == 2 and "neither as a movie nor as traces" in junk.output

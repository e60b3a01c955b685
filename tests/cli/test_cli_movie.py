"""`calscope register` and `calscope extract`: simulated movies in; registered movies, shifts,
cells and their ΔF/F out."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy import ndimage
from typer.testing import CliRunner

from calscope import simulate
from calscope.cli import app
from calscope.io import read_movie, write_movie
from calscope.io.bundle import read_bundle
from calscope.pipeline.analysis import read_analysis

runner = CliRunner()


@pytest.fixture(scope="module")
def moving() -> simulate.SimulatedMovie:
    return simulate.movie(15, 120, (80, 96), motion_px=4.0, seed=2)


def shift_error(found: np.ndarray, truth: np.ndarray) -> float:
    """RMS error (pixels) once the template's own offset (the median difference) is removed."""
    error = found - truth
    return float(np.sqrt(np.mean((error - np.median(error, axis=0)) ** 2)))


def test_register_writes_the_movie_and_its_shifts(tmp_path: Path,
                                                  moving: simulate.SimulatedMovie) -> None:
    source = write_movie(tmp_path / "raw.tif", moving.movie, fs=moving.fs)
    result = runner.invoke(app, ["register", str(source), "--out", str(tmp_path / "reg.h5")])
    assert result.exit_code == 0, result.output
    assert "correlation registered" in result.output
    assert "--bidi-offset" not in result.output  # no line offset to point out
    arrays, meta = read_bundle(tmp_path / "reg.registration.npz")
    assert shift_error(arrays["shifts"], moving.shifts) < 0.2
    assert "block_shifts" in arrays and meta["fs"] == moving.fs
    assert meta["metrics"]["crispness_registered"] > meta["metrics"]["crispness_raw"]
    with read_movie(tmp_path / "reg.h5") as registered:
        assert registered.shape == moving.movie.shape and registered.fs == moving.fs
        frames = registered[:]
    # registered frames agree with one another far better than the moving ones
    inner = (slice(None), slice(8, -8), slice(8, -8))
    assert frames[inner].std(axis=0).mean() < 0.8 * moving.movie[inner].std(axis=0).mean()


def test_rigid_registration_of_an_hdf5_stored_frames_last(tmp_path: Path,
                                                           moving: simulate.SimulatedMovie
                                                           ) -> None:
    with h5py.File(tmp_path / "raw.h5", "w") as handle:
        handle["imaging"] = np.transpose(moving.movie, (1, 2, 0))
    out = tmp_path / "reg.npy"
    result = runner.invoke(app, ["register", str(tmp_path / "raw.h5"), "--axes", "YXT",
                                 "--rigid", "--fs", "30", "--out", str(out)])
    assert result.exit_code == 0, result.output
    arrays, meta = read_bundle(tmp_path / "reg.registration.npz")
    assert "block_shifts" not in arrays and meta["settings"]["nonrigid"] is False
    assert shift_error(arrays["shifts"], moving.shifts) < 0.2
    assert np.load(out).shape == moving.movie.shape


def test_register_measures_and_undoes_a_line_offset(tmp_path: Path,
                                                      moving: simulate.SimulatedMovie) -> None:
    scan = moving.movie.copy()
    scan[:, 1::2] = ndimage.shift(scan[:, 1::2], (0, 0, 1.5), order=3, mode="nearest")
    source = write_movie(tmp_path / "scan.tif", scan, fs=moving.fs)
    plain = runner.invoke(app, ["register", str(source), "--out", str(tmp_path / "a.npy")])
    assert plain.exit_code == 0, plain.output
    assert "--bidi-offset auto" in plain.output  # pointed out, not undone
    undone = runner.invoke(app, ["register", str(source), "--bidi-offset", "auto", "--out",
                                 str(tmp_path / "b.npy")])
    assert undone.exit_code == 0, undone.output
    assert "--bidi-offset auto" not in undone.output
    arrays, _ = read_bundle(tmp_path / "b.registration.npz")
    assert float(arrays["bidi_offset"]) == pytest.approx(1.5, abs=0.1)
    bad = runner.invoke(app, ["register", str(source), "--bidi-offset", "left", "--out",
                              str(tmp_path / "c.npy")])
    assert bad.exit_code == 2 and "give 'auto' or a number" in bad.output


def test_register_refuses_bad_requests(tmp_path: Path, moving: simulate.SimulatedMovie) -> None:
    source = write_movie(tmp_path / "raw.npy", moving.movie[:10])
    same = runner.invoke(app, ["register", str(source), "--out", str(source)])
    assert same.exit_code == 2 and "overwrite the movie read" in same.output
    axes = runner.invoke(app, ["register", str(source), "--axes", "TX", "--out",
                               str(tmp_path / "r.tif")])
    assert axes.exit_code == 2 and "--axes" in axes.output
    shift = runner.invoke(app, ["register", str(source), "--max-shift", "60", "--out",
                                str(tmp_path / "r.tif")])
    assert shift.exit_code == 2 and "lower max_shift" in shift.output
    suffix = runner.invoke(app, ["register", str(source), "--out", str(tmp_path / "r.avi")])
    assert suffix.exit_code == 2 and "suffixes" in suffix.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.npy"]


def test_extract_with_a_ring_background(tmp_path: Path) -> None:
    sim = simulate.movie(12, 300, (64, 64), motion_px=0, out_of_focus=1.0, seed=5)
    source = write_movie(tmp_path / "one_photon.tif", sim.movie, fs=sim.fs)
    done = runner.invoke(app, ["extract", str(source), "--background", "ring", "--out",
                               str(tmp_path / "cells.npz")])
    assert done.exit_code == 0, done.output
    arrays, meta = read_bundle(tmp_path / "cells.npz")
    assert meta["settings"]["background"] == "ring"
    bad = runner.invoke(app, ["extract", str(source), "--background", "rings", "--out",
                              str(tmp_path / "other.npz")])
    assert bad.exit_code == 2 and "--background" in bad.output and "ring" in bad.output


def test_a_one_photon_nwb_movie_gets_the_ring_unless_told_otherwise(tmp_path: Path,
                                                                    shared_data: Path) -> None:
    movie = shared_data / "movies" / "inscopix" / "miniscope_200x35x29.nwb"
    told = runner.invoke(app, ["extract", str(movie), "--out", str(tmp_path / "a.npz")])
    assert told.exit_code == 0, told.output
    assert "ring background" in told.output
    assert read_bundle(tmp_path / "a.npz")[1]["settings"]["background"] == "ring"
    chosen = tmp_path / "low_rank.yaml"
    chosen.write_text("cnmf:\n  background: low_rank\n")
    for extra in (["--background", "low_rank"], ["--config", str(chosen)]):
        kept = runner.invoke(app, ["extract", str(movie), *extra, "--out",
                                   str(tmp_path / "b.npz")])
        assert kept.exit_code == 0, kept.output
        assert "ring background" not in kept.output
        assert read_bundle(tmp_path / "b.npz")[1]["settings"]["background"] == "low_rank"


def test_register_extract_deconvolve_chain(tmp_path: Path) -> None:
    """A moving simulated movie → registered → cells (matched to the truth) → spikes."""
    from calscope.io.sources import read_footprints
    from calscope.metrics import match_footprints

    sim = simulate.movie(15, 400, (80, 80), motion_px=2.0, seed=4)
    write_movie(tmp_path / "raw.tif", sim.movie, fs=sim.fs)
    steps = [["register", str(tmp_path / "raw.tif"), "--rigid", "--out",
              str(tmp_path / "reg.h5")],
             ["extract", str(tmp_path / "reg.h5"), "--cell-radius", "5", "--out",
              str(tmp_path / "cells.npz")],
             ["deconvolve", str(tmp_path / "cells.dff.npy"), "--fs", "30", "--method", "oasis",
              "--out", str(tmp_path / "spikes.npy")],
             # the cells file itself is read as traces, with its rate and footprints
             ["deconvolve", str(tmp_path / "cells.npz"), "--method", "oasis",
              "--out", str(tmp_path / "spikes_of_cells.npy")],
             ["analyze", str(tmp_path / "cells.npz"), "--method", "oasis",
              "--out", str(tmp_path / "results")]]
    for step in steps:
        result = runner.invoke(app, step)
        assert result.exit_code == 0, (step[0], result.output)
    footprints, arrays, meta = read_footprints(tmp_path / "cells.npz")
    assert meta["fs"] == sim.fs and meta["shape"] == [80, 80]
    match = match_footprints(footprints[:, arrays["accepted"]], sim.footprints)
    # measured 0.76 (precision 0.79, recall 0.73); the motion-free twin reaches 0.85: a cell
    # at the registered edge still spreads its footprint (docs/motion.md)
    assert match.f1 >= 0.7, (match.precision, match.recall)
    spikes = np.load(tmp_path / "spikes.npy")
    assert spikes.shape == (int(arrays["accepted"].sum()), 400)
    np.testing.assert_array_equal(np.load(tmp_path / "spikes_of_cells.npy"), spikes)
    analysis = read_analysis(tmp_path / "results")
    assert analysis.fs == sim.fs and analysis.fov_image.shape == (80, 80)
    # each accepted cell's outline is labelled where its footprint lies
    labels = analysis.fov_labels.ravel()
    accepted = np.flatnonzero(arrays["accepted"])
    assert set(np.unique(labels)) - {0} <= set(range(1, accepted.size + 1))
    for i, row in enumerate(accepted):
        peak = footprints[:, row].toarray().ravel().argmax()
        assert labels[peak] >= i + 1  # its own label, or a later cell's that overlaps it
    assert "field of view" not in analysis.meta.get("skipped", {})
    assert (tmp_path / "results" / "report.html").is_file()


def test_extract_refuses_bad_requests(tmp_path: Path, moving: simulate.SimulatedMovie) -> None:
    source = write_movie(tmp_path / "raw.npy", moving.movie)  # NPY: no rate stored
    no_rate = runner.invoke(app, ["extract", str(source), "--out", str(tmp_path / "c.npz")])
    assert no_rate.exit_code == 2 and "--fs" in no_rate.output
    suffix = runner.invoke(app, ["extract", str(source), "--fs", "30", "--out",
                                 str(tmp_path / "c.csv")])
    assert suffix.exit_code == 2 and ".npz" in suffix.output
    scheduler = runner.invoke(app, ["extract", str(source), "--fs", "30", "--out",
                                    str(tmp_path / "c.npz"), "--scheduler", "my-cluster"])
    assert scheduler.exit_code == 2 and "tcp://" in scheduler.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.npy"]

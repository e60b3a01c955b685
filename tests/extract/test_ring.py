"""The ring background: its ring mean against a loop over the ring's pixels, its fit on a
background made of blurred blobs, and CNMF with it on a simulated one-photon movie."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from calscope import simulate
from calscope.config import CnmfSettings
from calscope.extract import cnmf
from calscope.extract.ring import Ring, fit_ring_background, without_ring_background
from calscope.metrics import match_footprints


def test_ring_mean_is_the_mean_over_the_ring_pixels_in_the_frame():
    rng = np.random.default_rng(0)
    height, width = 20, 17
    frames = rng.standard_normal((height * width, 3)).astype(np.float32)
    ring = Ring((height, width), 4.0)
    found = ring.mean(frames)
    cube = frames.reshape(height, width, 3)
    for y, x in [(0, 0), (10, 8), (19, 16), (3, 12)]:
        values = [cube[y + dy, x + dx] for dy in range(-5, 6) for dx in range(-5, 6)
                  if abs(np.hypot(dy, dx) - 4.0) <= 0.5
                  and 0 <= y + dy < height and 0 <= x + dx < width]
        np.testing.assert_allclose(found[y * width + x], np.mean(values, axis=0), rtol=1e-5)


def blobs_movie(rng: np.random.Generator, side: int = 48, frames: int = 400):
    """(P, T) float32 level + blurred blobs (σ 8 px) with slow random time courses, and one
    small cell (σ 1.5 px) at the centre with its own time course; the cell's image and trace."""
    yy, xx = np.mgrid[:side, :side]
    level = 100.0 + 20.0 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    centres = rng.uniform(-8, side + 8, size=(25, 2))
    images = np.stack([np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 8.0 ** 2))
                       for y, x in centres]).reshape(25, -1)
    courses = np.cumsum(rng.standard_normal((25, frames)), axis=1)
    courses -= courses.mean(axis=1, keepdims=True)
    cell = np.exp(-((yy - side / 2) ** 2 + (xx - side / 2) ** 2) / (2 * 1.5 ** 2)).ravel()
    spikes = (rng.random(frames) < 0.05) * 40.0
    trace = np.convolve(spikes, np.exp(-np.arange(60) / 15.0))[:frames]
    data = level.reshape(-1, 1) + images.T @ courses + np.outer(cell, trace)
    return data.astype(np.float32), cell, trace


def test_the_fit_removes_a_blurred_background_and_keeps_the_cell():
    rng = np.random.default_rng(1)
    data, cell, trace = blobs_movie(rng)
    ring = Ring((48, 48), 5.0)
    none = np.zeros((data.shape[0], 0)), np.zeros((0, data.shape[1]))
    background = fit_ring_background(data, ring, *none, chunk_frames=150)
    left = without_ring_background(data, ring, background, *none, chunk_frames=150,
                                   out=np.empty_like(data))
    away = cell < 1e-3  # pixels the cell does not reach
    changes = data[away] - data[away].mean(axis=1, keepdims=True)
    assert left[away].var() < 0.04 * changes.var()  # the fluctuation is gone (measured 0.018)
    # the cell's trace survives in what is left under its footprint
    assert np.corrcoef(cell @ left, trace)[0, 1] > 0.95
    # knowing the cell, the fit leaves it alone and removes the rest as well
    known = fit_ring_background(data, ring, cell[:, None], trace[None], chunk_frames=150)
    assert np.allclose(known.level[away], background.level[away], rtol=0.01)


@pytest.fixture(scope="module")
def one_photon() -> simulate.SimulatedMovie:
    return simulate.movie(20, 800, (96, 96), motion_px=0, seed=3, out_of_focus=1.0)


def test_cnmf_with_the_ring_finds_the_cells_a_low_rank_background_confuses(one_photon):
    low_rank = cnmf(one_photon.movie, one_photon.fs)
    ring = cnmf(one_photon.movie, one_photon.fs, CnmfSettings(background="ring"))
    plain = match_footprints(low_rank.footprints[:, low_rank.accepted], one_photon.footprints)
    fitted = match_footprints(ring.footprints[:, ring.accepted], one_photon.footprints)
    assert fitted.f1 >= 0.75 and fitted.precision >= 0.85  # measured 0.83 / 0.94
    assert fitted.f1 >= plain.f1 + 0.15                       # low rank: 0.60 / 0.49
    assert ring.background_footprints.shape == (96 * 96, 1)  # the ring's levels
    assert (ring.background_footprints >= 0).all()
    assert np.isfinite(ring.dff).all() and np.median(np.abs(ring.dff)) < 1.0


def test_the_ring_in_patches_matches_the_whole_frame(one_photon):
    whole = cnmf(one_photon.movie, one_photon.fs, CnmfSettings(background="ring"))
    patched = cnmf(one_photon.movie, one_photon.fs,
                   CnmfSettings(background="ring", patch_px=64))
    a = match_footprints(patched.footprints[:, patched.accepted],
                         scipy.sparse.csc_matrix(whole.footprints[:, whole.accepted]))
    assert a.f1 >= 0.9

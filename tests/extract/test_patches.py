"""CNMF on spatial patches: the grid, the joined cells against simulated ground truth and the
whole-frame result, and a movie kept on disk when it does not fit the memory budget."""

from __future__ import annotations

import importlib
import tempfile
from contextlib import contextmanager

import numpy as np
import pytest

from calscope import simulate
from calscope.config import CnmfSettings
from calscope.errors import InputError
from calscope.extract import cnmf
from calscope.extract.patches import patch_grid
from calscope.extract.store import pixel_store
from calscope.metrics import match_footprints


@pytest.mark.parametrize("shape, patch_px, overlap_px", [
    ((128, 128), 64, 24), ((100, 37), 40, 12), ((512, 300), 128, 24), ((30, 30), 64, 24)])
def test_patches_cover_the_frame_and_own_a_tiling(shape, patch_px, overlap_px):
    patches = patch_grid(shape, patch_px, overlap_px)
    owners = np.zeros(shape, dtype=int)
    for patch in patches:
        height = patch.rows.stop - patch.rows.start
        width = patch.cols.stop - patch.cols.start
        assert height <= patch_px or height == shape[0] <= patch_px
        assert width <= patch_px or width == shape[1] <= patch_px
        assert patch.rows.start <= patch.own_rows.start < patch.own_rows.stop <= patch.rows.stop
        assert patch.cols.start <= patch.own_cols.start < patch.own_cols.stop <= patch.cols.stop
        owners[patch.own_rows, patch.own_cols] += 1
    assert (owners == 1).all()  # what the patches own tiles the frame exactly
    for axis, side in enumerate(shape):
        starts = sorted({(p.rows, p.cols)[axis].start for p in patches})
        stops = sorted({(p.rows, p.cols)[axis].stop for p in patches})
        assert starts[0] == 0 and stops[-1] == side
        overlaps = np.array(stops[:-1]) - np.array(starts[1:])
        assert (overlaps >= overlap_px).all()
        # no longer than they need to be: overlaps about the least asked, patches no wider
        assert (overlaps <= overlap_px + 2).all()
        # an owned part leaves at least half the overlap of its patch on each inner side
        for p in patches:
            span, own = (p.rows, p.cols)[axis], (p.own_rows, p.own_cols)[axis]
            assert own.start == 0 or own.start - span.start >= overlap_px // 2
            assert own.stop == side or span.stop - own.stop >= overlap_px // 2
    assert len(patch_grid((30, 30), 64, 24)) == 1


def test_a_frame_just_over_two_patches_gets_three_short_ones():
    # 256 px in patches of at most 128 overlapping by 24: three of 102 px (overlaps of 25),
    # not three of 128 overlapping by 64: 36% fewer pixels to factorise
    spans = sorted({(p.rows.start, p.rows.stop) for p in patch_grid((256, 256), 128, 24)})
    assert spans == [(0, 102), (77, 179), (154, 256)]


@pytest.fixture(scope="module")
def simulated():
    return simulate.movie(36, 800, (128, 128), motion_px=0, seed=2)


@pytest.fixture(scope="module")
def whole(simulated):
    return cnmf(simulated.movie, simulated.fs, CnmfSettings(patch_px=128))


def test_patches_find_the_cells_the_whole_frame_finds(simulated, whole):
    steps = []
    patched = cnmf(simulated.movie, simulated.fs, CnmfSettings(patch_px=64),
                   progress=lambda step, done, total: steps.append(step))
    assert sum(step.startswith("patch ") for step in steps) == 9
    reference = match_footprints(whole.footprints[:, whole.accepted], simulated.footprints)
    match = match_footprints(patched.footprints[:, patched.accepted], simulated.footprints)
    assert match.f1 >= 0.9 and match.precision >= 0.95, match
    assert match.f1 >= reference.f1 - 0.03
    # no cell found twice on a seam: as many accepted components as the whole frame's, ±2
    assert abs(int(patched.accepted.sum()) - int(whole.accepted.sum())) <= 2
    pick = np.flatnonzero(patched.accepted)[match.pairs[:, 0]]
    r = [np.corrcoef(patched.traces[i], simulated.calcium[j])[0, 1]
         for i, j in zip(pick, match.pairs[:, 1])]
    assert np.median(r) >= 0.9
    # the pieced background is non-negative and each patch's images stay in what it owns
    assert patched.background_footprints.shape[1] == 9 * CnmfSettings().n_background
    assert (patched.background_footprints >= 0).all()
    covered = (patched.background_footprints > 0).sum(axis=1)
    assert covered.max() <= CnmfSettings().n_background


def test_a_movie_over_the_memory_budget_is_factorised_from_disk(simulated, monkeypatch,
                                                                 tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    where = []

    @contextmanager
    def watched(*args, **kwargs):
        with pixel_store(*args, **kwargs) as store:
            where.append(store.on_disk)
            yield store

    # the module, not the function of the same name that calscope.extract re-exports
    monkeypatch.setattr(importlib.import_module("calscope.extract.cnmf"), "pixel_store",
                        watched)
    in_memory = CnmfSettings(patch_px=64, iterations=1)
    # 52 MB of movie; a 64 × 64 patch's two copies need 26 MB: the movie goes to disk
    on_disk = in_memory.model_copy(update={"max_memory_gb": 0.045})
    first = cnmf(simulated.movie, simulated.fs, in_memory)
    second = cnmf(simulated.movie, simulated.fs, on_disk)
    assert (first.footprints != second.footprints).nnz == 0
    np.testing.assert_array_equal(first.traces, second.traces)
    np.testing.assert_array_equal(first.dff, second.dff)
    assert where == [False, True]
    assert list(tmp_path.iterdir()) == []  # the temporary copy is gone


def test_a_patch_over_the_memory_budget_is_refused_with_what_to_change(simulated):
    with pytest.raises(InputError, match="patch_px"):
        cnmf(simulated.movie, simulated.fs, CnmfSettings(patch_px=64, max_memory_gb=0.01))
    with pytest.raises(InputError, match="patch_px below"):
        cnmf(simulated.movie, simulated.fs, CnmfSettings(patch_px=128, max_memory_gb=0.05))


def test_an_overlap_as_wide_as_a_patch_is_refused(simulated):
    with pytest.raises(InputError, match="raise patch_px"):
        cnmf(simulated.movie, simulated.fs, CnmfSettings(patch_px=32, cell_radius_px=8))

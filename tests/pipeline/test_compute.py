"""CNMF's patches on a dask cluster: the cells of a run in this process, from a local cluster
and from a running scheduler's address; bad schedulers refused with what to do."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from calscope import simulate
from calscope.config import CnmfSettings, ComputeSettings
from calscope.errors import InputError
from calscope.extract import cnmf
from calscope.pipeline import compute

SETTINGS = CnmfSettings(patch_px=48, iterations=1)


@pytest.fixture(scope="module")
def recording():
    sim = simulate.movie(12, 300, (80, 80), motion_px=0, seed=3)
    return sim, cnmf(sim.movie, sim.fs, SETTINGS)


def same_cells(first, second) -> None:
    assert first.footprints.shape == second.footprints.shape
    np.testing.assert_allclose(first.footprints.toarray(), second.footprints.toarray(),
                               atol=1e-4)
    np.testing.assert_allclose(first.traces, second.traces,
                               atol=1e-4 * float(np.abs(first.traces).max()))
    np.testing.assert_array_equal(first.accepted, second.accepted)


def test_no_scheduler_means_this_process():
    with compute.patch_map(ComputeSettings()) as map_patches:
        assert map_patches is None


def test_a_local_cluster_finds_the_cells_found_here(recording):
    sim, here = recording
    steps = []
    with compute.patch_map(ComputeSettings(scheduler="local", workers=2)) as map_patches:
        assert map_patches is not None
        there = cnmf(sim.movie, sim.fs, SETTINGS, map_patches=map_patches,
                     progress=lambda step, done, total: steps.append(step))
    same_cells(here, there)  # equal up to rounding (each worker's BLAS runs one thread)
    # 3 × 3 patches of 48 px cover 80 px overlapping by ≥ 24 px (4 × the 6 px cell radius)
    assert sum("done" in step and step.startswith("patch") for step in steps) == 9


def test_a_running_scheduler_is_used_by_its_address(recording):
    from distributed import LocalCluster

    sim, here = recording
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        settings = ComputeSettings(scheduler=cluster.scheduler_address)
        with compute.patch_map(settings) as map_patches:
            there = cnmf(sim.movie, sim.fs, SETTINGS, map_patches=map_patches)
    same_cells(here, there)


def test_bad_schedulers_are_refused(monkeypatch):
    with pytest.raises(ValidationError, match="tcp://"):
        ComputeSettings(scheduler="my-cluster")
    monkeypatch.setattr(compute, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(InputError, match="no dask scheduler answered"):
        with compute.patch_map(ComputeSettings(scheduler="tcp://127.0.0.1:9")):
            pass

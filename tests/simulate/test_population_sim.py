"""Simulated populations with planted assemblies and coupling changes."""

import numpy as np
import pytest

from calscope.errors import InputError
from calscope.simulate.population import population


def test_shapes_dtypes_and_determinism():
    sim = population(50, 3000, 20.0, n_assemblies=2, assembly_size=8, seed=3)
    assert sim.spikes.shape == sim.coupled.shape == (50, 3000)
    assert sim.spikes.dtype == np.float32 and sim.coupled.dtype == bool and sim.fs == 20.0
    assert len(sim.members) == len(sim.assembly_events) == 2
    again = population(50, 3000, 20.0, n_assemblies=2, assembly_size=8, seed=3)
    np.testing.assert_array_equal(sim.spikes, again.spikes)
    for a, b in zip(sim.members + sim.assembly_events, again.members + again.assembly_events):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(sim.spikes, population(50, 3000, 20.0, seed=4).spikes)


def test_assemblies_are_disjoint_and_fire_together():
    sim = population(200, 30_000, 30.0, n_assemblies=4, assembly_size=12,
                     assembly_rate_hz=0.5, member_probability=0.8, seed=0)
    everyone = np.concatenate(sim.members)
    assert all(m.size == 12 and np.all(np.diff(m) > 0) for m in sim.members)
    assert np.unique(everyone).size == everyone.size == 48
    for members, frames in zip(sim.members, sim.assembly_events):
        assert frames.size / (30_000 / 30.0) == pytest.approx(0.5, rel=0.15)
        fired = (sim.spikes[np.ix_(members, frames)] > 0).mean()
        assert fired == pytest.approx(0.8 + 0.2 * 0.5 / 30.0, abs=0.04)
    others = np.setdiff1d(np.arange(200), everyone)
    assert sim.spikes[others].mean() * 30.0 == pytest.approx(0.5, rel=0.1)
    assert not sim.coupled.any()


def test_coupling_change_makes_a_cell_follow_the_population_only_in_its_interval():
    plain = population(seed=1)
    sim = population(seed=1, coupling_changes=((7, 100.0, 200.0),))
    inside = slice(3000, 6000)
    assert sim.coupled[7, inside].all() and sim.coupled.sum() == 3000
    changed = np.flatnonzero(np.any(sim.spikes != plain.spikes, axis=1))
    assert changed.tolist() == [7]  # other cells and the assemblies are untouched
    assert np.array_equal(sim.spikes[7, :3000], plain.spikes[7, :3000])
    rest = sim.spikes.sum(axis=0) - sim.spikes[7]
    r_inside = np.corrcoef(sim.spikes[7, inside], rest[inside])[0, 1]
    r_outside = np.corrcoef(sim.spikes[7, 6000:], rest[6000:])[0, 1]
    assert r_inside > 0.3 and r_outside < 0.15


def test_no_assemblies_gives_independent_poisson_neurons():
    sim = population(n_assemblies=0, seed=2)
    assert sim.members == () and sim.assembly_events == ()
    counts = sim.spikes.reshape(100, -1, 30).sum(axis=2)  # 1-s bins
    assert np.mean(counts.var(axis=1) / counts.mean(axis=1)) == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_cells": 0}, "n_cells"), ({"n_frames": 2.5}, "n_frames"), ({"fs": 0.0}, "fs"),
    ({"n_assemblies": -1}, "n_assemblies"), ({"assembly_size": 0}, "assembly_size"),
    ({"n_assemblies": 11}, "need 110 cells"), ({"base_rate_hz": -1.0}, "base_rate_hz"),
    ({"assembly_rate_hz": float("nan")}, "assembly_rate_hz"),
    ({"member_probability": 0.0}, "member_probability"),
    ({"coupling_changes": ((100, 0.0, 1.0),)}, "cell 100"),
    ({"coupling_changes": ((1, 5.0, 5.0),)}, "interval"),
    ({"coupling_changes": ((1, 0.0, 400.0),)}, "interval"),
    ({"coupling_changes": ((1, 0.0),)}, "triple"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(InputError, match=match):
        population(**kwargs)

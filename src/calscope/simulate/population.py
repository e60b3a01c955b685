"""A population with known structure: independent Poisson neurons, planted cell assemblies and
planted changes of coupling to the population.

* **Background.** Every cell fires independent Poisson spikes at its own rate (lognormal
  across cells around ``base_rate_hz``, as in ``poisson_spikes``).
* **Assemblies.** ``n_assemblies`` disjoint groups of ``assembly_size`` cells. Each assembly is
  activated at random frames (a Bernoulli process at ``assembly_rate_hz``); at an activation
  every member adds one spike in that frame with probability ``member_probability``.
* **Coupling changes.** ``(cell, start_s, stop_s)`` makes ``cell`` follow the population inside
  ``[start_s, stop_s)``: at every *population event* there (a frame where the summed spikes of
  the other cells exceed their mean + 2 SD over the recording) the cell adds one spike with
  probability ``member_probability``. Outside the interval it fires on its own.

Spikes, assemblies and couplings draw from their own random streams, so adding a coupling
change leaves the background spikes and assemblies of a seed unchanged. For fluorescence, pass
the spikes on: ``calscope.simulate.traces(n_cells, n_frames, fs, spikes=sim.spikes)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np

from calscope.errors import InputError
from calscope.simulate.spikes import Seed, cell_rates, make_rng

POPULATION_EVENT_SD = 2.0
"""A population event is a frame whose summed spike count of the other cells exceeds their
mean by this many standard deviations."""


@dataclass(frozen=True)
class PopulationSimulation:
    """Ground truth of a simulated population.

    Attributes:
        spikes: (cells, T) float32 spike counts per frame.
        members: one sorted int64 array of cell indices per assembly (disjoint).
        assembly_events: one sorted int64 array of activation frames per assembly.
        coupled: (cells, T) bool, True where a cell was made to follow the population.
        fs: frame rate (Hz).
    """

    spikes: np.ndarray
    members: tuple[np.ndarray, ...]
    assembly_events: tuple[np.ndarray, ...]
    coupled: np.ndarray
    fs: float


def population(
    n_cells: int = 100,
    n_frames: int = 9000,
    fs: float = 30.0,
    *,
    n_assemblies: int = 3,
    assembly_size: int = 10,
    base_rate_hz: float = 0.5,
    assembly_rate_hz: float = 0.2,
    member_probability: float = 0.8,
    coupling_changes: Sequence[tuple[int, float, float]] = (),
    seed: Seed = 0,
) -> PopulationSimulation:
    """Simulate spike counts of a population with planted assemblies and coupling changes.

    Args:
        n_cells: number of cells (≥ 1).
        n_frames: number of frames (≥ 1).
        fs: frame rate (Hz).
        n_assemblies: number of assemblies (≥ 0); their members are disjoint random cells.
        assembly_size: cells per assembly (≥ 1); ``n_assemblies · assembly_size ≤ n_cells``.
        base_rate_hz: mean background firing rate over cells (Hz).
        assembly_rate_hz: activations per second of each assembly.
        member_probability: chance (0–1] that a member, or a coupled cell, fires at an
            activation, or at a population event.
        coupling_changes: ``(cell, start_s, stop_s)`` triples: ``cell`` follows the population
            from ``start_s`` to ``stop_s`` (seconds from the first frame).
        seed: int seed or ``numpy.random.Generator``; the same seed gives the same output.

    Returns:
        A ``PopulationSimulation``.

    Raises:
        InputError: a count, rate or probability out of range, assemblies that do not fit in
            ``n_cells``, or a coupling change naming a missing cell or an empty interval.
    """
    _check_arguments(n_cells, n_frames, fs, n_assemblies, assembly_size, base_rate_hz,
                     assembly_rate_hz, member_probability)
    changes = _checked_changes(coupling_changes, n_cells, n_frames, fs)
    spike_rng, assembly_rng, coupling_rng = make_rng(seed).spawn(3)

    rates = cell_rates(n_cells, base_rate_hz, spike_rng)
    spikes = spike_rng.poisson(np.broadcast_to(rates[:, None] / fs, (n_cells, n_frames)))

    chosen = assembly_rng.permutation(n_cells)[: n_assemblies * assembly_size]
    members = tuple(np.sort(group).astype(np.int64)
                    for group in np.split(chosen, n_assemblies)) if n_assemblies else ()
    events = []
    for group in members:
        frames = np.flatnonzero(assembly_rng.random(n_frames) < assembly_rate_hz / fs)
        fired = assembly_rng.random((group.size, frames.size)) < member_probability
        spikes[np.ix_(group, frames)] += fired
        events.append(frames.astype(np.int64))

    coupled = np.zeros((n_cells, n_frames), dtype=bool)
    if changes:
        total = spikes.sum(axis=0)
        for cell, start, stop in changes:
            others = total - spikes[cell]
            event = others > others.mean() + POPULATION_EVENT_SD * others.std()
            window = np.zeros(n_frames, dtype=bool)
            window[start:stop] = True
            fires = event & window & (coupling_rng.random(n_frames) < member_probability)
            spikes[cell] += fires
            coupled[cell] |= window
    return PopulationSimulation(spikes=spikes.astype(np.float32), members=members,
                                assembly_events=tuple(events), coupled=coupled, fs=float(fs))


def _checked_changes(changes: Sequence[tuple[int, float, float]], n_cells: int, n_frames: int,
                     fs: float) -> list[tuple[int, int, int]]:
    """``coupling_changes`` as (cell, first frame, end frame) triples, after checking them."""
    checked = []
    duration = n_frames / fs
    for change in changes:
        if len(change) != 3:
            raise InputError(f"coupling_changes: {change!r} is not a (cell, start_s, stop_s) "
                             "triple")
        cell, start_s, stop_s = change
        if not isinstance(cell, (int, np.integer)) or not 0 <= cell < n_cells:
            raise InputError(f"coupling_changes: cell {cell!r} is not a cell index in "
                             f"[0, {n_cells})")
        if not (isinstance(start_s, Real) and isinstance(stop_s, Real)
                and 0 <= start_s < stop_s <= duration):
            raise InputError(f"coupling_changes: interval [{start_s!r}, {stop_s!r}) s of cell "
                             f"{cell} must satisfy 0 ≤ start_s < stop_s ≤ {duration:g} s "
                             "(the recording's length)")
        start, stop = round(start_s * fs), round(stop_s * fs)
        if stop <= start:
            raise InputError(f"coupling_changes: interval [{start_s}, {stop_s}) s of cell "
                             f"{cell} holds no frame at fs={fs:g} Hz; make it longer")
        checked.append((int(cell), start, stop))
    return checked


def _check_arguments(n_cells: int, n_frames: int, fs: float, n_assemblies: int,
                     assembly_size: int, base_rate_hz: float, assembly_rate_hz: float,
                     member_probability: float) -> None:
    """Raise InputError unless the counts, rates and probability are usable."""
    for name, value, least in (("n_cells", n_cells, 1), ("n_frames", n_frames, 1),
                               ("n_assemblies", n_assemblies, 0),
                               ("assembly_size", assembly_size, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
            raise InputError(f"{name} must be an integer ≥ {least}, got {value!r}")
    if n_assemblies * assembly_size > n_cells:
        raise InputError(f"{n_assemblies} assemblies of {assembly_size} cells need "
                         f"{n_assemblies * assembly_size} cells but n_cells={n_cells}; "
                         "use fewer or smaller assemblies, or more cells")
    if not isinstance(fs, Real) or not 0 < fs < math.inf:
        raise InputError(f"fs must be a positive, finite frame rate in Hz, got {fs!r}")
    for name, value in (("base_rate_hz", base_rate_hz), ("assembly_rate_hz", assembly_rate_hz)):
        if not isinstance(value, Real) or not 0 <= value < math.inf:
            raise InputError(f"{name} must be a finite rate ≥ 0 in Hz, got {value!r}")
    if not isinstance(member_probability, Real) or not 0 < member_probability <= 1:
        raise InputError(f"member_probability must be in (0, 1], got {member_probability!r}")

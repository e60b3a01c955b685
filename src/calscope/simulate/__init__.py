"""Ground truth for tests, demos and benchmarks: spike trains, indicator kinetics, traces,
movies with motion.

Typical use::

    from calscope import simulate
    sim = simulate.traces(50, 3000, fs=30.0, indicator="GCaMP6s", snr=3.0, seed=1)
    sim.fluorescence  # (50, 3000) float32 observed traces; sim.spikes holds the truth
    pop = simulate.population(200, 9000, fs=30.0, n_assemblies=3, seed=0)
    pop.spikes        # (200, 9000) counts with planted assemblies (pop.members)
    mov = simulate.movie(30, 600, (128, 128), motion_px=3.0, nonrigid_px=1.0, seed=2)
    mov.movie         # (600, 128, 128) float32 photon counts; mov.footprints, mov.calcium
    mov.shifts        # (600, 2) rigid (dy, dx); mov.displacement() gives the full motion field
"""

from calscope.simulate.indicators import (
    INDICATORS,
    Indicator,
    ar_coefficients,
    ar_time_constants,
    get_indicator,
    impulse_response,
)
from calscope.simulate.movies import SimulatedMovie, movie
from calscope.simulate.population import PopulationSimulation, population
from calscope.simulate.spikes import bursty_spikes, poisson_spikes
from calscope.simulate.traces import Simulation, traces

__all__ = [
    "INDICATORS",
    "Indicator",
    "PopulationSimulation",
    "SimulatedMovie",
    "Simulation",
    "ar_coefficients",
    "ar_time_constants",
    "bursty_spikes",
    "get_indicator",
    "impulse_response",
    "movie",
    "poisson_spikes",
    "population",
    "traces",
]

"""Population analysis of (cells, T) activity: correlations, coupling, dimensionality, order,
assemblies and synchrony events. Pure functions on arrays + fs.

Typical use::

    from calscope import population
    c = population.coupling_over_time(spikes, window=100)   # (cells, T), NaN at the edges
    a = population.assemblies(spikes, seed=0)                # a.n_significant, a.members, …
    r = population.correlations(spikes, fs=30.0)            # r.r, r.p, r.significant

`calscope.pipeline.analysis.analyze` runs them all and collects an `AnalysisResult`.
"""

from calscope.population.assemblies import Assemblies, assemblies, marchenko_pastur_bound
from calscope.population.correlation import Correlations, correlations
from calscope.population.coupling import coupling_over_time, population_coupling
from calscope.population.dimensionality import (
    PCA,
    SignificantDimensions,
    embedding,
    participation_ratio,
    pca,
    significant_dimensions,
)
from calscope.population.events import SynchronyEvents, synchrony_events
from calscope.population.result import AnalysisResult
from calscope.population.sorting import Sorting, sort_neurons

__all__ = [
    "PCA", "AnalysisResult", "Assemblies", "Correlations", "SignificantDimensions", "Sorting",
    "SynchronyEvents", "assemblies", "correlations", "coupling_over_time", "embedding",
    "marchenko_pastur_bound", "participation_ratio", "pca", "population_coupling",
    "significant_dimensions", "sort_neurons", "synchrony_events",
]

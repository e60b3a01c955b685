"""Population analysis of (cells, T) activity: correlations, coupling, dimensionality, order,
assemblies and synchrony events. Pure functions on arrays + fs."""

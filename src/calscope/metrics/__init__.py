"""Scores against ground truth: of inferred spikes (`calscope.metrics.spikes`: calscope's
30 Hz protocol and the Spikefinder score) and of found structure
(`calscope.metrics.structure`: assemblies and cells' footprints). Every name is importable
from ``calscope.metrics``."""

from calscope.metrics.spikes import (PROTOCOL_FS, PROTOCOL_SIGMA_S, ScoringTrace,
                                     gaussian_smooth, pearson, prepare_cascade, resample_linear,
                                     score_cascade, score_predictions, smoothed_correlation,
                                     smoothed_correlations, spike_counts,
                                     spikefinder_correlation)
from calscope.metrics.structure import FootprintMatch, assembly_match, match_footprints

__all__ = ["PROTOCOL_FS", "PROTOCOL_SIGMA_S", "FootprintMatch", "ScoringTrace",
           "assembly_match", "gaussian_smooth", "match_footprints", "pearson",
           "prepare_cascade", "resample_linear", "score_cascade", "score_predictions",
           "smoothed_correlation", "smoothed_correlations", "spike_counts",
           "spikefinder_correlation"]

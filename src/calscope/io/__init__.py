"""Reading and writing data: movies, traces, ground-truth recordings, results.

Only this package touches files; every other stage works on arrays.
"""

from calscope.io.cascade import (
    CascadeTrial,
    cascade_trial_table,
    frame_times,
    read_cascade_trials,
    write_cascade_neuron,
)
from calscope.io.ground_truth import (
    GroundTruthRecording,
    cascade_dataset_dirs,
    load_cascade_dataset,
    load_cascade_neuron,
    load_spikefinder,
)
from calscope.io.movie_writers import write_movie
from calscope.io.movies import Movie, read_movie
from calscope.io.shared_data import shared_data_dir
from calscope.io.traces import TraceData, bad_rows, read_traces, validate_traces
from calscope.io.writers import atomic_open, write_result, write_spikes

__all__ = [
    "CascadeTrial",
    "GroundTruthRecording",
    "Movie",
    "TraceData",
    "atomic_open",
    "bad_rows",
    "cascade_dataset_dirs",
    "cascade_trial_table",
    "frame_times",
    "load_cascade_dataset",
    "load_cascade_neuron",
    "load_spikefinder",
    "read_cascade_trials",
    "read_movie",
    "read_traces",
    "shared_data_dir",
    "validate_traces",
    "write_cascade_neuron",
    "write_movie",
    "write_result",
    "write_spikes",
]

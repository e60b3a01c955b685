"""The cells of `calscope extract` written, and read back as traces with their field of view."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from calscope.errors import InputError
from calscope.extract import Quality, Sources
from calscope.io.bundle import write_bundle
from calscope.io.sources import read_cells_fov, read_footprints, write_sources
from calscope.io.traces import read_traces


def _sources(accepted: list[bool]) -> Sources:
    rng = np.random.default_rng(0)
    shape, n_frames = (10, 12), 60
    images = np.zeros((3, *shape))
    for k, (y, x) in enumerate([(2, 2), (5, 8), (7, 3)]):
        images[k, y - 1: y + 2, x - 1: x + 2] = 0.5
        images[k, y, x] = 1.0
    footprints = scipy.sparse.csc_matrix(images.reshape(3, -1).T.astype(np.float32))
    traces = rng.random((3, n_frames)).astype(np.float32)
    quality = Quality(spatial_r=np.ones(3, np.float32), snr=np.full(3, 5, np.float32),
                      size_px=np.full(3, 9), active_frames=np.full(3, 10))
    return Sources(footprints=footprints, traces=traces, raw_traces=traces, spikes=traces,
                   dff=traces + np.arange(3, dtype=np.float32)[:, None],
                   background_footprints=np.ones((120, 1), np.float32),
                   background_traces=np.full((1, n_frames), 2.0, np.float32),
                   noise_map=np.ones(shape, np.float32), quality=quality,
                   accepted=np.array(accepted), shape=shape, fs=15.0)


@pytest.mark.parametrize("suffix", [".npz", ".zarr"])
def test_extracted_cells_read_back_as_traces(tmp_path, suffix):
    sources = _sources([True, False, True])
    bundle, _ = write_sources(tmp_path / f"cells{suffix}", sources, {"movie": "m.tif"})
    data = read_traces(bundle)
    assert data.fmt == "cells" and data.fs == 15.0
    np.testing.assert_array_equal(data.rows, [0, 2])
    np.testing.assert_array_equal(data.traces, sources.dff[[0, 2]])
    assert data.names == ("cell 0", "cell 2")
    assert read_traces(bundle, all_rois=True).traces.shape == (3, 60)
    assert read_traces(bundle, fs=30.0).fs == 30.0
    fov = read_cells_fov(bundle, data.rows)
    # labels 1 and 2 for cells 0 and 2 where their footprints reach 20% of their peak
    assert fov.labels[2, 2] == 1 and fov.labels[7, 3] == 2 and fov.labels[5, 8] == 0
    assert (fov.labels > 0).sum() == 18
    # the model's mean image: footprints times mean traces plus the background
    footprints, _, _ = read_footprints(bundle)
    expected = (footprints @ sources.traces.mean(axis=1) + 2.0).reshape(10, 12)
    np.testing.assert_allclose(fov.image, expected, rtol=1e-5)


def test_cells_files_are_refused_with_reasons(tmp_path):
    none, _ = write_sources(tmp_path / "none.npz", _sources([False] * 3), {})
    with pytest.raises(InputError, match="--all-rois"):
        read_traces(none)
    other = write_bundle(tmp_path / "other.npz", {"x": np.zeros(3)}, {})
    with pytest.raises(InputError, match="no cells extracted"):
        read_traces(other)
    with pytest.raises(InputError, match="key"):
        read_traces(none, key="dff")

import numpy as np
import pytest

from calscope.errors import InputError
from calscope.io.bundle import read_bundle, write_bundle
from calscope.io.suite2p_fov import read_suite2p_fov
from calscope.population.result import AnalysisResult


def test_analysis_result_round_trips_through_a_bundle(tmp_path):
    rng = np.random.default_rng(0)
    result = AnalysisResult(
        fs=30.0, spikes=rng.random((4, 50), dtype=np.float32), order=np.arange(4)[::-1],
        n_significant_dims=np.int64(2), participation_ratio=1.5,
        assembly_members=np.zeros((0, 4), bool), quality={"rate_hz": np.ones(4, np.float32)},
        meta={"skipped": {"coupling": "window longer than the recording"}, "notes": ["x"]})
    write_bundle(tmp_path / "r.npz", *result.to_arrays())
    back = AnalysisResult.from_arrays(*read_bundle(tmp_path / "r.npz"))
    assert back.fs == 30.0 and back.n_significant_dims == 2 and back.participation_ratio == 1.5
    np.testing.assert_array_equal(back.spikes, result.spikes)
    np.testing.assert_array_equal(back.order, result.order)
    assert back.assembly_members.shape == (0, 4) and back.coupling is None
    assert back.skipped == result.skipped and back.meta["notes"] == ["x"]
    np.testing.assert_array_equal(back.quality["rate_hz"], 1.0)


def test_bundle_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match="run `calscope analyze`"):
        read_bundle(tmp_path / "missing.npz")
    with pytest.raises(InputError, match=".npz"):
        write_bundle(tmp_path / "r.npy", {}, {})
    np.savez(tmp_path / "other.npz", a=np.ones(3))
    with pytest.raises(InputError, match="not a calscope results file"):
        read_bundle(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_text("junk")
    with pytest.raises(InputError, match="cannot read"):
        read_bundle(tmp_path / "junk.npz")


def test_suite2p_field_of_view_labels_the_chosen_rois(shared_data):
    folder = shared_data / "suite2p_output" / "inscopix_1p"
    stat = np.load(folder / "stat.npy", allow_pickle=True)
    rows = np.array([0, 5, 9])
    fov = read_suite2p_fov(folder, rows)
    assert fov.kind.startswith("ROI weights")  # this folder has no ops.npy
    assert fov.image.shape == fov.labels.shape
    for i, row in enumerate(rows):
        y, x = stat[row]["ypix"], stat[row]["xpix"]
        assert np.mean(fov.labels[y, x] == i + 1) > 0.5  # overlaps may relabel a few pixels
    assert set(np.unique(fov.labels)) <= {0, 1, 2, 3}


def test_no_stat_file_means_no_field_of_view(tmp_path):
    assert read_suite2p_fov(tmp_path, np.arange(3)) is None


def test_a_zarr_store_round_trips_and_replaces_a_stage_whole(tmp_path):
    import zarr

    rng = np.random.default_rng(1)
    spikes = rng.random((3, 5000), dtype=np.float32)
    store = tmp_path / "calscope.zarr"
    write_bundle(store, {"spikes": spikes, "members": np.zeros((0, 3), bool),
                         "offset": np.asarray(1.5)},
                 {"notes": ["a"], "ratio": float("nan")})
    arrays, meta = read_bundle(store)
    np.testing.assert_array_equal(arrays["spikes"], spikes)
    assert arrays["members"].shape == (0, 3) and meta["notes"] == ["a"]
    assert arrays["offset"].shape == () and float(arrays["offset"]) == 1.5  # a scalar stays one
    assert np.isnan(meta["ratio"])
    lazy = zarr.open_group(str(store), mode="r")["population"]["spikes"]
    assert lazy.chunks[-1] < spikes.shape[1]  # chunked in time: read a piece at a time
    np.testing.assert_array_equal(lazy[1, 100:200], spikes[1, 100:200])
    write_bundle(store, {"other": np.ones(2)}, {"notes": ["b"]})  # a rerun replaces the stage
    arrays, meta = read_bundle(store)
    assert set(arrays) == {"other"} and meta["notes"] == ["b"]
    assert sorted(p.name for p in store.iterdir()) == ["population", "zarr.json"]


def test_zarr_store_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match="run `calscope analyze`"):
        read_bundle(tmp_path / "missing.zarr")
    (tmp_path / "plain.zarr").mkdir()
    (tmp_path / "plain.zarr" / "x.txt").write_text("x")
    with pytest.raises(InputError, match="not a Zarr store"):
        write_bundle(tmp_path / "plain.zarr", {"a": np.ones(2)}, {})
    write_bundle(tmp_path / "s.zarr", {"a": np.ones(2)}, {}, group="other")
    with pytest.raises(InputError, match="no complete 'population' stage"):
        read_bundle(tmp_path / "s.zarr")

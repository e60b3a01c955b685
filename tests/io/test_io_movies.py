"""Reading movies lazily (TIFF, HDF5, Zarr, NPY, NWB) and writing them chunk by chunk."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import zarr
from pynwb import NWBHDF5IO, NWBFile
from pynwb.ophys import OpticalChannel, TwoPhotonSeries

from calscope.errors import InputError
from calscope.io.movie_writers import write_movie
from calscope.io.movies import read_movie

MOVIE = np.random.default_rng(3).normal(100, 10, size=(23, 12, 9)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".tif", ".h5", ".zarr", ".npy"])
def test_written_movies_read_back_equal_in_chunks(tmp_path: Path, suffix: str) -> None:
    done: list[int] = []
    path = write_movie(tmp_path / f"m{suffix}", MOVIE, fs=12.5, chunk_frames=5,
                       progress=lambda n, total: done.append(n))
    assert done == [5, 10, 15, 20, 23]
    with read_movie(path) as movie:
        assert movie.shape == MOVIE.shape and len(movie) == 23
        assert movie.fs == (None if suffix == ".npy" else 12.5)
        np.testing.assert_array_equal(movie[:], MOVIE)
        np.testing.assert_array_equal(movie[4:17:3], MOVIE[4:17:3])
        np.testing.assert_array_equal(movie[-1], MOVIE[-1])
        assert movie[2:4].dtype == np.float32
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"m{suffix}"]  # no temporary left


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    class Failing:
        shape = MOVIE.shape

        def __getitem__(self, index: slice) -> np.ndarray:
            if index.start >= 10:
                raise RuntimeError("disk gone")
            return MOVIE[index]

    for suffix in (".tif", ".h5", ".zarr", ".npy"):
        with pytest.raises(RuntimeError):
            write_movie(tmp_path / f"m{suffix}", Failing(), chunk_frames=5)
    assert list(tmp_path.iterdir()) == []


def test_rewriting_a_zarr_movie_replaces_it(tmp_path: Path) -> None:
    write_movie(tmp_path / "m.zarr", MOVIE)
    write_movie(tmp_path / "m.zarr", MOVIE[:4] * 2)
    with read_movie(tmp_path / "m.zarr") as movie:
        np.testing.assert_array_equal(movie[:], MOVIE[:4] * 2)
    assert [p.name for p in tmp_path.iterdir()] == ["m.zarr"]


def test_hdf5_axis_order_and_dataset_choice(tmp_path: Path) -> None:
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as handle:
        handle["raw/frames"] = np.transpose(MOVIE, (1, 2, 0))  # Y × X × T
        handle["mean"] = MOVIE.mean(0)
        handle["other"] = MOVIE[:3]
        handle["raw/frames"].attrs["frame_rate"] = 7.5
    with pytest.raises(InputError, match="several.*other, raw/frames.*--key"):
        read_movie(path)
    with read_movie(path, key="raw/frames", axes="YXT") as movie:
        assert movie.fs == 7.5
        np.testing.assert_array_equal(movie[3:6], MOVIE[3:6])
    with pytest.raises(InputError, match="no HDF5 dataset named 'nope'.*other, raw/frames"):
        read_movie(path, key="nope")


def test_tiff_channels_and_imagej_rate(tmp_path: Path) -> None:
    two = np.stack([MOVIE, -MOVIE], axis=1)  # T × C × Y × X
    path = tmp_path / "two.tif"
    tifffile.imwrite(path, two, imagej=True, metadata={"axes": "TCYX", "finterval": 0.05})
    with pytest.raises(InputError, match="2 channel.*--channel 0 … 1"):
        read_movie(path)
    with read_movie(path, channel=1) as movie:
        assert movie.shape == MOVIE.shape and movie.fs == pytest.approx(20.0)
        np.testing.assert_array_equal(movie[:], -MOVIE)
    with read_movie(path, channel=0, fs=30.0) as movie:  # the argument wins
        assert movie.fs == 30.0
        np.testing.assert_array_equal(movie[0], MOVIE[0])


def test_zarr_group_and_plain_array(tmp_path: Path) -> None:
    root = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    root.create_array("session/frames", data=MOVIE)
    root.attrs["fs"] = 9.0
    with read_movie(tmp_path / "g.zarr") as movie:
        assert movie.fs == 9.0
        np.testing.assert_array_equal(movie[:], MOVIE)
    zarr.save_array(str(tmp_path / "a.zarr"), MOVIE)
    with read_movie(tmp_path / "a.zarr") as movie:
        np.testing.assert_array_equal(movie[1], MOVIE[1])


def test_nwb_two_photon_series_with_timestamps(tmp_path: Path) -> None:
    nwb = NWBFile(session_description="movie", identifier="m",
                  session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    device = nwb.create_device(name="scope")
    plane = nwb.create_imaging_plane(
        name="plane", optical_channel=OpticalChannel(name="g", description="g",
                                                     emission_lambda=520.0),
        imaging_rate=20.0, description="", device=device, excitation_lambda=920.0,
        indicator="GCaMP6f", location="V1")
    nwb.add_acquisition(TwoPhotonSeries(name="TwoPhotonSeries", data=MOVIE, imaging_plane=plane,
                                        timestamps=np.arange(23) / 20.0, unit="n.a."))
    with NWBHDF5IO(str(tmp_path / "m.nwb"), "w") as io:
        io.write(nwb)
    with read_movie(tmp_path / "m.nwb") as movie:
        assert movie.fs == pytest.approx(20.0) and "TwoPhotonSeries" in movie.source
        assert movie.imaging == "two-photon"
        np.testing.assert_array_equal(movie[5:9], MOVIE[5:9])


def test_real_movies(shared_data: Path) -> None:
    sima = shared_data / "movies" / "sima"
    with read_movie(sima / "example.tif") as tif, \
            read_movie(sima / "example.h5", axes="YXT") as h5:
        assert tif.shape == h5.shape == (20, 128, 256)
        assert tif.file_dtype == np.uint16
        np.testing.assert_array_equal(tif[:], h5[:])
    inscopix = shared_data / "movies" / "inscopix"
    with read_movie(inscopix / "one_photon_63x123x108.tiff") as movie:
        assert movie.shape == (63, 123, 108) and movie.fs is None
        assert movie.imaging is None  # a TIFF does not say
    with read_movie(inscopix / "miniscope_200x35x29.nwb") as movie:
        assert movie.shape == (200, 35, 29) and movie.fs == pytest.approx(5.56)
        assert movie.imaging == "one-photon"  # an NWB OnePhotonSeries
        assert np.isfinite(movie[199]).all()


def test_bad_movies_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such movie"):
        read_movie(tmp_path / "missing.tif")
    (tmp_path / "m.avi").write_bytes(b"x")
    with pytest.raises(InputError, match="not a movie format"):
        read_movie(tmp_path / "m.avi")
    (tmp_path / "broken.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(InputError, match="cannot read this TIFF"):
        read_movie(tmp_path / "broken.tif")
    np.save(tmp_path / "frame.npy", MOVIE[:1])
    with pytest.raises(InputError, match="1 frame.*--axes"):
        read_movie(tmp_path / "frame.npy")
    np.save(tmp_path / "m.npy", MOVIE)
    with pytest.raises(InputError, match="cannot have axes 'TY'"):
        read_movie(tmp_path / "m.npy", axes="TY")
    with pytest.raises(InputError, match="one channel"):
        read_movie(tmp_path / "m.npy", channel=2)
    with pytest.raises(InputError, match="leave --key out"):
        read_movie(tmp_path / "m.npy", key="data")
    with pytest.raises(InputError, match="positive"):
        read_movie(tmp_path / "m.npy", fs=-3)
    np.save(tmp_path / "volume.npy", np.zeros((4, 3, 8, 8)))
    with pytest.raises(InputError, match="several frame axes"):
        read_movie(tmp_path / "volume.npy", axes="TZYX")
    with pytest.raises(InputError, match="suffixes"):
        write_movie(tmp_path / "out.avi", MOVIE)

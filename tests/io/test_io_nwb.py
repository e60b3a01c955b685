"""Reading ROI traces and ROIs from NWB files, written here with pynwb as a lab would."""

from __future__ import annotations

import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile, validate
from pynwb.base import Images
from pynwb.image import GrayscaleImage
from pynwb.ophys import (DfOverF, Fluorescence, ImageSegmentation, OpticalChannel,
                         RoiResponseSeries)
from typer.testing import CliRunner

from calscope.cli import app
from calscope.errors import InputError
from calscope.io import read_traces
from calscope.io.nwb import read_nwb_fov
from calscope.io.shared_data import shared_data_dir

RNG = np.random.default_rng(5)
N, T, FS = 4, 500, 15.0
FIELD = (9, 7)  # not square: swapped axes show
IDS = [10, 11, 12, 13]
CORNERS = [(0, 0), (2, 4), (5, 1), (7, 4)]  # (y, x) of each ROI's 2 × 2 mask
ISCELL = [1, 0, 1, 1]
DFF = RNG.normal(0.1, 0.05, size=(T, N))  # frames × ROIs, as NWB stores it
F = 500 + RNG.normal(0, 5, size=(T, N)) + np.arange(N) * 50
FNEU = 100 + RNG.normal(0, 5, size=(T, N))


def mask(k: int) -> np.ndarray:
    """ROI ``k``'s image mask: 1 on a 2 × 2 square, 0.1 on the pixel to its right."""
    y, x = CORNERS[k]
    image = np.zeros(FIELD)
    image[y:y + 2, x:x + 2] = 1.0
    image[y, x + 2] = 0.1
    return image


def nwb_file(path: Path, series: dict[str, dict[str, np.ndarray]], *, pixel_masks: bool = False,
             iscell: list[int] | None = None, timestamps: bool = False,
             mean_image: bool = False) -> Path:
    """An ophys NWB file: one plane segmentation of the N ROIs, and for each container
    ("DfOverF", or a name for a Fluorescence container) its named RoiResponseSeries."""
    nwb = NWBFile(session_description="test", identifier=path.stem,
                  session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    device = nwb.create_device(name="microscope")
    plane = nwb.create_imaging_plane(
        name="plane", optical_channel=OpticalChannel(name="green", description="GCaMP",
                                                     emission_lambda=520.0),
        imaging_rate=FS, description="L2/3", device=device, excitation_lambda=920.0,
        indicator="GCaMP6f", location="V1")
    ophys = nwb.create_processing_module(name="ophys", description="segmented")
    segmentation = ImageSegmentation()
    ophys.add(segmentation)
    rois = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="ROIs",
                                                  imaging_plane=plane)
    if iscell is not None:
        rois.add_column(name="iscell", description="cell (1) or not (0), probability")
    for k, roi in enumerate(IDS):
        extra = {} if iscell is None else {"iscell": [float(iscell[k]), 0.9]}
        if pixel_masks:
            image = mask(k)
            ys, xs = np.nonzero(image)
            rois.add_roi(id=roi, pixel_mask=[(int(x), int(y), float(image[y, x]))
                                             for y, x in zip(ys, xs)], **extra)
        else:
            rois.add_roi(id=roi, image_mask=mask(k), **extra)
    if mean_image:
        ophys.add(Images(name="Backgrounds", images=[
            GrayscaleImage(name="meanImg", data=np.arange(63.0).reshape(FIELD))]))
    region = rois.create_roi_table_region(region=list(range(N)), description="every ROI")
    timing = ({"timestamps": np.arange(T) / FS + 3.0 + RNG.uniform(0, 1e-3, T)} if timestamps
              else {"rate": FS})
    with warnings.catch_warnings():  # hdmf: the region is not yet in the file when made
        warnings.filterwarnings("ignore", message="The linked table")
        for container, named in series.items():
            made = [RoiResponseSeries(name=name, data=data, rois=region, unit="n.a.", **timing)
                    for name, data in named.items()]
            kind = DfOverF if container == "DfOverF" else Fluorescence
            ophys.add(kind(name=container, roi_response_series=made))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def suite2p_like(path: Path, **options) -> Path:
    """Suite2p's export: Fluorescence, Neuropil and Deconvolved containers, an iscell column."""
    return nwb_file(path, {"Fluorescence": {"Fluorescence": F}, "Neuropil": {"Neuropil": FNEU},
                           "Deconvolved": {"Deconvolved": np.maximum(F - 520, 0)}},
                    iscell=ISCELL, **options)


def test_dff_series_is_read_as_rois_by_frames_with_its_rate_and_ids(tmp_path: Path) -> None:
    data = read_traces(nwb_file(tmp_path / "dff.nwb", {"DfOverF": {"RoiResponseSeries": DFF}}))
    assert (data.fmt, data.fs, data.raw_fluorescence) == ("nwb", FS, False)
    np.testing.assert_allclose(data.traces, DFF.T, rtol=1e-6)
    np.testing.assert_array_equal(data.rows, np.arange(N))
    assert data.names == tuple(f"roi {roi}" for roi in IDS)


def test_fluorescence_minus_neuropil_of_the_cells_only(tmp_path: Path) -> None:
    data = read_traces(suite2p_like(tmp_path / "s2p.nwb", timestamps=True))
    cells = np.flatnonzero(ISCELL)
    assert data.raw_fluorescence and data.fs == pytest.approx(FS, rel=1e-2)
    np.testing.assert_array_equal(data.rows, cells)
    assert data.names == tuple(f"roi {IDS[k]}" for k in cells)
    np.testing.assert_allclose(data.traces, (F - 0.7 * FNEU).T[cells], rtol=1e-6)
    every = read_traces(tmp_path / "s2p.nwb", all_rois=True)
    assert every.traces.shape == (N, T)


def test_several_dff_series_need_a_key(tmp_path: Path) -> None:
    path = nwb_file(tmp_path / "two.nwb",
                    {"DfOverF": {"plane0": DFF, "plane1": 2 * DFF}})
    with pytest.raises(InputError, match=r"2 ΔF/F series.*ophys/DfOverF/plane0.*--key"):
        read_traces(path)
    np.testing.assert_allclose(read_traces(path, key="plane1").traces, 2 * DFF.T, rtol=1e-6)
    np.testing.assert_allclose(read_traces(path, key="ophys/DfOverF/plane0").traces, DFF.T,
                               rtol=1e-6)
    with pytest.raises(InputError, match="'plane7' names no series"):
        read_traces(path, key="plane7")


def test_no_cell_in_iscell_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    path = nwb_file(tmp_path / "none.nwb", {"DfOverF": {"RoiResponseSeries": DFF}},
                    iscell=[0] * N)
    with pytest.raises(InputError, match="marks no ROI.*--all-rois"):
        read_traces(path)


def test_a_file_that_is_not_nwb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.nwb"
    path.write_bytes(b"not an HDF5 file")
    with pytest.raises(InputError, match="cannot read this NWB file"):
        read_traces(path)


def test_the_shared_movie_only_nwb_file_says_it_holds_no_traces() -> None:
    data = shared_data_dir()
    movie = None if data is None else data / "movies" / "inscopix" / "miniscope_200x35x29.nwb"
    if movie is None or not movie.is_file():
        pytest.skip("shared data (movies/inscopix/miniscope_200x35x29.nwb) is not available")
    with pytest.raises(InputError, match="no ROI traces.*movie"):
        read_traces(movie)


@pytest.mark.parametrize("pixel_masks, mean_image, kind", [
    (False, True, "mean image"), (False, False, "ROI masks (no image in the file)"),
    (True, False, "ROI masks (no image in the file)")])
def test_field_of_view_labels_each_rois_mask(tmp_path: Path, pixel_masks, mean_image,
                                             kind) -> None:
    path = nwb_file(tmp_path / "fov.nwb", {"DfOverF": {"RoiResponseSeries": DFF}},
                    pixel_masks=pixel_masks, mean_image=mean_image)
    rows = np.array([1, 3])
    fov = read_nwb_fov(path, rows)
    assert fov is not None and fov.kind == kind
    expected = np.zeros(FIELD, dtype=np.int32)
    for i, k in enumerate(rows):  # the 0.1 pixel is below the 20% threshold
        y, x = CORNERS[k]
        expected[y:y + 2, x:x + 2] = i + 1
    # pixel masks carry no field size: the smallest that holds the ROIs read
    np.testing.assert_array_equal(fov.labels, expected[:fov.labels.shape[0],
                                                       :fov.labels.shape[1]])
    assert fov.labels.shape == (FIELD if not pixel_masks else (9, 7))
    if mean_image:
        np.testing.assert_allclose(fov.image, np.arange(63.0).reshape(FIELD))


def test_deconvolve_and_analyze_read_an_nwb_file_without_fs(tmp_path: Path) -> None:
    path = suite2p_like(tmp_path / "s2p.nwb", mean_image=True)
    out = tmp_path / "spikes.npz"
    run = CliRunner().invoke(app, ["deconvolve", str(path), "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert "ΔF/F computed from the NWB file's fluorescence" in run.output
    with np.load(out) as saved:
        assert saved["spikes"].shape == (3, T)
        np.testing.assert_array_equal(saved["rows"], np.flatnonzero(ISCELL))
    analysis = tmp_path / "analysis"
    run = CliRunner().invoke(app, ["analyze", str(path), "--method", "oasis",
                                   "--out", str(analysis)])
    assert run.exit_code == 0, run.output
    assert (analysis / "figures" / "fov.png").is_file()
    with np.load(analysis / "results.npz") as saved:
        assert saved["fov_labels"].max() == 3


def test_deconvolve_writes_a_copy_of_the_nwb_file_with_the_spikes(tmp_path: Path) -> None:
    path = suite2p_like(tmp_path / "s2p.nwb", timestamps=True)
    before = path.read_bytes()
    out = tmp_path / "with_spikes.nwb"
    run = CliRunner().invoke(app, ["deconvolve", str(path), "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert path.read_bytes() == before  # the input is never changed
    assert validate(path=str(out)) == []  # pynwb's schema validator finds nothing wrong
    reference = tmp_path / "spikes.npz"
    made = CliRunner().invoke(app, ["deconvolve", str(path), "--out", str(reference)])
    assert made.exit_code == 0, made.output
    cells = np.flatnonzero(ISCELL)
    with NWBHDF5IO(str(out), "r") as io, np.load(reference) as saved:
        nwb = io.read()
        results = nwb.processing["ophys"]["calscope"]
        assert set(results.roi_response_series) == {"spikes", "lower", "upper"}
        spikes = results["spikes"]
        assert spikes.unit == "spikes per frame"
        np.testing.assert_allclose(spikes.data[:].T, saved["spikes"], rtol=1e-6)
        np.testing.assert_array_equal(spikes.rois.data[:], cells)
        assert spikes.rois.table is nwb.processing["ophys"]["ImageSegmentation"][
            "PlaneSegmentation"]
        np.testing.assert_array_equal(spikes.timestamps[:], nwb.processing["ophys"][
            "Fluorescence"]["Fluorescence"].timestamps[:])
        assert nwb.processing["ophys"]["Fluorescence"]["Fluorescence"].data.shape == (T, N)
    again = CliRunner().invoke(app, ["deconvolve", str(out), "--out", str(tmp_path / "x.nwb")])
    assert again.exit_code != 0 and "already holds calscope results" in again.output
    assert not (tmp_path / "x.nwb").exists()


def test_oasis_results_keep_the_inputs_units(tmp_path: Path) -> None:
    path = nwb_file(tmp_path / "dff.nwb", {"DfOverF": {"RoiResponseSeries": DFF}})
    out = tmp_path / "oasis.nwb"
    run = CliRunner().invoke(app, ["deconvolve", str(path), "--method", "oasis",
                                   "--out", str(out)])
    assert run.exit_code == 0, run.output
    with NWBHDF5IO(str(out), "r") as io:
        results = io.read().processing["ophys"]["calscope"]
        assert {"spikes", "calcium"} <= set(results.roi_response_series)
        assert results["spikes"].unit == "n.a." and results["spikes"].rate == FS
        assert results["spikes"].data.shape == (T, N)


@pytest.mark.parametrize("source, message", [("npy", "is npy: use .npz"),
                                             ("same", "is the NWB file read")])
def test_nwb_output_needs_another_file_of_an_nwb_input(tmp_path: Path, source, message) -> None:
    if source == "npy":
        path = tmp_path / "traces.npy"
        np.save(path, DFF.T)
        args = [str(path), "--fs", "15", "--out", str(tmp_path / "out.nwb")]
    else:
        path = nwb_file(tmp_path / "dff.nwb", {"DfOverF": {"RoiResponseSeries": DFF}})
        args = [str(path), "--out", str(path)]
    before = path.read_bytes()
    run = CliRunner().invoke(app, ["deconvolve", *args])
    assert run.exit_code != 0 and message in run.output
    assert path.read_bytes() == before

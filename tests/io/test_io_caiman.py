"""Reading CaImAn results files (the HDF5 of ``cnm.save``): ΔF/F of the accepted components."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse
from typer.testing import CliRunner

from calscope.cli import app
from calscope.errors import InputError
from calscope.io import read_traces
from calscope.io.caiman import read_caiman_fov

RNG = np.random.default_rng(3)
K, T, FS = 5, 600, 15.0
DENOISED = RNG.gamma(2.0, 0.5, size=(K, T))
RESIDUAL = RNG.normal(0, 0.1, size=(K, T))
DFF = RNG.normal(0.05, 0.02, size=(K, T))
DIMS = (8, 6)  # not square: a wrong pixel order shows
CENTRES = [(1, 1), (2, 4), (5, 0), (6, 3), (7, 5)]  # (y, x) peak of each footprint


def footprints() -> scipy.sparse.csc_matrix:
    """(pixels, K): each component a peak of 1 at its centre and 0.1 on the pixel below it,
    pixels in Fortran order as CaImAn stores them."""
    a = np.zeros((*DIMS, K))
    for k, (y, x) in enumerate(CENTRES):
        a[y, x, k], a[(y + 1) % DIMS[0], x, k] = 1.0, 0.1
    return scipy.sparse.csc_matrix(a.reshape(-1, K, order="F"))


def caiman_file(path: Path, *, dff: bool = True, accepted: object = (0, 2, 4),
                images: tuple[str, ...] = ("Cn", "b")) -> Path:
    """A file laid out as CaImAn's ``cnm.save`` writes it: fields that were None are the string
    "NoneType", sparse footprints are a group, the frame rate sits in params/data/fr."""
    with h5py.File(path, "w") as f:
        est = f.create_group("estimates")
        est["C"], est["YrA"] = DENOISED, RESIDUAL
        est["F_dff"] = DFF if dff else "NoneType"
        est["idx_components"] = "NoneType" if accepted is None else np.asarray(accepted, int)
        est["S"] = np.maximum(DENOISED - 1, 0)
        a = footprints()
        for name in ("data", "indices", "indptr"):
            est[f"A/{name}"] = getattr(a, name)
        est["A/shape"] = np.array(a.shape)
        est["dims"] = np.array(DIMS)
        est["Cn"] = np.arange(48.0).reshape(DIMS) / 48 if "Cn" in images else "NoneType"
        est["b"] = np.ones((48, 1)) if "b" in images else "NoneType"
        f["params/data/fr"] = FS
        f["params/data/fnames"] = np.array([b"movie.tif"])
        f["dview"] = "NoneType"
    return path


def test_dff_of_the_accepted_components_with_the_files_frame_rate(tmp_path: Path) -> None:
    data = read_traces(caiman_file(tmp_path / "cnm.hdf5"))
    assert (data.fmt, data.fs) == ("caiman", FS)
    np.testing.assert_array_equal(data.rows, [0, 2, 4])
    assert data.names == ("component 0", "component 2", "component 4")
    np.testing.assert_allclose(data.traces, DFF[[0, 2, 4]], rtol=1e-6)
    every = read_traces(tmp_path / "cnm.hdf5", all_rois=True, fs=30)
    assert every.fs == 30.0  # a given rate wins
    np.testing.assert_allclose(every.traces, DFF, rtol=1e-6)


def test_without_dff_the_raw_trace_is_read_with_a_warning(tmp_path: Path) -> None:
    path = caiman_file(tmp_path / "cnm.hdf5", dff=False, accepted=None)
    with pytest.warns(UserWarning, match="F_dff.*--method oasis"):
        data = read_traces(path)
    np.testing.assert_allclose(data.traces, DENOISED + RESIDUAL, rtol=1e-6)
    np.testing.assert_array_equal(data.rows, np.arange(K))  # no quality check: every component


def test_a_key_reads_that_dataset_as_plain_hdf5(tmp_path: Path) -> None:
    data = read_traces(caiman_file(tmp_path / "cnm.hdf5"), key="estimates/C", fs=FS)
    assert data.fmt == "h5"
    np.testing.assert_allclose(data.traces, DENOISED, rtol=1e-6)


@pytest.mark.parametrize("accepted, message", [((), "accepted no component.*--all-rois"),
                                               ((1, 7), "up to 7.*has 5")])
def test_bad_accepted_components_are_named(tmp_path: Path, accepted, message) -> None:
    with pytest.raises(InputError, match=message):
        read_traces(caiman_file(tmp_path / "cnm.hdf5", accepted=accepted))


def test_deconvolve_reads_a_caiman_file_without_fs(tmp_path: Path) -> None:
    path = caiman_file(tmp_path / "cnm.hdf5")
    out = tmp_path / "spikes.npz"
    run = CliRunner().invoke(app, ["deconvolve", str(path), "--out", str(out)])
    assert run.exit_code == 0, run.output
    with np.load(out) as saved:
        assert saved["spikes"].shape == (3, T)
        np.testing.assert_array_equal(saved["rows"], [0, 2, 4])


@pytest.mark.parametrize("images, kind", [(("Cn", "b"), "correlation image"),
                                          (("b",), "background image"),
                                          ((), "footprint weights (no Cn or b)")])
def test_field_of_view_labels_each_components_pixels(tmp_path: Path, images, kind) -> None:
    fov = read_caiman_fov(caiman_file(tmp_path / "cnm.hdf5", images=images), np.array([0, 2, 4]))
    assert fov.kind == kind and fov.image.shape == fov.labels.shape == DIMS
    expected = np.zeros(DIMS, dtype=np.int32)
    for i, k in enumerate((0, 2, 4)):  # the peak only: the 0.1 pixel is below the threshold
        expected[CENTRES[k]] = i + 1
    np.testing.assert_array_equal(fov.labels, expected)
    if kind == "correlation image":
        np.testing.assert_allclose(fov.image, np.arange(48.0).reshape(DIMS) / 48)


def test_analyze_draws_the_field_of_view_of_a_caiman_file(tmp_path: Path) -> None:
    path = caiman_file(tmp_path / "cnm.hdf5")
    out = tmp_path / "analysis"
    run = CliRunner().invoke(app, ["analyze", str(path), "--all-rois", "--method", "oasis",
                                   "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert (out / "figures" / "fov.png").is_file()
    with np.load(out / "results.npz") as saved:
        assert saved["fov_labels"].max() == K

"""A new NWB file from cells extracted from a movie: what DANDI and other NWB tools read.

Layout (pynwb's optical-physiology types): a ``Device`` and an ``ImagingPlane`` at the movie's
rate; in the ``ophys`` module, a ``PlaneSegmentation`` ("cells") with each component's
``pixel_mask`` (x = column, y = row, weight: its footprint) and the columns ``iscell`` (true
for the components accepted as cells, the column Suite2p's export has), ``snr`` and ``spatial_r``;
a ``DfOverF`` container with the ΔF/F of every component ("dff"); an ``Images`` container
("summary") with the mean image; optionally a ``Fluorescence`` container
(`calscope.io.nwb.RESULTS_CONTAINER`) with the spikes of the analysed cells, and a
``TimeSeries`` ("motion") with the rigid shifts. `calscope.io.read_traces` reads the file back
(the accepted cells' ΔF/F), and `calscope.io.nwb.read_nwb_fov` its cells over the mean image.
"""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

import calscope
from calscope.io.nwb import RESULTS_CONTAINER
from calscope.io.writers import atomic_path


@dataclass(frozen=True)
class CellsForNwb:
    """What goes into the file.

    Attributes:
        footprints: (Y*X, K) footprints (sparse or dense, C order, ≥ 0).
        shape: (Y, X) frame shape.
        dff: (K, T) ΔF/F of every component.
        accepted: (K,) bool, the components accepted as cells.
        snr, spatial_r: (K,) quality of each component.
        mean_image: (Y, X) mean image.
        fs: frame rate (Hz).
        spikes: (len(spike_rows), T) expected spikes per frame, or None.
        spike_rows: (n,) int, the components ``spikes`` belong to.
        shifts: (T, 2) rigid shifts (dy, dx) in pixels, or None.
    """

    footprints: scipy.sparse.spmatrix | np.ndarray
    shape: tuple[int, int]
    dff: np.ndarray
    accepted: np.ndarray
    snr: np.ndarray
    spatial_r: np.ndarray
    mean_image: np.ndarray
    fs: float
    spikes: np.ndarray | None = None
    spike_rows: np.ndarray | None = None
    shifts: np.ndarray | None = None


@dataclass(frozen=True)
class SubjectInfo:
    """The animal imaged: ``subject_id``, ``species`` (Latin binomial, e.g. "Mus musculus"),
    ``sex`` ("M", "F", "U" unknown, "O" other) and ``age`` (ISO 8601 duration, e.g. "P90D");
    None where not known."""

    subject_id: str = "unknown"
    species: str | None = None
    sex: str = "U"
    age: str | None = None


def write_cells_nwb(path: str | Path, cells: CellsForNwb, *, session_start: datetime,
                    description: str, source: str, subject: SubjectInfo | None = None,
                    location: str = "unknown", indicator: str = "unknown") -> Path:
    """Write ``cells`` to a new NWB file at ``path``, atomically.

    Args:
        path: the ``.nwb`` file.
        cells: `CellsForNwb`.
        session_start: when the recording started (timezone-aware).
        description: the session description.
        source: what the cells came from (stored as the segmentation's description).
        subject: the animal (DANDI asks for its id, species, sex and age); default: an
            unknown one.
        location: the imaged brain area (the imaging plane's location; an Allen CCF name
            such as "VISp" where it applies).
        indicator: the calcium indicator, e.g. "GCaMP6f".
    """
    from pynwb import NWBHDF5IO

    with warnings.catch_warnings():
        # hdmf warns while a region's series is not yet in the file; all of it is, in the end
        warnings.filterwarnings("ignore", message=".*does not share an ancestor.*")
        nwbfile = _nwb_file(cells, session_start, description, source,
                            subject or SubjectInfo(), location, indicator)
        with atomic_path(Path(path)) as temporary, NWBHDF5IO(str(temporary), mode="w") as out:
            out.write(nwbfile)
    return Path(path)


def _nwb_file(cells: CellsForNwb, session_start: datetime, description: str, source: str,
              subject: SubjectInfo, location: str, indicator: str) -> Any:
    """The in-memory NWBFile of `write_cells_nwb`."""
    from pynwb import NWBFile, TimeSeries
    from pynwb.base import Images
    from pynwb.file import Subject
    from pynwb.image import GrayscaleImage
    from pynwb.ophys import (DfOverF, Fluorescence, ImageSegmentation, OpticalChannel,
                             RoiResponseSeries)

    nwbfile = NWBFile(session_description=description, identifier=str(uuid.uuid4()),
                      session_start_time=session_start,
                      subject=Subject(subject_id=subject.subject_id, species=subject.species,
                                      sex=subject.sex, age=subject.age,
                                      description="the animal imaged"),
                      source_script=f"calscope {calscope.__version__}",
                      source_script_file_name="calscope")
    device = nwbfile.create_device(name="microscope", description="the microscope that "
                                   "recorded the movie (not stated by the movie)")
    plane = nwbfile.create_imaging_plane(
        name="plane", optical_channel=OpticalChannel(name="channel", description="imaged "
                                                     "channel", emission_lambda=np.nan),
        description="the plane of the movie", device=device, excitation_lambda=np.nan,
        indicator=indicator, location=location, imaging_rate=float(cells.fs))
    module = nwbfile.create_processing_module(name="ophys", description="cells extracted "
                                              "by calscope (CNMF)")
    segmentation = ImageSegmentation(name="ImageSegmentation")
    table = segmentation.create_plane_segmentation(
        name="cells", description=f"CNMF footprints of {source}", imaging_plane=plane)
    table.add_column(name="iscell", description="true: accepted as a cell by calscope's "
                     "quality test; false: kept but not accepted")
    table.add_column(name="snr", description="peak denoised calcium over the noise σ")
    table.add_column(name="spatial_r", description="correlation of the footprint with the "
                     "data during the cell's activity")
    footprints = scipy.sparse.csc_matrix(cells.footprints)
    width = cells.shape[1]
    for k in range(footprints.shape[1]):
        column = footprints[:, [k]].tocoo()
        y, x = np.divmod(column.row, width)
        table.add_roi(pixel_mask=[(int(xi), int(yi), float(w))
                                  for xi, yi, w in zip(x, y, column.data)],
                      iscell=bool(cells.accepted[k]), snr=float(cells.snr[k]),
                      spatial_r=float(cells.spatial_r[k]))
    module.add(segmentation)
    every = table.create_roi_table_region(region=list(range(footprints.shape[1])),
                                          description="every component")
    module.add(DfOverF(name="DfOverF", roi_response_series=[RoiResponseSeries(
        name="dff", data=np.asarray(cells.dff, dtype=np.float32).T, rois=every,
        unit="n.a.", rate=float(cells.fs), description="ΔF/F of each component")]))
    module.add(Images(name="summary", description="summary images of the movie",
                      images=[GrayscaleImage(name="mean", data=np.asarray(
                          cells.mean_image, dtype=np.float32),
                          description="mean image of the CNMF model")]))
    if cells.spikes is not None and cells.spike_rows is not None:
        region = table.create_roi_table_region(
            region=[int(r) for r in cells.spike_rows], description="the analysed cells")
        module.add(Fluorescence(name=RESULTS_CONTAINER, roi_response_series=[
            RoiResponseSeries(name="spikes", data=np.asarray(cells.spikes, np.float32).T,
                              rois=region, unit="spikes per frame", rate=float(cells.fs),
                              description="calscope's expected spikes per frame")]))
    if cells.shifts is not None:
        module.add(TimeSeries(name="motion", data=np.asarray(cells.shifts, np.float32),
                              unit="pixels", rate=float(cells.fs),
                              description="rigid shift (dy, dx) of each frame's content "
                              "from the template, as calscope.motion measured it"))
    return nwbfile

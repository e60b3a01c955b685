"""The field of view of a Suite2p output folder: its mean image and ROI label image.

``stat.npy`` gives each ROI's pixels (``ypix``, ``xpix``, weights ``lam``); ``ops.npy``, when
present, gives the mean image (``meanImg``) and the field size (``Ly``, ``Lx``). Without
``ops.npy`` the image is the ROIs' own weight map, and ``kind`` says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from calscope.errors import InputError, unreadable
from calscope.io.fov import FieldOfView


def _plane(folder: Path) -> Path | None:
    for candidate in (folder, folder / "plane0", folder / "suite2p" / "plane0"):
        if (candidate / "stat.npy").is_file():
            return candidate
    return None


def _load(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=True)  # Suite2p stores dicts: object arrays
    except (OSError, ValueError) as error:
        raise unreadable(path, "Suite2p .npy", error) from error


def read_suite2p_fov(folder: str | Path, rows: np.ndarray) -> FieldOfView | None:
    """The field of view of the Suite2p ROIs ``rows`` (indices into ``stat.npy``), or None
    when ``folder`` has no ``stat.npy``.

    Raises:
        InputError: ``stat.npy`` is unreadable or does not hold ROIs for ``rows``.
    """
    plane = _plane(Path(folder))
    if plane is None:
        return None
    stat = _load(plane / "stat.npy")
    if stat.dtype != object or np.max(rows, initial=-1) >= len(stat):
        raise InputError(f"{plane / 'stat.npy'}: does not hold the {len(rows)} ROIs read from "
                         "F.npy; both must come from the same Suite2p run")
    ops_path = plane / "ops.npy"
    ops = _load(ops_path).item() if ops_path.is_file() else {}
    shape = (int(ops.get("Ly", 0)), int(ops.get("Lx", 0)))
    if not all(shape):
        shape = (max(int(np.max(s["ypix"])) for s in stat) + 1,
                 max(int(np.max(s["xpix"])) for s in stat) + 1)
    labels = np.zeros(shape, dtype=np.int32)
    weights = np.zeros(shape, dtype=np.float32)
    for i, row in enumerate(rows):
        roi = stat[int(row)]
        y, x = np.asarray(roi["ypix"]), np.asarray(roi["xpix"])
        inside = (y >= 0) & (y < shape[0]) & (x >= 0) & (x < shape[1])
        labels[y[inside], x[inside]] = i + 1
        lam = np.asarray(roi.get("lam", np.ones(len(y))), dtype=np.float32)
        weights[y[inside], x[inside]] += lam[inside] / max(float(lam.max(initial=0.0)), 1e-12)
    image = ops.get("meanImg")
    if image is not None and np.shape(image) == shape:
        return FieldOfView(np.asarray(image, dtype=np.float32), labels, "mean image")
    return FieldOfView(weights, labels, "ROI weights (no ops.npy)")

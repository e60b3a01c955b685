"""Cell extraction against Suite2p's: which simulated cells each finds, how well its traces
follow their calcium, and how long it takes, in one run.

Movies from ``calscope.simulate.movie`` (30 Hz GCaMP6f, known footprints and calcium, no
motion: registration is `motion_accuracy.py`'s subject), rounded to uint16 photon counts;
Suite2p gets the same values as int16. Cases (``--side``, 256; ``--frames``, 3000):

1. ``default``: 80 cells per 256², the simulator's default SNR 5 and neuropil;
2. ``low SNR``: the same at SNR 3;
3. ``dense``: 160 cells per 256²;
4. ``one-photon``: 80 cells per 256² under out-of-focus light (``out_of_focus`` 1: blurred
   active cells resting at the background's level at their peaks), calscope with the ring
   background (``background: ring``, as a user would set it for a one-photon movie);
5. ``large`` (``--large-side``, 512; 0 skips it): 320 cells at 512², which calscope cuts
   into spatial patches (its default ``patch_px`` 128).

Each tool runs with its defaults and the facts a user gives it: calscope ``cnmf`` with
``CnmfSettings()`` (``cell_radius_px`` 6 for the simulator's 5 px radius at e⁻², as a user
would round it), Suite2p ``default_ops()`` with ``fs`` 30, ``tau`` 0.7 (GCaMP6f) and
``diameter`` 12 (its automatic spatial scale needs a one-line shim with this numpy: 0.14.6's
``estimate_spatial_scale`` returns a (1,) array that ``sparsery`` passes to ``int()``; the
shim returns its one element); its detection (``detection_wrapper``: sparse mode, PCA denoising), trace
extraction (``extraction_wrapper``) and its built-in classifier (``classify``), whose cells
(iscell) are compared with calscope's accepted components.

Scores against the truth (`calscope.metrics.match_footprints`: masks at 20% of each
footprint's peak, one-to-one by IoU ≥ 0.3): precision, recall, F1, median IoU of the matched;
F1 of centroids matched one-to-one within 4 px (blind to the ROIs' shapes: Suite2p's ROIs
are pixel sets of its own making, not fitted footprints);
median Pearson r of each matched cell's trace with its true calcium (calscope: ``traces``,
the denoised CNMF trace, and ``dff``; Suite2p: F − 0.7·Fneu); wall time of each tool on the
same in-memory movie (ratio: calscope / Suite2p), after an untimed warm-up of both on a small
movie (numba's compilation). ``NUMBA_THREADING_LAYER=workqueue`` as in
``motion_accuracy.py``.

Run: ``PYTHONPATH=bench/.venvs/suite2p-nodeps python bench/extraction_accuracy.py [--quick]
[--frames 3000] [--side 256] [--large-side 512] [--seed 0] [--only CASE] [--out JSON]``; Suite2p's classifier needs
scikit-learn in that folder too (bench/README.md). Writes bench/results/extraction_accuracy.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # before numba loads

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, format_table, write_json  # noqa: E402
from suite2p_peer import load_suite2p  # noqa: E402

from calscope import simulate  # noqa: E402
from calscope.config import CnmfSettings  # noqa: E402
from calscope.extract import cnmf  # noqa: E402
from calscope.metrics import match_footprints  # noqa: E402

FS = 30.0
CENTROID_PX = 4.0  # centroids this close count as one cell (the simulated radius is 5 px)



def cases(args: argparse.Namespace) -> list[dict[str, Any]]:
    per_area = (args.side / 256) ** 2
    listed = [{"name": "default", "side": args.side, "cells": int(80 * per_area), "snr": 5.0},
              {"name": "low SNR", "side": args.side, "cells": int(80 * per_area), "snr": 3.0},
              {"name": "dense", "side": args.side, "cells": int(160 * per_area), "snr": 5.0},
              {"name": "one-photon", "side": args.side, "cells": int(80 * per_area),
               "snr": 5.0, "out_of_focus": 1.0, "cnmf": {"background": "ring"}}]
    if args.large_side:
        listed.append({"name": "large", "side": args.large_side,
                       "cells": int(80 * (args.large_side / 256) ** 2), "snr": 5.0})
    return listed


def run_calscope(movie: np.ndarray, settings: dict[str, Any] | None = None
                 ) -> tuple[scipy.sparse.csc_matrix, dict[str, np.ndarray]]:
    sources = cnmf(movie, FS, CnmfSettings(**(settings or {})))
    keep = sources.accepted
    return sources.footprints[:, keep], {"traces": sources.traces[keep],
                                         "dff": sources.dff[keep]}


def run_suite2p(suite2p: Any, movie: np.ndarray
                ) -> tuple[scipy.sparse.csc_matrix, dict[str, np.ndarray]]:
    from suite2p.classification import builtin_classfile, classify
    from suite2p.detection.detect import detection_wrapper
    from suite2p.extraction.extract import extraction_wrapper

    from suite2p.detection import sparsedetect

    estimate = sparsedetect.estimate_spatial_scale
    if not getattr(estimate, "calscope_shim", False):
        def scalar_scale(I: np.ndarray) -> int:  # noqa: E741 (Suite2p's keyword) 0.14.6
            return int(np.ravel(estimate(I=I))[0])  # returns a (1,) array

        scalar_scale.calscope_shim = True  # type: ignore[attr-defined]
        sparsedetect.estimate_spatial_scale = scalar_scale
    n_frames, height, width = movie.shape
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
        ops = suite2p.default_ops()
        ops.update(fs=FS, tau=0.7, diameter=12, Ly=height, Lx=width, nframes=n_frames,
                   save_path=folder)
        try:
            ops, stat = detection_wrapper(movie, ops=ops)
        except ValueError as error:  # Suite2p raises when it finds no ROI at all
            if "no ROIs" not in str(error):
                raise
            return scipy.sparse.csc_matrix((height * width, 0)), {
                "F - 0.7 Fneu": np.zeros((0, n_frames))}
        stat, f, fneu, _, _ = extraction_wrapper(stat, movie, ops=ops)
        iscell = classify(stat=stat, classfile=builtin_classfile)[:, 0].astype(bool)
    columns = [scipy.sparse.csc_matrix(
        (np.asarray(s["lam"], dtype=np.float64),
         (np.asarray(s["ypix"]) * width + np.asarray(s["xpix"]), np.zeros(len(s["lam"]), int))),
        shape=(height * width, 1)) for s, cell in zip(stat, iscell) if cell]
    found = (scipy.sparse.hstack(columns, format="csc") if columns
             else scipy.sparse.csc_matrix((height * width, 0)))
    return found, {"F - 0.7 Fneu": (f - 0.7 * fneu)[iscell]}


def centroid_f1(found: scipy.sparse.csc_matrix, truth: Any, width: int) -> float:
    """F1 of a one-to-one matching (Hungarian) of footprint centroids within
    `CENTROID_PX` pixels: a looser test than masks' IoU, blind to the ROIs' shapes."""
    def centroids(matrix: Any) -> np.ndarray:
        dense = matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
        ys, xs = np.divmod(np.arange(dense.shape[0]), width)
        weight = np.maximum(dense.sum(axis=0), 1e-300)
        return np.stack([ys @ dense / weight, xs @ dense / weight], axis=1)

    if found.shape[1] == 0:
        return 0.0
    a, b = centroids(found), centroids(truth)
    distance = np.linalg.norm(a[:, None] - b[None], axis=2)
    rows, cols = linear_sum_assignment(distance)
    matched = int((distance[rows, cols] <= CENTROID_PX).sum())
    return 2.0 * matched / (len(a) + len(b))


def score(found: scipy.sparse.csc_matrix, traces: dict[str, np.ndarray],
          sim: simulate.SimulatedMovie) -> dict[str, Any]:
    match = match_footprints(found, sim.footprints)
    row = {"found": int(found.shape[1]), "precision": match.precision,
           "recall": match.recall, "f1": match.f1,
           "f1_centroid": centroid_f1(found, sim.footprints, sim.movie.shape[2]),
           "median_iou": float(np.median(match.iou)) if match.iou.size else float("nan")}
    for name, values in traces.items():
        r = [np.corrcoef(values[i], sim.calcium[j])[0, 1] for i, j in match.pairs]
        row[f"median_r_{name}"] = float(np.median(r)) if r else float("nan")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--large-side", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append", default=None,
                        help="run only this case (default, 'low SNR', dense, one-photon, "
                        "large); repeatable")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "extraction_accuracy.json")
    parser.add_argument("--quick", action="store_true", help="600 frames of 128², no large case")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.side, args.large_side = 600, 128, 0
    suite2p, why = load_suite2p(("suite2p.classification",  # its classifier: scikit-learn
                                 "suite2p.detection.detect"))
    if why:
        print(f"Suite2p: {why}")
    # untimed warm-up of both on a small movie: numba compiles Suite2p's loops on first use
    # (calscope's are cached on disk), which would otherwise count in the first case
    small = np.round(simulate.movie(10, 300, (64, 64), motion_px=0, seed=1).movie)
    run_calscope(small.astype(np.float32))
    if suite2p is not None:
        run_suite2p(suite2p, small.astype(np.int16))
    rows, records = [], []
    for case in cases(args):
        if args.only and case["name"] not in args.only:
            continue
        sim = simulate.movie(case["cells"], args.frames, (case["side"], case["side"]),
                             snr=case["snr"], motion_px=0, seed=args.seed,
                             out_of_focus=case.get("out_of_focus", 0.0))
        counts = np.clip(np.round(sim.movie), 0, 65535).astype(np.uint16)
        record: dict[str, Any] = {**case, "frames": args.frames}
        start = time.perf_counter()
        record["calscope"] = score(*run_calscope(counts.astype(np.float32), case.get("cnmf")),
                                   sim)
        record["calscope"]["seconds"] = time.perf_counter() - start
        if suite2p is not None:
            start = time.perf_counter()
            record["suite2p"] = score(*run_suite2p(suite2p, counts.astype(np.int16)), sim)
            record["suite2p"]["seconds"] = time.perf_counter() - start
        records.append(record)
        for tool in ("calscope", "suite2p"):
            if tool in record:
                res = record[tool]
                trace = res.get("median_r_traces", res.get("median_r_F - 0.7 Fneu"))
                ratio = (record["calscope"]["seconds"] / record["suite2p"]["seconds"]
                         if "suite2p" in record and tool == "calscope" else float("nan"))
                rows.append([case["name"], f"{case['side']}², {case['cells']}", tool,
                             res["found"], res["precision"], res["recall"], res["f1"],
                             res["f1_centroid"], res["median_iou"], trace, res.get("median_r_dff", float("nan")),
                             f"{res['seconds']:.0f}", ratio])
        print(format_table(["case", "side, cells", "tool", "cells found", "precision",
                            "recall", "F1", "F1 centroids", "median IoU", "median r trace", "median r ΔF/F",
                            "seconds", "time ratio calscope/Suite2p"], rows[-2:]), flush=True)
    table = format_table(["case", "side, cells", "tool", "cells found", "precision", "recall",
                          "F1", "F1 centroids", "median IoU", "median r trace", "median r ΔF/F", "seconds",
                          "time ratio calscope/Suite2p"], rows)
    print(table)
    write_json(args.out,
               {"args": vars(args), "suite2p": why or "used", "cases": records,
                "table": table}, extra_packages=("suite2p", "scikit-learn"))


if __name__ == "__main__":
    main()

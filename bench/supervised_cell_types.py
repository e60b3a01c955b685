"""Supervised models of one cell type against the model of every cell type, on real ground truth.

How many spikes a unit of ΔF/F stands for depends on the cell type (`calscope.infer.cell_types`).
For every CASCADE dataset this puts side by side, all out of sample:

- ``any``: the leave-one-dataset-out fold trained on every other dataset
  (``bench/supervised_loo.py``, folds in ``--any-folds``);
- ``own type``: the fold trained on the other datasets of the dataset's own cell type
  (``supervised_loo.py --never-train <the other type's datasets>``, folds in
  ``--type-folds/<type>``);
- ``other type``: the shipped model of the other cell type, which never saw a dataset of this
  one's type (what a user who picks the wrong type gets);
- calscope's OASIS on the same recordings (from the fold files).

Each at the network alone (``oasis_blend`` 0) and at the default blend, with the median count
bias per dataset (CASCADE's: (Σ pred − Σ true) / Σ true per neuron, median over neurons), and
at the default blend once more with the recordings downsampled to 7.5 Hz (``low_rate_scores``
of ``supervised_loo.py``).
Only the ``other type`` column runs inference here; the rest is read from the fold files.

Run: ``python bench/supervised_cell_types.py [--any-folds DIR] [--type-folds DIR]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, format_table, write_json  # noqa: E402
from supervised_loo import (FOLD_DIR, GROUPS, _infer, count_stats, fold_file,  # noqa: E402
                            held_out_traces, low_rate_scores, scores)

from calscope import metrics  # noqa: E402
from calscope.config import SupervisedSettings  # noqa: E402
from calscope.infer import supervised  # noqa: E402
from calscope.infer.cell_types import dataset_cell_type  # noqa: E402
from calscope.io.shared_data import shared_data_dir  # noqa: E402

OTHER = {"excitatory": "inhibitory", "inhibitory": "excitatory"}
WEIGHT = str(SupervisedSettings().oasis_blend)


def fold_of(folder: Path, dataset: str) -> dict | None:
    """The fold file in ``folder`` that held ``dataset`` out, or None."""
    for group, members in GROUPS.items():
        path = folder / f"{fold_file(group)}.json"
        if any(dataset.startswith(m) for m in members) and path.is_file():
            return json.loads(path.read_text())
    return None


def other_type_scores(data: Path) -> dict[str, dict[str, float]]:
    """Per dataset: r (network alone, default blend, default blend at 7.5 Hz) and count bias of
    the shipped model of the other cell type."""
    out: dict[str, dict[str, float]] = {}
    for group in GROUPS:
        traces = held_out_traces(group, data)
        for cell_type in OTHER:
            mine = [tr for tr in traces if dataset_cell_type(tr.dataset) == cell_type]
            if not mine:
                continue
            model = supervised.load(cell_type=OTHER[cell_type])
            alone = [_infer(model.with_oasis_blend(0.0), tr) for tr in mine]
            blended = [_infer(model, tr) for tr in mine]
            r0 = metrics.score_predictions(mine, alone)["per_dataset"]
            rw = metrics.score_predictions(mine, blended)["per_dataset"]
            bias = count_stats(alone, mine)
            low = low_rate_scores(model, mine)[WEIGHT]
            for ds in r0:
                out[ds] = {"alone": r0[ds], "blend": rw[ds], "bias": bias[ds]["bias"],
                           "low": low[ds]}
        print(f"  {group} scored with the other type's model", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--any-folds", type=Path, default=FOLD_DIR)
    p.add_argument("--type-folds", type=Path, default=RESULTS_DIR / "supervised_loo_exp",
                   help="holds excitatory/ and inhibitory/ fold folders")
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "supervised_cell_types.json")
    args = p.parse_args()
    torch.set_num_threads(2)
    data = args.data or shared_data_dir()
    other = other_type_scores(data)
    rows = []
    for ds in sorted(other):
        cell_type = dataset_cell_type(ds)
        anyf, own = fold_of(args.any_folds, ds), fold_of(args.type_folds / cell_type, ds)
        if anyf is None or own is None:
            print(f"  {ds}: no fold file, left out", flush=True)
            continue
        rows.append([ds, cell_type, anyf["oasis"][ds],
                     scores(anyf, WEIGHT)[ds], scores(own, WEIGHT)[ds], other[ds]["blend"],
                     anyf["supervised"][ds], own["supervised"][ds], other[ds]["alone"],
                     anyf["counts"][ds]["bias"], own["counts"][ds]["bias"], other[ds]["bias"],
                     anyf["low_rate"]["oasis"][ds], anyf["low_rate"][WEIGHT][ds],
                     own["low_rate"][WEIGHT][ds], other[ds]["low"]])
    header = ["dataset", "type", "OASIS", f"any (w {WEIGHT})", f"own type (w {WEIGHT})",
              f"other type (w {WEIGHT})", "any alone", "own alone", "other alone",
              "bias any", "bias own", "bias other",
              "7.5 Hz OASIS", "7.5 Hz any", "7.5 Hz own", "7.5 Hz other"]
    r = np.array([row[2:] for row in rows], dtype=float)
    summary = {
        "mean": dict(zip(header[2:], r.mean(axis=0))),
        "better_than_oasis": {h: int((r[:, k] > r[:, 0]).sum())
                              for k, h in enumerate(header[2:9]) if k},
        "better_than_oasis_7.5_Hz": {h: int((r[:, k] > r[:, 10]).sum())
                                     for k, h in zip((11, 12, 13), header[13:])},
        "median_abs_log_count_ratio": {h: float(np.median(np.abs(np.log1p(r[:, k]))))
                                       for k, h in zip((7, 8, 9), header[9:])},
        "datasets": len(rows),
    }
    table = rows + [["mean", "", *r.mean(axis=0)]]
    print(format_table(header, table))
    print("better than OASIS:", summary["better_than_oasis"], f"of {len(rows)}")
    print("at 7.5 Hz:", summary["better_than_oasis_7.5_Hz"], f"of {len(rows)}")
    print("median over datasets of |log(1 + count bias)|:",
          {k: round(v, 3) for k, v in summary["median_abs_log_count_ratio"].items()})
    write_json(args.out, {"table": {"header": header, "rows": table}, "summary": summary,
                          "weight": WEIGHT})


if __name__ == "__main__":
    main()

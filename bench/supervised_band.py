"""How often the supervised model's 90% band holds the truth, on recordings it never saw.

``SupervisedModel.infer`` gives ``lower``/``upper``: the 5th and 95th percentiles of the spike
count per frame smoothed with the training target's Gaussian (``target_sigma_s``, 50 ms). A
calibrated band holds the smoothed true count in 90% of frames, with 5% below ``lower`` and 5%
above ``upper``. This scores that, per held-out dataset, with the kept leave-one-dataset-out
fold models of ``supervised_loo.py`` (bench/.cache/supervised_loo/<experiment>/), on the 30 Hz
protocol grid at the settings' default blend (the band is the network's; the blend moves only
``spikes``, and the band is widened to hold it):

- ``in band``: fraction of frames with lower ≤ truth ≤ upper (± `TOLERANCE`), and the fractions
  below and above;
- ``… predicted``: the same over the frames where the model's expected count is ≥ `ACTIVE`
  spikes per frame (where it reports activity), so that the silent frames, where a band near 0
  holds the truth by default, do not dominate; selected by the prediction, not by the truth,
  whose large values fall above any band more often than 5% (selection on the outcome);
- ``width, predicted``: mean upper − lower (spikes per frame) over those frames.

Per neuron over all its recordings' frames, median over neurons per dataset (as r is scored);
means over the held-out datasets of each cell type (`calscope.infer.cell_types`: a fold of the
excitatory models also holds out the interneurons of its group, which no fold trains on).

Run: ``python bench/supervised_band.py [--experiment excitatory]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, format_table, write_json  # noqa: E402
from supervised_loo import CACHE_DIR, GROUPS, fold_file, held_out_traces  # noqa: E402

from calscope import metrics  # noqa: E402
from calscope.infer import supervised  # noqa: E402
from calscope.infer.cell_types import dataset_cell_type  # noqa: E402
from calscope.io.shared_data import shared_data_dir  # noqa: E402

#: expected spikes per frame from which a frame counts as one where the model predicts activity
ACTIVE = 0.05
#: spikes per frame by which the truth must leave the band to count as outside: the band's ends
#: are softplus outputs, never exactly 0, while the smoothed truth is exactly 0 in silence
TOLERANCE = 0.01
COLUMNS = ("in band", "below", "above", "in band, predicted", "below, predicted",
           "above, predicted", "width, predicted")


def neuron_band_stats(spikes: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                      truth: np.ndarray) -> list[float]:
    """`COLUMNS` for one neuron: (frames,) expected count, band and smoothed truth, all its
    recordings joined."""
    below, above = truth < lower - TOLERANCE, truth > upper + TOLERANCE
    inside = ~below & ~above
    active = spikes >= ACTIVE
    if not active.any():
        return [inside.mean(), below.mean(), above.mean(), *[np.nan] * 4]
    return [inside.mean(), below.mean(), above.mean(), inside[active].mean(),
            below[active].mean(), above[active].mean(), (upper - lower)[active].mean()]


def fold_band_stats(model: supervised.SupervisedModel,
                    traces: list[metrics.ScoringTrace]) -> dict[str, list[float]]:
    """Per held-out dataset, `COLUMNS` (median over its neurons)."""
    sigma = model.settings.target_sigma_s
    frames: dict[tuple[str, str], list[tuple[np.ndarray, ...]]] = {}
    for tr in traces:
        if not np.any(tr.counts > 0):
            continue
        res = model.infer(tr.dff, tr.fs)
        truth = metrics.gaussian_smooth(tr.counts, tr.fs, sigma)
        ok = np.isfinite(res.spikes)
        frames.setdefault((tr.dataset, tr.neuron), []).append(
            (res.spikes[ok], res.lower[ok], res.upper[ok], truth[ok]))
    per_dataset: dict[str, list[list[float]]] = {}
    for (ds, _), parts in frames.items():
        per_dataset.setdefault(ds, []).append(
            neuron_band_stats(*(np.concatenate(p) for p in zip(*parts))))
    return {ds: np.nanmedian(np.array(rows), axis=0).tolist()
            for ds, rows in per_dataset.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiment", default="excitatory",
                   help="folder of kept fold models under bench/.cache/supervised_loo")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None,
                   help="default: bench/results/supervised_band_<experiment>.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = shared_data_dir()
    rows = []
    for group in GROUPS:
        path = CACHE_DIR / args.experiment / f"{fold_file(group)}.pt"
        if not path.is_file():
            print(f"  {group}: no kept fold model, left out", flush=True)
            continue
        stats = fold_band_stats(supervised.load(path), held_out_traces(group, data))
        rows += [[ds, dataset_cell_type(ds), *v] for ds, v in sorted(stats.items())]
    r = np.array([row[2:] for row in rows], dtype=float)
    table = rows + [[f"mean, {kind}", "", *np.nanmean(r[[row[1] == kind for row in rows]], 0)]
                    for kind in sorted({row[1] for row in rows})]
    header = ["dataset", "type", *COLUMNS]
    print(format_table(header, table))
    out = args.out or RESULTS_DIR / f"supervised_band_{args.experiment}.json"
    write_json(out, {"experiment": args.experiment, "active": ACTIVE, "tolerance": TOLERANCE,
                     "table": {"header": header, "rows": table}})


if __name__ == "__main__":
    main()

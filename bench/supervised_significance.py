"""Is the supervised model better than OASIS on each dataset, beyond the luck of which neurons
were recorded?

A dataset's score is the median over its neurons of r (the 30 Hz protocol), and some datasets
hold 5 neurons: one neuron can then decide whether the model is above or below OASIS. This
compares the default model (out of sample) with calscope's OASIS per neuron, on the same
recordings, and says per dataset:

- ``Δ median``: the difference of the two dataset scores (model − OASIS);
- ``better`` / ``worse``: neurons where the model's r is above / below OASIS's;
- ``95% CI``: a paired bootstrap over neurons (`RESAMPLES` resamples of the dataset's neurons
  with replacement, both methods on the same resample) of Δ median;
- ``p``: the two-sided Wilcoxon signed-rank test of the per-neuron differences;
- ``verdict``: ``better`` or ``worse`` when the interval excludes 0, else ``undecided``.

The last row sums the neurons, counts the datasets with Δ median < 0 (in the ``Δ median``
column), sums the neurons better and worse, and counts the verdicts.

The model of each dataset is the kept leave-one-dataset-out fold model that held it out
(bench/.cache/supervised_loo/<experiment>/, from ``supervised_loo.py``), or, for groups that
the experiment never trained on (``--never-train``: no fold was run for them), the shipped model
of ``--cell-type`` after its card is checked not to list them. Inference at the settings'
default blend (`SupervisedSettings` ``oasis_blend`` and ``oasis_blend_form``, whatever the
kept models were saved with), or at ``--blend W`` / ``--blend-form linear|geometric``.

Run: ``python bench/supervised_significance.py [--experiment excitatory] [--blend 0.25]
[--blend-form linear] [--out FILE]``
"""

from __future__ import annotations

import argparse
import sys
from functools import cache
from pathlib import Path

import numpy as np
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, format_table, quiet_warnings, write_json  # noqa: E402
from supervised_loo import (CACHE_DIR, GROUPS, _infer, fold_file, held_out_traces,  # noqa: E402
                            oasis_predictions)

from calscope import metrics  # noqa: E402
from calscope.config import SupervisedSettings  # noqa: E402
from calscope.infer import supervised  # noqa: E402
from calscope.infer.blend import BLEND_FORMS  # noqa: E402
from calscope.io.shared_data import shared_data_dir  # noqa: E402

RESAMPLES = 2000
SEED = 0


def group_model(group: str, experiment: str, cell_type: str
                ) -> tuple[supervised.SupervisedModel | None, str]:
    """The model that never saw the group and where it comes from: its kept fold model
    (``"fold"``), else the shipped model of ``cell_type`` (``"shipped"``) when its card does not
    list any of the group's datasets; else ``(None, "")``."""
    kept = CACHE_DIR / experiment / f"{fold_file(group)}.pt"
    if kept.is_file():
        return supervised.load(kept), "fold"
    shipped = _shipped(cell_type)
    trained = shipped.card.get("datasets", [])
    if any(d.startswith(prefix) for d in trained for prefix in GROUPS[group]):
        return None, ""
    return shipped, "shipped"


@cache
def _shipped(cell_type: str) -> supervised.SupervisedModel:
    """The shipped model of ``cell_type``, read once for every group that needs it."""
    return supervised.load(cell_type=cell_type)


def per_neuron_r(traces: list[metrics.ScoringTrace], preds: list[np.ndarray | None]
                 ) -> dict[str, dict[str, float]]:
    """{dataset: {neuron: r}}, the protocol's per-neuron scores."""
    return metrics.score_predictions(traces, preds)["per_neuron"]


def compare(model_r: dict[str, float], oasis_r: dict[str, float],
            rng: np.random.Generator) -> dict[str, float | int | str]:
    """The comparison of one dataset (see the module docstring)."""
    neurons = sorted(model_r)
    a = np.array([model_r[n] for n in neurons])
    b = np.array([oasis_r[n] for n in neurons])
    diff = np.median(a) - np.median(b)
    picks = rng.integers(len(neurons), size=(RESAMPLES, len(neurons)))
    boot = np.median(a[picks], axis=1) - np.median(b[picks], axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    d = a - b
    p = float(stats.wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
    verdict = "better" if lo > 0 else "worse" if hi < 0 else "undecided"
    return {"neurons": len(neurons), "r": float(np.median(a)), "oasis": float(np.median(b)),
            "delta": float(diff), "better": int((d > 0).sum()), "worse": int((d < 0).sum()),
            "ci_low": float(lo), "ci_high": float(hi), "p": p, "verdict": verdict}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiment", default="excitatory",
                   help="folder of kept fold models under bench/.cache/supervised_loo")
    p.add_argument("--cell-type", default="excitatory",
                   help="shipped model used for groups without a fold model")
    p.add_argument("--blend", type=float, default=None,
                   help="oasis_blend weight at inference (default: the settings' default)")
    p.add_argument("--blend-form", choices=BLEND_FORMS, default=None,
                   help="oasis_blend_form at inference (default: the settings' default)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None,
                   help="default: bench/results/supervised_significance_<experiment>[_w<blend>]"
                        ".json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = shared_data_dir()
    rng = np.random.default_rng(SEED)
    defaults = SupervisedSettings()
    weight = defaults.oasis_blend if args.blend is None else args.blend
    form = args.blend_form or defaults.oasis_blend_form
    results: dict[str, dict] = {}
    for group in GROUPS:
        model, source = group_model(group, args.experiment, args.cell_type)
        if model is None:
            print(f"  {group}: no model that never saw it, left out", flush=True)
            continue
        model = model.with_oasis_blend(weight, form)
        traces = held_out_traces(group, data)
        with quiet_warnings():
            model_r = per_neuron_r(traces, [_infer(model, tr) for tr in traces])
        oasis_r = per_neuron_r(traces, oasis_predictions(traces))
        for ds in sorted(model_r):
            results[ds] = {"model": source, **compare(model_r[ds], oasis_r[ds], rng)}
            print(f"  {ds}: {results[ds]['verdict']} (Δ {results[ds]['delta']:+.3f})", flush=True)
    header = ["dataset", "neurons", "r (model)", "OASIS", "Δ median", "better", "worse",
              "95% CI", "p", "verdict"]
    rows = [[ds, r["neurons"], r["r"], r["oasis"], r["delta"], r["better"], r["worse"],
             f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]", r["p"], r["verdict"]]
            for ds, r in results.items()]
    verdicts = [r["verdict"] for r in results.values()]
    rows.append(["all datasets: neurons; datasets better / undecided / worse",
                 sum(r["neurons"] for r in results.values()), "", "",
                 sum(r["delta"] < 0 for r in results.values()),
                 sum(r["better"] for r in results.values()),
                 sum(r["worse"] for r in results.values()), "", "",
                 f"{verdicts.count('better')} / {verdicts.count('undecided')} / "
                 f"{verdicts.count('worse')}"])
    print(format_table(header, rows))
    suffix = ("" if args.blend is None else f"_w{args.blend:g}") + (
        "" if args.blend_form is None else f"_{args.blend_form}")
    out = args.out or RESULTS_DIR / f"supervised_significance_{args.experiment}{suffix}.json"
    write_json(out, {"experiment": args.experiment, "cell_type": args.cell_type,
                     "blend": weight, "blend_form": form,
                     "resamples": RESAMPLES, "seed": SEED, "datasets": results,
                     "table": {"header": header, "rows": rows}})


if __name__ == "__main__":
    main()

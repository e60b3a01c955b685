"""How the supervised network's output is mixed with OASIS: linear or geometric, which weight.

Every held-out recording (the 27 CASCADE datasets on calscope's 30 Hz protocol) is inferred
twice by the model that never saw it: the network alone (``oasis_blend`` 0) and calscope's
OASIS scaled to the network's count (``oasis_blend`` 1, linear). Every mix on the grid is then
made from those two with `calscope.infer.blend.blend_with_oasis` itself (at 30 Hz, as
`SupervisedModel.infer` does): the linear form, and the geometric form with OASIS spread by
σ = 0, 1 or 2 frames, each at the weights `WEIGHTS`. The model is the excitatory
leave-one-dataset-out fold model (bench/.cache/supervised_loo/excitatory/, from
``supervised_loo.py --never-train <the interneuron datasets> --folds-dir …/excitatory``), or,
for the interneuron-only groups, the shipped excitatory model (which never saw them): the
default model on every dataset, as in the tables of docs/supervised.md. ``--models NAME`` and
``--interneuron-model PATH`` score another recipe the same way (its fold models, kept under
bench/.cache/supervised_loo/NAME/, and its model trained on every excitatory dataset).

Besides each mix's mean r and record against OASIS, the mix is chosen for each held-out
dataset from the other 26 only (nested), by three rules: the best mean r; the best worst case
(largest min over datasets of r − OASIS); and the best mean among the mixes better than OASIS
on every other dataset (the worst case when none is). A stronger yardstick than OASIS is
scored beside them, not chosen from: calscope's OASIS spread by the same σ = 1 frame (a
smoothing anyone can apply to OASIS; the scoring's own 50 ms smoothing favours it too), with
the default mix's record against it. Spikefinder is not scored here: its
100 Hz recordings are mixed at 30 Hz inside the model, so ``supervised_loo.py`` scores it.

Run: ``python bench/supervised_blend_forms.py`` (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, format_table, quiet_warnings, write_json  # noqa: E402
from supervised_amortized import INTERNEURONS  # noqa: E402
from supervised_loo import (CACHE_DIR, GROUPS, _infer, fold_file, fold_model,  # noqa: E402
                            held_out_traces, oasis_predictions)

from calscope import metrics  # noqa: E402
from calscope.config import SupervisedSettings  # noqa: E402
from calscope.infer import supervised  # noqa: E402
from calscope.infer.blend import blend_with_oasis  # noqa: E402
from calscope.io.shared_data import shared_data_dir  # noqa: E402

WEIGHTS = (0.25, 0.5, 0.6, 0.65, 0.7, 0.75)
#: (form, σ of the spread of OASIS in frames) of every mix on the grid
FORMS = (("linear", 0.0), ("geometric", 0.0), ("geometric", 1.0), ("geometric", 2.0))
RULES = ("best mean", "best worst case", "best mean, never below OASIS")


def mix_name(form: str, spread: float, weight: float) -> str:
    return f"linear w{weight:g}" if form == "linear" else f"geometric σ{spread:g} w{weight:g}"


def group_predictions(group: str, data: Path, models: str = "excitatory",
                      interneuron_model: Path | None = None
                      ) -> tuple[list, dict[str, list], list]:
    """Held-out traces, every mix's predictions of them, and OASIS's: by the fold model kept
    under ``models``, or for interneuron-only groups ``interneuron_model`` (None: the shipped
    excitatory model)."""
    kept = CACHE_DIR / models / f"{fold_file(group)}.pt"
    if all(d in INTERNEURONS for d in GROUPS[group]):
        model = supervised.load(interneuron_model, None if interneuron_model else "excitatory")
    elif kept.is_file():  # whatever recipe it was trained with; the mixes set the blend
        model = supervised.load(kept)
    else:
        model, _ = fold_model(group, data, {}, CACHE_DIR / models, INTERNEURONS)
    traces = held_out_traces(group, data)
    with quiet_warnings():
        net = [_infer(model.with_oasis_blend(0.0), tr) for tr in traces]
        oasis = [_infer(model.with_oasis_blend(1.0, "linear"), tr) for tr in traces]
    mixes: dict[str, list] = {"network alone": net}
    for form, spread in FORMS:
        for w in WEIGHTS:
            mixes[mix_name(form, spread, w)] = [_mix(n, o, w, form, spread)
                                                for n, o in zip(net, oasis)]
    return traces, mixes, oasis_predictions(traces)


def spread(preds: list[np.ndarray | None], sigma: float) -> list[np.ndarray | None]:
    """Each prediction spread by a Gaussian of ``sigma`` frames (NaN frames stay NaN)."""
    return [None if p is None else
            np.where(np.isfinite(p), gaussian_filter1d(np.nan_to_num(p), sigma), np.nan)
            for p in preds]


def _mix(net: np.ndarray | None, oasis: np.ndarray | None, weight: float, form: str,
         spread: float) -> np.ndarray | None:
    if net is None or oasis is None:
        return None
    seen = np.isfinite(net)
    out = blend_with_oasis(np.nan_to_num(net)[None], np.nan_to_num(oasis)[None], weight,
                           seen[None], form, spread)[0]
    return np.where(seen, out, np.nan)


def nested(r: dict[str, dict[str, float]], oasis: dict[str, float], rule: str
           ) -> tuple[dict[str, float], dict[str, str]]:
    """Per dataset, the r of the mix chosen by ``rule`` on the other datasets, and the choice."""
    scored, chosen = {}, {}
    for ds in oasis:
        others = [o for o in oasis if o != ds]

        def key(mix: str) -> tuple:
            mean = float(np.mean([r[mix][o] for o in others]))
            worst = min(r[mix][o] - oasis[o] for o in others)
            if rule == "best mean":
                return (mean,)
            if rule == "best worst case":
                return (worst,)
            return (worst > 0, mean if worst > 0 else worst)

        chosen[ds] = max(r, key=key)
        scored[ds] = r[chosen[ds]][ds]
    return scored, chosen


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "supervised_blend_forms.json")
    p.add_argument("--models", default="excitatory",
                   help="folder of kept fold models under bench/.cache/supervised_loo")
    p.add_argument("--interneuron-model", type=Path, default=None,
                   help="model for the interneuron-only groups (default: the shipped "
                   "excitatory model)")
    args = p.parse_args()
    torch.set_num_threads(2)
    data = args.data or shared_data_dir()
    r: dict[str, dict[str, float]] = {}
    oasis_r: dict[str, float] = {}
    spread_r: dict[str, float] = {}
    for group in GROUPS:
        traces, mixes, oasis = group_predictions(group, data, args.models,
                                                 args.interneuron_model)
        for name, preds in mixes.items():
            r.setdefault(name, {}).update(metrics.score_predictions(traces, preds)["per_dataset"])
        oasis_r.update(metrics.score_predictions(traces, oasis)["per_dataset"])
        spread_r.update(metrics.score_predictions(traces, spread(oasis, 1.0))["per_dataset"])
        print(f"  {group} scored", flush=True)
    datasets = sorted(oasis_r)

    def record(per: dict[str, float]) -> list:
        diffs = [per[d] - oasis_r[d] for d in datasets]
        return [float(np.mean([per[d] for d in datasets])), sum(x > 0 for x in diffs),
                min(diffs), per["DS05-Cal520-zf-pDp"]]

    default = SupervisedSettings()
    rows = [[name, *record(per)] for name, per in r.items()]
    rows.append(["calscope OASIS", *record(oasis_r)])
    rows.append(["calscope OASIS spread σ1 (yardstick)", *record(spread_r)])
    header = ["mix", f"mean r ({len(datasets)} datasets)", "better than OASIS",
              "worst r − OASIS", "DS05"]
    print(format_table(header, rows))
    print(f"default: {default.oasis_blend_form} w {default.oasis_blend:g}")
    chosen_default = r[mix_name(default.oasis_blend_form, 1.0, default.oasis_blend)]
    against_spread = {d: chosen_default[d] - spread_r[d] for d in datasets}
    worst = min(against_spread, key=against_spread.get)
    better = sum(v > 0 for v in against_spread.values())
    print(f"default against OASIS spread σ1: better on {better} of {len(datasets)}, worst "
          f"{worst} {against_spread[worst]:+.4f}")
    chosen_rows, choices = [], {}
    for rule in RULES:
        per, chosen = nested(r, oasis_r, rule)
        choices[rule] = chosen
        chosen_rows.append([rule, *record(per), ", ".join(sorted(set(chosen.values())))])
    print("chosen for each dataset without it (nested):")
    print(format_table(["rule", *header[1:], "chosen"], chosen_rows))
    write_json(args.out, {"models": args.models,
                          "interneuron_model": str(args.interneuron_model or "shipped"),
                          "weights": WEIGHTS, "forms": FORMS, "per_dataset": r,
                          "oasis": oasis_r, "oasis_spread_1": spread_r,
                          "default_against_oasis_spread_1": against_spread,
                          "table": {"header": header, "rows": rows},
                          "nested": {"rows": chosen_rows, "chosen": choices}})


if __name__ == "__main__":
    main()

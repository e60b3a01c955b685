"""Leave-one-dataset-out accuracy of an ensemble of supervised networks, from kept fold models.

`supervised_loo.py` keeps every fold model in bench/.cache/supervised_loo/<experiment>/. This
script joins, per fold, the fold models of several experiments (e.g. the default settings at
seeds 0, 1 and 2) into one ensemble model, the members' networks averaged before the OASIS
blend (`calscope.infer.spikenet.SpikeEnsemble`, as a model trained with ``ensemble`` > 1 runs),
and scores the held-out recordings with the same protocol, next to each member alone and
calscope's OASIS, at several ``oasis_blend`` weights of one blend form (``--form``, default
the shipped model's).

Each fold's scores are written to ``<out without .json>/<group>.json`` as soon as they are done
and reused by a later run with the same members and form (so a run can be split or resumed;
the kept fold models are then not needed).

Run: ``python bench/supervised_ensemble.py --members baseline,context
[--groups DS09,DS17] [--out bench/results/supervised_ensemble.json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, format_table, write_json  # noqa: E402
from supervised_loo import (CACHE_DIR, GROUPS, _infer, fold_file,  # noqa: E402
                            held_out_traces, oasis_predictions, spikefinder_score)

from calscope import metrics  # noqa: E402
from calscope.config import SupervisedSettings  # noqa: E402
from calscope.infer import supervised  # noqa: E402
from calscope.infer.blend import BLEND_FORMS  # noqa: E402
from calscope.infer.spikenet import SpikeEnsemble  # noqa: E402
from calscope.io.shared_data import shared_data_dir  # noqa: E402

WEIGHTS = (0.0, 0.25, 0.5, 0.6)


def joined(members: list[supervised.SupervisedModel]) -> supervised.SupervisedModel:
    """One model whose network averages the members' (their first member's settings)."""
    first = members[0]
    return supervised.SupervisedModel(
        SpikeEnsemble([m.net for m in members]),
        first.settings.model_copy(update={"ensemble": len(members)}))


def score_fold(group: str, members: dict[str, supervised.SupervisedModel], data: Path,
               form: str) -> dict:
    traces = held_out_traces(group, data)
    out: dict = {"oasis": metrics.score_predictions(traces, oasis_predictions(traces))
                 ["per_dataset"], "weights": {}}
    for w in WEIGHTS:
        models = {name: m.with_oasis_blend(w, form) for name, m in members.items()}
        models["ensemble"] = joined(list(models.values()))
        scored = {}
        for name, model in models.items():
            t0 = time.perf_counter()
            preds = [_infer(model, tr) for tr in traces]
            scored[name] = {"r": metrics.score_predictions(traces, preds)["per_dataset"],
                            "infer_s": time.perf_counter() - t0,
                            "SF4": spikefinder_score(model, data, "4")}
            if group == "DS17":
                scored[name]["SF6"] = spikefinder_score(model, data, "6")
        out["weights"][str(w)] = scored
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", default="baseline,context",
                   help="experiments (folders under bench/.cache/supervised_loo), comma-separated")
    p.add_argument("--groups", default=",".join(GROUPS))
    p.add_argument("--form", choices=BLEND_FORMS, default=SupervisedSettings().oasis_blend_form,
                   help="the OASIS blend's form (default: the shipped models')")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "supervised_ensemble.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = shared_data_dir()
    names = args.members.split(",")
    folds = {}
    for group in args.groups.split(","):
        kept = args.out.with_suffix("") / f"{fold_file(group)}.json"
        stored = json.loads(kept.read_text()) if kept.is_file() else {}
        if stored.get("members") == names and stored.get("form", "linear") == args.form:
            folds[group] = stored
            continue
        paths = {n: CACHE_DIR / n / f"{fold_file(group)}.pt" for n in names}
        missing = [str(q) for q in paths.values() if not q.is_file()]
        if missing:
            raise SystemExit(f"fold {group}: no kept model {missing}; run supervised_loo.py "
                             "with --folds-dir bench/results/supervised_loo_exp/<experiment>")
        print(f"fold {group}", flush=True)
        folds[group] = score_fold(group, {n: supervised.load(q) for n, q in paths.items()}, data,
                                  args.form)
        write_json(kept, {"members": names, "form": args.form, **folds[group]})
    columns = [*names, "ensemble"]
    summary = []
    for w in next(iter(folds.values()))["weights"]:  # those a kept fold was scored at
        rows = [(ds, f["oasis"][ds], *[f["weights"][w][c]["r"][ds] for c in columns])
                for f in folds.values() for ds in sorted(f["oasis"])]
        r = np.array([row[1:] for row in rows])
        summary.append([w, r[:, 0].mean(), *r[:, 1:].mean(0),
                        *[int((r[:, k] > r[:, 0]).sum()) for k in range(1, r.shape[1])],
                        *[float(np.mean([f["weights"][w][c]["SF4"] for f in folds.values()]))
                          for c in columns],
                        *[f["weights"][w][c]["SF6"] for f in folds.values()
                          if "SF6" in f["weights"][w][columns[0]] for c in columns]])
        if w == str(SupervisedSettings().oasis_blend):
            print(format_table(["dataset", "OASIS", *columns], rows))
    sf6 = [f"SF6 {c}" for c in columns] if "DS17" in folds else []
    header = ["oasis_blend", "OASIS mean r", *[f"{c} mean r" for c in columns],
              *[f"{c} > OASIS" for c in columns], *[f"SF4 {c}" for c in columns], *sf6]
    print(format_table(header, summary))
    infer_s = {c: sum(f["weights"]["0.0"][c]["infer_s"] for f in folds.values()) for c in columns}
    print("inference seconds, network alone, all folds:",
          ", ".join(f"{c} {s:.1f}" for c, s in infer_s.items()))
    write_json(args.out, {"members": names, "form": args.form,
                          "summary": {"header": header, "rows": summary}, "infer_s": infer_s,
                          "folds": folds})


if __name__ == "__main__":
    main()

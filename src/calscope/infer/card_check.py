"""A supervised model card's reproducible check: which recordings it scores, reading them back,
and the score itself, which a loaded model must reproduce on the same recordings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from calscope import metrics
from calscope.errors import InputError
from calscope.io.ground_truth import GroundTruthRecording, load_cascade_dataset

if TYPE_CHECKING:
    from calscope.infer.supervised import SupervisedModel

#: recordings behind the card's check
CHECK_RECORDINGS = 3


def check_subset(recordings: Sequence[GroundTruthRecording]) -> list[GroundTruthRecording]:
    """The recordings a card's check scores: the first `CHECK_RECORDINGS` by dataset, neuron
    and trial."""
    return sorted(recordings, key=lambda r: (r.dataset, r.neuron, r.trial))[:CHECK_RECORDINGS]


def check_recordings(card: dict[str, Any], root: str | Path) -> list[GroundTruthRecording]:
    """The recordings of a model card's check, read from ``root`` (a folder of CASCADE dataset
    folders, e.g. ../shared/data/ground_truth/cascade): `slice_score` of the model on them
    reproduces ``card["check"]["r"]``.

    Raises:
        InputError: a dataset folder or recording of the check is missing from ``root``.
    """
    wanted = {tuple(k) for k in card["check"]["recordings"]}
    found = [r for ds in sorted({k[0] for k in wanted})
             for r in load_cascade_dataset(_dataset_dir(Path(root), ds))
             if (r.dataset, r.neuron, r.trial) in wanted]
    if len(found) < len(wanted):
        missing = sorted(wanted - {(r.dataset, r.neuron, r.trial) for r in found})
        raise InputError(f"{root}: {len(missing)} recording(s) of the card's check are missing, "
                         f"e.g. {missing[0]}")
    return found


def _dataset_dir(root: Path, name: str) -> Path:
    folder = root / name
    if not folder.is_dir():
        raise InputError(f"{folder}: no such dataset folder (the card's check reads it)")
    return folder


def slice_score(model: SupervisedModel, recordings: Sequence[GroundTruthRecording]) -> float:
    """Mean r of ``model`` on ``recordings`` with calscope's 30 Hz protocol (the card's check:
    a loaded model must reproduce it on the same recordings)."""
    traces = metrics.prepare_cascade(recordings)
    preds = [model.infer(tr.dff, tr.fs).spikes for tr in traces]
    scored = metrics.score_predictions(traces, preds)["per_recording"]
    return float(np.nanmean([row["r"] for row in scored]))

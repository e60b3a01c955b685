"""Cell types of the supervised models: which ground-truth datasets each is trained on, and which
shipped model file holds it.

How many spikes a unit of ΔF/F stands for depends on the cell: fast-spiking interneurons fire
many spikes that each move the calcium little, principal neurons few that move it much, and a
trace alone does not tell the two apart. A network trained on both learns a compromise and
miscounts both (docs/supervised.md). The default model is trained on the principal-neuron
datasets only: on recordings it never saw it counts principal neurons far better, and it also
times interneurons' spikes better than the model of every type, though it counts them low;
the model trained on interneurons counts them better.
"""

from __future__ import annotations

from pathlib import Path

from calscope.errors import InputError

#: ``excitatory``: principal neurons (and unlabelled populations; the default);
#: ``inhibitory``: labelled interneurons; ``any``: every dataset.
CELL_TYPES = ("excitatory", "inhibitory", "any")
#: The cell type of the default shipped model and of ``calscope train``'s default.
DEFAULT_CELL_TYPE = "excitatory"
#: CASCADE ground-truth datasets of labelled interneurons: OGB-1 SST and PV (DS22, DS23),
#: GCaMP6f PV, SST and VIP (DS24–DS26), PV in vivo (DS27), jGCaMP8 interneurons (DS33) and
#: spinal-cord inhibitory neurons (DS41). Every other dataset counts as excitatory.
INHIBITORY_DATASETS = ("DS22", "DS23", "DS24", "DS25", "DS26", "DS27", "DS33", "DS41")
_MODELS = Path(__file__).with_name("models")


def check_cell_type(cell_type: str, what: str = "cell type") -> str:
    """Return ``cell_type`` if it is one of :data:`CELL_TYPES`, else raise InputError naming
    ``what`` (the argument or option it came from)."""
    if cell_type not in CELL_TYPES:
        raise InputError(f"{what} {cell_type!r}: choose one of {', '.join(CELL_TYPES)}")
    return cell_type


def dataset_cell_type(name: str) -> str:
    """``"inhibitory"`` for a dataset folder named like one of :data:`INHIBITORY_DATASETS`
    (``DS24-GCaMP6f-m-PV-V1``), else ``"excitatory"``."""
    return "inhibitory" if name.startswith(INHIBITORY_DATASETS) else "excitatory"


def shipped_model(cell_type: str = DEFAULT_CELL_TYPE) -> Path:
    """The shipped model file for ``cell_type``, ``models/supervised_<cell_type>.pt`` (its JSON
    card beside it)."""
    return _MODELS / f"supervised_{check_cell_type(cell_type)}.pt"

"""Which torch device a network runs on: ``"auto"`` (a GPU when there is one, else the CPU),
``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; a clear error when the one asked for is absent."""

from __future__ import annotations

import torch

from calscope.errors import InputError

#: Device names :func:`resolve_device` accepts (``"cuda:N"`` also: GPU number N).
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """The torch device called ``name``, checked to exist on this machine.

    ``"auto"`` is the first CUDA GPU when torch sees one, else Apple's ``"mps"`` when available,
    else the CPU.

    Raises:
        InputError: an unknown name, or a GPU this machine (or this torch build) does not have.
    """
    if isinstance(name, torch.device):
        name = str(name)
    key = str(name).strip().lower()
    if key == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    try:
        device = torch.device(key)
    except RuntimeError:
        device = None
    if device is None or device.type not in DEVICE_NAMES:
        raise InputError(f"device {name!r}: not a device name; use one of "
                         f"{', '.join(DEVICE_NAMES)} or cuda:N")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            why = ("torch sees no CUDA GPU on this machine" if torch.version.cuda else
                   f"this torch ({torch.__version__}) is a build without CUDA")
            raise InputError(f"device {name!r}: {why}; use device 'cpu' or 'auto' (or, on a "
                             "machine with an NVIDIA GPU, a CUDA build of torch)")
        if device.index is not None and device.index >= count:
            raise InputError(f"device {name!r}: this machine has {count} CUDA GPU(s), numbered "
                             f"0–{count - 1}")
    if device.type == "mps" and not _mps_available():
        raise InputError(f"device {name!r}: Apple's MPS backend is not available here; use "
                         "device 'cpu' or 'auto'")
    return device


def same_device(a: torch.device, b: torch.device) -> bool:
    """Whether two devices are one (``cuda`` and ``cuda:N`` are, when N is the current GPU)."""
    if a.type != b.type:
        return False
    current = torch.cuda.current_device() if a.type == "cuda" else 0
    return (current if a.index is None else a.index) == (current if b.index is None else b.index)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())

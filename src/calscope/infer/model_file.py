"""Reading a network method's ``.pt`` file: one set of checks and messages for every method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from calscope.errors import InputError


def read_model_file(path: Path, format_name: str | None, train_hint: str,
                    other_format_hint: str) -> dict[str, Any]:
    """The payload dict of a model file written with ``format`` = ``format_name``.

    Args:
        path: the ``.pt`` file.
        format_name: the ``format`` entry the payload must carry; None: any calscope model
            (a ``format`` starting with "calscope-").
        train_hint: how to make such a file (ends the messages), e.g. "train one with ...".
        other_format_hint: what to say when the file is a calscope file of another kind.

    Raises:
        InputError: missing file, not a torch file, or not a payload of ``format_name``.
    """
    if not path.is_file():
        raise InputError(f"{path}: no such model file; {train_hint}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
        raise InputError(f"{path}: not a calscope model file ({type(exc).__name__}); "
                         f"{train_hint}") from None
    found = payload.get("format") if isinstance(payload, dict) else None
    if (found != format_name if format_name is not None
            else not (isinstance(found, str) and found.startswith("calscope-"))):
        raise InputError(f"{path}: {other_format_hint}")
    return payload

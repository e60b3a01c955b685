"""A bundle: named arrays plus JSON metadata in one ``.npz`` file, written atomically.

Used for results that a later command reads back (``calscope analyze`` → ``calscope report``).
The metadata travels as a JSON string under the key ``__meta__``; arrays are stored as given,
never pickled, so reading a bundle runs no code from the file.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from calscope.errors import InputError, unreadable
from calscope.io.writers import atomic_open

_META_KEY = "__meta__"


def write_bundle(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write ``arrays`` and JSON-ready ``meta`` to ``path`` (``.npz``), atomically.

    Raises:
        InputError: ``path`` does not end in ``.npz`` or an array name is reserved.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise InputError(f"{path}: a results bundle is an .npz file; name it e.g. results.npz")
    if _META_KEY in arrays:
        raise InputError(f"{path}: the array name {_META_KEY!r} is reserved")
    payload = {name: np.asarray(value) for name, value in arrays.items()}
    payload[_META_KEY] = np.array(json.dumps(meta, allow_nan=True))
    with atomic_open(path) as handle:
        np.savez(handle, **payload)
    return path


def read_bundle(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a bundle written by :func:`write_bundle`: ``(arrays, meta)``.

    Raises:
        InputError: the file is missing, unreadable, or not a calscope bundle.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such results file; run `calscope analyze` first")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise unreadable(path, "results (.npz)", error) from error
    if _META_KEY not in arrays:
        raise InputError(f"{path}: not a calscope results file (no metadata); "
                         "re-run `calscope analyze`")
    meta = json.loads(str(arrays.pop(_META_KEY)))
    return arrays, meta

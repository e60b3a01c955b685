"""A bundle: named arrays plus JSON metadata, written atomically, in one of two stores.

* ``.npz``: one file; the metadata travels as a JSON string under the key ``__meta__``.
* ``.zarr``: a Zarr directory store (the design's results store, ``<out>/calscope.zarr``) with
  one group per stage (``population`` for ``calscope analyze``). Arrays are chunked and
  compressed, so a large result is read back lazily, a chunk at a time (``zarr.open_group``);
  the metadata is the group attribute ``meta_json``. A group is written under a temporary name
  and renamed when complete, so an interrupted write never leaves a half-written stage.

Used for results that a later command reads back (``calscope analyze`` → ``calscope report``).
Arrays are stored as given, never pickled, so reading a bundle runs no code from the file.
"""

from __future__ import annotations

import json
import secrets
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from calscope.errors import InputError, unreadable
from calscope.io.writers import atomic_open, replace_folder

_META_KEY = "__meta__"
_META_ATTR = "meta_json"
STORES = (".npz", ".zarr")
#: The group of a Zarr store that a bundle is written to unless told otherwise.
DEFAULT_GROUP = "population"


def write_bundle(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any], *,
                 group: str = DEFAULT_GROUP) -> Path:
    """Write ``arrays`` and JSON-ready ``meta`` to ``path`` (``.npz`` or ``.zarr``), atomically.

    Args:
        path: the file (``.npz``) or store folder (``.zarr``).
        arrays: name → array.
        meta: JSON-ready facts (NaN allowed).
        group: the group of a ``.zarr`` store (other groups already there are kept).

    Raises:
        InputError: ``path`` ends in neither ``.npz`` nor ``.zarr``, or an array name is
            reserved.
    """
    path = Path(path)
    if path.suffix not in STORES:
        raise InputError(f"{path}: a results bundle is an .npz file or a .zarr folder; name it "
                         "e.g. results.npz or calscope.zarr")
    if _META_KEY in arrays:
        raise InputError(f"{path}: the array name {_META_KEY!r} is reserved")
    text = json.dumps(meta, allow_nan=True)
    if path.suffix == ".zarr":
        return _write_zarr_group(path, group, arrays, text)
    payload = {name: np.asarray(value) for name, value in arrays.items()}
    payload[_META_KEY] = np.array(text)
    with atomic_open(path) as handle:
        np.savez(handle, **payload)
    return path


def read_bundle(path: str | Path, *, group: str = DEFAULT_GROUP
                ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a bundle written by :func:`write_bundle`: ``(arrays, meta)``.

    Raises:
        InputError: the file or store is missing, unreadable, or not a calscope bundle.
    """
    path = Path(path)
    if path.suffix == ".zarr":
        return _read_zarr_group(path, group)
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


def _write_zarr_group(path: Path, group: str, arrays: dict[str, np.ndarray], meta: str) -> Path:
    """Write ``group`` of the store at ``path`` under a temporary name, then rename it."""
    import zarr

    if path.exists() and any(path.iterdir()) and not (path / "zarr.json").is_file():
        raise InputError(f"{path}: exists and is not a Zarr store; remove it or choose another "
                         "--out")
    root = zarr.open_group(str(path), mode="a", zarr_format=3)
    temporary = f".{group}.tmp-{secrets.token_hex(6)}"
    try:
        stage = root.create_group(temporary)
        for name, value in arrays.items():
            data = np.asarray(value, order="C")  # (ascontiguousarray makes 0-d 1-d)
            stage.create_array(name, data=data, chunks=_chunks(data.shape))
        stage.attrs[_META_ATTR] = meta
        replace_folder(path / temporary, path / group)
    finally:
        shutil.rmtree(path / temporary, ignore_errors=True)
    return path


def _chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    """About 4 MB chunks: whole rows of short arrays, blocks of 4096 frames of long ones."""
    if not shape:
        return ()
    last = min(shape[-1], 4096) or 1
    rows = max(1, (1 << 20) // last)
    return (*(min(n, rows) or 1 for n in shape[:-1]), last)


def _read_zarr_group(path: Path, group: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    import zarr

    if not (path / "zarr.json").is_file():
        raise InputError(f"{path}: no such results store; run `calscope analyze` first")
    try:
        root = zarr.open_group(str(path), mode="r")
        stage = root[group]
        arrays = {name: np.asarray(array[...]) for name, array in stage.arrays()}
        meta = stage.attrs.get(_META_ATTR)
    except KeyError:
        raise InputError(f"{path}: has no complete {group!r} stage; re-run "
                         "`calscope analyze`") from None
    except (OSError, ValueError) as error:
        raise unreadable(path, "results (.zarr)", error) from error
    if meta is None:
        raise InputError(f"{path}: not a calscope results store (no metadata); "
                         "re-run `calscope analyze`")
    return arrays, json.loads(meta)

"""Where the real recordings used by tests, training and benchmarks live.

The data are not shipped with the package. They sit in a ``shared/data`` folder beside the
repository (``<parent>/main`` holds the code, ``<parent>/shared/data`` the recordings), or
wherever the ``CALSCOPE_DATA`` environment variable points.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

DATA_ENV_VAR = "CALSCOPE_DATA"


def _ancestors(start: Path) -> Iterator[Path]:
    """``start`` (resolved) and every folder above it."""
    start = start.resolve()
    yield start
    yield from start.parents


def shared_data_dir() -> Path | None:
    """The folder holding the real data, or None when it cannot be found.

    Order of search: the ``CALSCOPE_DATA`` environment variable when set (None if it does not
    name a folder); otherwise the first ``shared/data`` folder found beside any folder above
    this file or above the current working directory.
    """
    configured = os.environ.get(DATA_ENV_VAR)
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_dir() else None
    for start in (Path(__file__).parent, Path.cwd()):
        for folder in _ancestors(start):
            candidate = folder / "shared" / "data"
            if candidate.is_dir():
                return candidate
    return None

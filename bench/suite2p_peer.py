"""Suite2p as a peer of the benchmarks: installed without its dependencies into a folder
beside the dev venv (bench/README.md says why) and imported from there."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

from common import BENCH_DIR

SUITE2P_DIR = BENCH_DIR / ".venvs" / "suite2p-nodeps"
PACKAGES = "suite2p==0.14.6 natsort importlib_metadata lazy-importer zipp scikit-learn joblib"
INSTALL_HINT = (f"pip install --no-deps --target {SUITE2P_DIR} {PACKAGES}, then run with "
                f"PYTHONPATH={SUITE2P_DIR} (see bench/README.md)")


def load_suite2p(modules: Sequence[str] = (), skip: bool = False) -> tuple[Any, str | None]:
    """(the suite2p package, None) when it and its ``modules`` import, else (None, why)."""
    if skip:
        return None, "skipped (--no-suite2p)"
    if SUITE2P_DIR.is_dir() and str(SUITE2P_DIR) not in sys.path:
        sys.path.append(str(SUITE2P_DIR))
    try:
        suite2p = importlib.import_module("suite2p")
        for module in modules:
            importlib.import_module(module)
    except Exception as error:  # noqa: BLE001 - any import failure means: not usable here
        return None, f"not importable ({type(error).__name__}: {error}); {INSTALL_HINT}"
    return suite2p, None

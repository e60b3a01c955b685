"""Load the variables of a MATLAB v5 ``.mat`` file (v7.3 files are HDF5: read them with h5py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import loadmat
from scipy.io.matlab import MatReadError

from calscope.errors import unreadable

_MAT_ERRORS = (MatReadError, OSError, EOFError, ValueError, IndexError, TypeError)


def load_mat(path: Path) -> dict[str, np.ndarray]:
    """The variables of a MATLAB v5 file by name (``__header__`` and the like left out).

    Raises InputError for an unreadable file and NotImplementedError for a v7.3 (HDF5) file.
    """
    try:
        contents = loadmat(path)
    except _MAT_ERRORS as error:
        raise unreadable(path, "MATLAB", error) from error
    return {name: value for name, value in contents.items() if not name.startswith("__")}

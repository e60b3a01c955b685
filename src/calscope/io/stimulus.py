"""Read stimulus labels, one whole number per frame, for noise correlations.

A ``.npy`` array, or a text file (``.csv``/``.txt``) with one label per line or per comma; a
first line that is not a number is taken as a header. Every problem raises ``InputError``
naming the file, what is wrong and what to do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from calscope.errors import InputError, unreadable
from calscope.population.correlation import checked_stimulus

STIMULUS_FORMATS = ".npy, .csv or .txt"


def read_stimulus(path: str | Path, n_frames: int) -> np.ndarray:
    """(n_frames,) int64 stimulus label of each frame, read from ``path``.

    Raises:
        InputError: missing or unreadable file, another format, a label count other than
            ``n_frames`` or labels that are not whole numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such stimulus file; give one label per frame "
                         f"({STIMULUS_FORMATS})")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            labels = np.load(path, allow_pickle=False)
        elif suffix in (".csv", ".txt"):
            labels = _read_text(path)
        else:
            raise InputError(f"{path}: stimulus labels are read from {STIMULUS_FORMATS} files")
    except (OSError, ValueError) as error:
        raise unreadable(path, "stimulus", error) from error
    labels = np.squeeze(labels)
    try:
        return checked_stimulus(labels, n_frames)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


def _read_text(path: Path) -> np.ndarray:
    """Labels of a text file: whitespace, commas or newlines between them; an optional
    header line."""
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if lines and not _is_number(lines[0].replace(",", " ").split()[0]):
        lines = lines[1:]
    return np.array([float(v) for line in lines for v in line.replace(",", " ").split()])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

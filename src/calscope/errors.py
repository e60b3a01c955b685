"""Exceptions raised by calscope.

Every message says *what* is wrong, *where* (file or argument) and *what to do*, so the CLI can
print it as one line without a traceback.
"""

from __future__ import annotations


class CalscopeError(Exception):
    """Base class of all calscope errors."""


class InputError(CalscopeError, ValueError):
    """Bad user input: a file, an array or an argument that calscope cannot use as given."""


class NumericalError(CalscopeError, RuntimeError):
    """A numerical stage could not produce a trustworthy result (never silently emitted)."""


def unreadable(path: object, kind: str, error: Exception) -> InputError:
    """The InputError for a ``kind`` file ("NPY", "MATLAB", ...) at ``path`` that failed to load.

    ``error`` is what the loader raised; its first line is quoted as the reason.
    """
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return InputError(
        f"{path}: cannot read this {kind} file ({reason}); it may be empty, truncated or "
        "of another format: re-export it"
    )

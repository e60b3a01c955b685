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

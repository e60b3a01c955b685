"""The `calscope` command line. Each module registers its commands on the one typer app."""

from calscope.cli import analysis, demo, export, info, movie, run, spikes  # noqa: F401  (registers)
from calscope.cli.common import app

__all__ = ["app"]

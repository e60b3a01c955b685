"""``python -m calscope.cli``: the same as the ``calscope`` command."""

from calscope.cli import app

app(prog_name="calscope")

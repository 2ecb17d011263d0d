"""`python -m regwatch.cli` is the `regwatch` command."""

from .commands import app

app(prog_name="regwatch")

"""`python -m api` is the `regwatch` command."""

from .cli import app

app(prog_name="regwatch")

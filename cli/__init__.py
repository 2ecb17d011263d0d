"""The `regwatch` command line and its SSE client: talks to the volume or to a server."""

from .commands import app

__all__ = ["app"]

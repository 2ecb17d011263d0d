"""Errors of the serving core that callers map to answers (the HTTP layer: to status codes)."""


class NoModelServing(LookupError):
    """No model has been loaded yet: there is nothing to answer with (retry shortly)."""

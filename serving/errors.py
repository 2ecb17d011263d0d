"""Why a model is not (yet) available: the exceptions the serving core raises on purpose,
which callers map to answers (the HTTP layer: to status codes)."""


class NoModelServing(LookupError):
    """No model has been loaded yet: there is nothing to answer with (retry shortly)."""


class LoadError(Exception):
    """The model could not be loaded or failed validation; the message says why."""


class LoadCancelled(LoadError):
    """The load was stopped before it finished: its folder changed, or nobody needs it any more."""


class LoadPending(Exception):
    """The version is still loading and the caller's wait ran out; the load goes on."""


class ModelNotFound(LookupError):
    """No model of that name is served."""

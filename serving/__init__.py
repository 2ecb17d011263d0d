"""The serving core between the registry index and HTTP: what serves, and how it changes.

No FastAPI here: the HTTP layer (`regwatch.api`) calls into this package, never the reverse.
"""

from .errors import LoadCancelled, LoadError, LoadPending
from .live import LiveModel
from .loading import LoadedModel, ModelLoad
from .policy import LoadPolicy, default_memory_limit
from .sync import RegistrySync

__all__ = [
    "LiveModel",
    "LoadCancelled",
    "LoadError",
    "LoadPending",
    "LoadPolicy",
    "LoadedModel",
    "ModelLoad",
    "RegistrySync",
    "default_memory_limit",
]

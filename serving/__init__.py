"""The serving core between the registry index and HTTP: what serves, and how it changes.

No FastAPI here: the HTTP layer (`regwatch.api`) calls into this package, never the reverse.
"""

from .batching import Batcher
from .errors import LoadCancelled, LoadError, LoadPending, ModelNotFound, NoModelServing
from .formats import UnsupportedModel, load_model_bytes
from .live import LiveModel
from .loading import LoadedModel, ModelLoad
from .models import ServedModels
from .policy import LoadPolicy, default_memory_limit
from .release_commands import ReleaseRefused
from .release_file import ReleaseFile
from .routing import Choice, Role, Split
from .served import ServedModel
from .shadow import Agreement, Shadow
from .supervisor import RestartPolicy, Supervisor, TaskFailed, TaskHealth, TaskState
from .sync import PARALLEL_INSPECTIONS, RegistrySync

__all__ = [
    "PARALLEL_INSPECTIONS",
    "Agreement",
    "Batcher",
    "Choice",
    "LiveModel",
    "LoadCancelled",
    "LoadError",
    "LoadPending",
    "LoadPolicy",
    "LoadedModel",
    "ModelLoad",
    "ModelNotFound",
    "NoModelServing",
    "RegistrySync",
    "ReleaseFile",
    "ReleaseRefused",
    "RestartPolicy",
    "Role",
    "ServedModel",
    "ServedModels",
    "Shadow",
    "Split",
    "Supervisor",
    "TaskFailed",
    "TaskHealth",
    "TaskState",
    "UnsupportedModel",
    "default_memory_limit",
    "load_model_bytes",
]

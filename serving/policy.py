"""What one model load may cost (time, memory) and which files it accepts.

The memory limit also bounds the model file: a file larger than the memory a load may use
cannot be unpickled within it, so it is refused before it is read.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

_CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
)


def available_memory() -> int:
    """The memory this process can use: the machine's, or its container's when that is lower."""
    limits = [os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")]
    for path in _CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():  # "max" (v2) means no limit
            limits.append(int(text))
    return min(limits)


def default_memory_limit() -> int:
    """Half the available memory: the server keeps the serving model (and the previous one)
    while a new one is probed, so one load must not be allowed to take it all."""
    return available_memory() // 2


@dataclass(frozen=True)
class LoadPolicy:
    timeout: float = 120.0
    """Seconds a probe may take (unpickle, validate, warm up) before it is killed."""
    memory_limit: int = field(default_factory=default_memory_limit)
    """Bytes of address space a probe may add to its own baseline; also the largest model file."""
    allow_version_mismatch: bool = False
    """Accept a model pickled (or saved with skops) by another scikit-learn version (reported
    as a warning)."""
    skops_trusted: tuple[str, ...] = ()
    """Type names a `model.skops` may hold besides skops' own trusted defaults."""

"""A secret the deployment mounts as a file (a Compose or Kubernetes secret), read once at start.

The path comes from the operator, so a link is followed (Kubernetes mounts secrets through
links), but what it leads to must be a small regular file: it is opened with `O_NONBLOCK` (a
FIFO cannot block the start) and checked with `fstat` on the open descriptor (a file swapped
after the check is never the one read). Errors name the path, never the content.
"""

import os
import stat
from pathlib import Path

MAX_SECRET_BYTES = 4096


def read_secret(path: Path, max_bytes: int = MAX_SECRET_BYTES) -> str:
    """The file's text with surrounding whitespace stripped; `ValueError` saying why not.

    Bytes that are not UTF-8 are replaced, never quoted: the caller's rule refuses them.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ValueError(f"{path} cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"{path} is not a regular file")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{path} is larger than {max_bytes} bytes: not a secret")
    text = data.decode("utf-8", "replace").strip()
    if not text:
        raise ValueError(f"{path} is empty")
    return text

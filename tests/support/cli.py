"""The real `regwatch` console script in a child process, and a byte-exact picture of a
volume to show that a refused command changed nothing."""

import os
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REGWATCH = Path(sys.executable).with_name("regwatch")  # the venv's console script


def regwatch(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `regwatch ARGS` to completion; `env` adds to (or overrides) this process's environment."""
    return subprocess.run(
        [str(REGWATCH), *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under `root`, links not followed: a regular file's bytes, a link's
    target, and for anything else (a folder, a FIFO) its kind and mode."""
    tree: dict[str, bytes | str] = {}
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = Path(folder, name)
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode):
                tree[str(path.relative_to(root))] = path.read_bytes()
            elif stat.S_ISLNK(mode):
                tree[str(path.relative_to(root))] = f"link to {os.readlink(path)}"
            else:
                tree[str(path.relative_to(root))] = f"{stat.filemode(mode)}"
    return tree

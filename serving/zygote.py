"""A warm process that forks probe children: a probe costs a fork, not an interpreter.

The server starts one zygote (`python -m regwatch.serving.zygote MODULE…`), which imports
numpy, scikit-learn and our own modules once, then waits on a control socket. For each
probe the server sends one end of a fresh socket pair (SCM_RIGHTS); the zygote forks a
child onto it, tells the server the child's pid (so it can kill it), and when the child has
ended reports its exit status on the same socket (so a crash can be named). The zygote is
single-threaded: it waits on the control socket and on one pidfd per child with `select`.

It exits when the server closes the control socket, so it never outlives the server.
Nothing in `regwatch.serving` imports this module (it runs as `python -m`, after its
package has been imported), so it imports what it needs from there inside `main`.
"""

import importlib
import json
import os
import select
import signal
import socket
import struct
import sys
from multiprocessing.connection import Connection

PROBE_ENTRY = "regwatch.serving.probe:child_main"


def _fork_child(control: socket.socket, fd: int, others: list[int]) -> int:
    pid = os.fork()
    if pid == 0:  # the child: nothing of the zygote's but the modules it imported
        control.close()
        for other in others:  # other probes' conversations are none of its business
            os.close(other)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        code = 1
        try:
            module, _, name = PROBE_ENTRY.partition(":")
            getattr(importlib.import_module(module), name)(Connection(fd))
            code = 0
        finally:
            os._exit(code)
    return pid


def _send(fd: int, message: dict[str, int]) -> None:
    """One message in `multiprocessing.connection`'s framing (the server reads it so)."""
    payload = json.dumps(message).encode()
    try:
        os.write(fd, struct.pack("!i", len(payload)) + payload)
    except OSError:  # the server already gave up on this probe
        pass


def serve(control: socket.socket) -> None:
    """Fork a child per request until the control socket closes."""
    children: dict[int, tuple[int, int]] = {}  # pidfd -> (pid, connection fd)
    control.sendall(b"r")  # ready: the modules are imported
    control_fd = control.fileno()
    while True:
        readable, _, _ = select.select([control_fd, *children], [], [])
        for ready in readable:
            if ready == control_fd:
                message, fds, _, _ = socket.recv_fds(control, 16, 1)
                if not message:
                    return
                fd = fds[0]
                others = [held for pidfd, (_, conn_fd) in children.items() for held in (pidfd, conn_fd)]
                pid = _fork_child(control, fd, others)
                _send(fd, {"pid": pid})
                children[os.pidfd_open(pid)] = (pid, fd)
            else:
                pid, fd = children.pop(ready)
                os.close(ready)
                _, status = os.waitpid(pid, 0)
                _send(fd, {"exit": os.waitstatus_to_exitcode(status)})
                os.close(fd)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which closes us
    from regwatch.serving.probe import SYS_PATH_VARIABLE  # not at the top: see the module doc

    control = socket.socket(fileno=int(sys.argv[1]))
    if SYS_PATH_VARIABLE in os.environ:
        sys.path[:] = json.loads(os.environ.pop(SYS_PATH_VARIABLE))
    for module in sys.argv[2:]:
        try:
            importlib.import_module(module)
        except Exception:  # a preload is an optimisation: the child imports what it misses
            pass
    serve(control)


if __name__ == "__main__":
    main()

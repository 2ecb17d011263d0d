"""The process harness itself (tests/support/server.py), on small real processes: the tests
and the benchmarks both stand on it."""

import os
import select
import sys

import pytest
from support.server import ServiceProcess, free_port, http_status

PY = sys.executable


def test_a_server_that_prints_nothing_is_ready_once_its_probe_answers(tmp_path):
    port = free_port()
    (tmp_path / "hello.txt").write_text("hi")
    command = [PY, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    with ServiceProcess(command, port=port, ready=lambda p: http_status(p, "/hello.txt") == 200) as server:
        assert http_status(server.port, "/hello.txt") == 200
        assert http_status(server.port, "/missing") == 404
    assert http_status(port, "/hello.txt") is None


def test_a_process_that_ends_before_reporting_its_port_fails_at_once_with_its_output():
    command = [PY, "-c", "print('cannot bind: config broken', flush=True); raise SystemExit(3)"]
    process = ServiceProcess(command, r"listening on (\d+)", name="broken")
    with pytest.raises(RuntimeError, match=r"broken did not start \(its output ended\)") as failure:
        process.start(timeout=60)  # fails as soon as the output ends, not after 60 s
    assert "cannot bind: config broken" in str(failure.value)


def test_stop_ends_the_whole_process_group(tmp_path):
    """A server's workers (MLServer's, a loader's) go with it: SIGINT reaches the group."""
    script = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        "print(f'worker {child.pid} listening on 1', flush=True)\n"
        "child.wait()\n"
    )
    process = ServiceProcess([PY, "-c", script], r"listening on (\d+)").start()
    worker = int(process.wait_for_line(lambda line: line.startswith("worker")).split()[1])
    exited = os.pidfd_open(worker)
    try:
        process.stop()
        readable, _, _ = select.select([exited], [], [], 10)  # a pidfd turns readable when it exits
        assert readable == [exited], "the worker outlived stop()"
    finally:
        os.close(exited)

"""The `regwatch` command line, run as a real process against a real folder."""

import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO

import joblib
from support.cli import REGWATCH, regwatch
from support.models import iris_model


def test_demo_ls_latest_show(root):
    assert regwatch("ls", "--registry", str(root), "--quiet").stdout == ""
    assert regwatch("latest", "--registry", str(root)).returncode == 1
    assert regwatch("demo", "--registry", str(root)).returncode == 0
    assert regwatch("demo", "--registry", str(root)).returncode == 0
    assert regwatch("ls", "-r", str(root), "-q").stdout.split() == ["1.0.0", "1.1.0"]
    assert regwatch("latest", "-r", str(root)).stdout.strip() == "1.1.0"
    shown = json.loads(regwatch("show", "1.0", "-r", str(root)).stdout)
    assert shown["version"] == "1.0.0" and shown["metadata"]["dataset"] == "iris"
    missing = regwatch("show", "7.0.0", "-r", str(root))
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_publish_a_joblib_file_with_metadata(root, tmp_path):
    model_file = tmp_path / "m.joblib"
    joblib.dump(iris_model(), model_file)
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"description": "from a file", "owner": "ml-team"}))
    done = regwatch(
        "publish", str(model_file), "--version", "2.0.0", "--metadata", str(meta), "-r", str(root)
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(regwatch("show", "2.0.0", "-r", str(root)).stdout)["metadata"]
    assert shown["owner"] == "ml-team" and len(shown["sha256"]) == 64
    again = regwatch("publish", str(model_file), "--version", "2.0.0", "-r", str(root))
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = regwatch("publish", str(model_file), "--version", "../x", "-r", str(root))
    assert bad.returncode == 1 and "PEP 440" in bad.stderr


def test_registry_comes_from_the_environment(root):
    env = {"REGWATCH_REGISTRY": str(root)}
    assert regwatch("demo", env=env).returncode == 0
    assert regwatch("latest", env=env).stdout.strip() == "1.0.0"


def test_ls_reports_rejected_folders(root):
    (root / "versions" / "_staging").mkdir()
    out = regwatch("ls", "-r", str(root)).stdout
    assert "_staging" in out and "rejected" in out


@dataclass
class SseSource:
    """Another SSE server (a proxy may re-wrap `data:`): one event per connection, then it
    closes, so a follower reconnects; it records each request's path and Last-Event-ID."""

    url: str
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    reconnected: threading.Event = field(default_factory=threading.Event)


@contextmanager
def sse_source() -> Iterator[SseSource]:
    class OneEventThenClose(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            source.requests.append((self.path, self.headers.get("Last-Event-ID")))
            if len(source.requests) == 2:
                source.reconnected.set()
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b'event: model_loaded\nid: 7\ndata: {"version":\ndata:  "1.0.0",\n')
            self.wfile.write(b'data: "note": "two\\nlines"}\n\n')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), OneEventThenClose)
    source = SseSource(f"http://127.0.0.1:{server.server_port}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield source
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def following(*args: str) -> Iterator[IO[str]]:
    """`regwatch events --json ARGS` running; yields its stdout."""
    follower = subprocess.Popen(
        [str(REGWATCH), "events", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert follower.stdout is not None
    try:
        yield follower.stdout
    finally:
        follower.kill()
        follower.wait(timeout=5)


def test_events_joins_multi_line_data_and_resumes_from_the_last_id():
    with sse_source() as source, following("--url", source.url) as stdout:
        first = json.loads(stdout.readline())
        assert first == {"event": "model_loaded", "id": 7, "version": "1.0.0", "note": "two\nlines"}
        assert source.reconnected.wait(30)
        assert [last_id for _, last_id in source.requests[:2]] == [None, "7"]


def test_events_of_one_model_asks_for_them_by_name():
    with sse_source() as source, following("--url", source.url + "/", "--model", "fraud") as stdout:
        assert json.loads(stdout.readline())["version"] == "1.0.0"
        assert source.requests[0][0] == "/events?model=fraud"
    with (
        sse_source() as source,
        following("--url", source.url, "--path", "/admin/events", "-m", "default") as out,
    ):
        out.readline()
        assert source.requests[0][0] == "/admin/events?model=default"
    bad = regwatch("events", "--url", "http://127.0.0.1:9", "--model", "../etc")
    assert bad.returncode == 1 and "'../etc' is not a model name" in bad.stderr


def test_fleet_says_when_the_server_is_not_in_cluster_mode(server):
    done = regwatch("fleet", "--url", server.url)
    assert done.returncode == 1
    assert "not in cluster mode" in done.stderr

"""The `regwatch` command line, run as a real process against a real folder."""

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import joblib
from support.models import iris_model


def regwatch(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regwatch.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


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
    import os

    env = {**os.environ, "REGWATCH_REGISTRY": str(root)}
    assert regwatch("demo", env=env).returncode == 0
    assert regwatch("latest", env=env).stdout.strip() == "1.0.0"


def test_ls_reports_rejected_folders(root):
    (root / "versions" / "_staging").mkdir()
    out = regwatch("ls", "-r", str(root)).stdout
    assert "_staging" in out and "rejected" in out


def test_events_joins_multi_line_data_and_resumes_from_the_last_id():
    """A stream from another SSE server (a proxy may re-wrap `data:`): lines are joined."""
    resumed_from: list[str | None] = []
    reconnected = threading.Event()

    class OneEventThenClose(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            resumed_from.append(self.headers.get("Last-Event-ID"))
            if len(resumed_from) == 2:
                reconnected.set()
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b'event: model_loaded\nid: 7\ndata: {"version":\ndata:  "1.0.0",\n')
            self.wfile.write(b'data: "note": "two\\nlines"}\n\n')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), OneEventThenClose)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "regwatch.cli",
            "events",
            "--json",
            "--url",
            f"http://127.0.0.1:{server.server_port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert follower.stdout is not None
        first = json.loads(follower.stdout.readline())
        assert first == {"event": "model_loaded", "id": 7, "version": "1.0.0", "note": "two\nlines"}
        assert reconnected.wait(30)
        assert resumed_from[:2] == [None, "7"]
    finally:
        follower.kill()
        follower.wait(timeout=5)
        server.shutdown()
        server.server_close()


def test_fleet_says_when_the_server_is_not_in_cluster_mode(server):
    done = regwatch("fleet", "--url", server.url)
    assert done.returncode == 1
    assert "not in cluster mode" in done.stderr

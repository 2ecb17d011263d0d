"""The benchmark suite still runs: its driver end to end on the cheapest scenario, and
`bench/ab.py`'s patched copy of the packages, which must import as `regwatch.*`."""

import json
import os
import subprocess
import sys
from pathlib import Path

from support.server import REPO, ServerProcess, http_status

PROBE_DIFF = """\
--- /dev/null
+++ b/api/_ab_probe.py
@@ -0,0 +1 @@
+PATCHED = True
"""


def test_the_bench_driver_prints_its_table_and_writes_its_results(tmp_path):
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--only", "ceiling", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "| load generator ceiling (fixed-response server, c=16) |" in done.stdout
    results = json.loads((tmp_path / "latest-quick.json").read_text())
    assert results["scenarios"] == ["loadgen ceiling"]
    assert results["figures"]["loadgen_ceiling"]["rps"] > 0
    assert "errors" not in results["figures"]


def test_ab_runs_the_service_from_a_patched_copy_importable_as_regwatch(tmp_path, root):
    diff = tmp_path / "probe.diff"
    diff.write_text(PROBE_DIFF)
    lay_out = "import sys; from pathlib import Path; from bench.ab import patched_tree; print(patched_tree(Path(sys.argv[1]), Path(sys.argv[2])))"
    tree = Path(
        subprocess.run(
            [sys.executable, "-c", lay_out, str(diff), str(tmp_path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    probe = subprocess.run(
        [sys.executable, "-c", "import regwatch.api._ab_probe as m; print(m.PATCHED, m.__file__)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert probe == ["True", str(tree / "regwatch" / "api" / "_ab_probe.py")]
    with ServerProcess(root, code=tree) as server:
        assert http_status(server.port, "/healthz") == 200

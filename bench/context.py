"""What every scenario gets: the configuration, the report, a work folder, the processes it
starts (stopped at the end, their output kept in the work folder), the iris model and
the main registry, and the shared servers the driver brings up for the scenarios that
need them (`main`, `peers`)."""

from pathlib import Path
from typing import TypeVar

import joblib

from bench import servers
from bench.config import Config
from bench.peers import Peers
from bench.peers import start as start_peers
from bench.report import Report
from bench.workload import Template, Versions, iris_model
from tests.support.server import ServerProcess, ServiceProcess

P = TypeVar("P", bound=ServiceProcess)
MAIN, PEERS = "main", "peers"  # the shared servers a scenario can need


class Bench:
    def __init__(self, cfg: Config, work: Path, report: Report, code: Path | None = None) -> None:
        """`code`: run regwatch from that tree (`regwatch/<package>`) instead of the installed one."""
        from regwatch.registry import ModelRegistry

        self.cfg, self.work, self.report, self.code = cfg, work, report, code
        self._procs: list[ServiceProcess] = []
        work.mkdir(parents=True, exist_ok=True)
        self.iris, self.iris_meta = iris_model()
        path = work / "iris.joblib"
        joblib.dump(self.iris, path)
        self.tpl = Template(path, {"description": "bench iris"})
        self.tpl_no_sha = Template(path, {"description": "bench iris"}, sha256=False)
        self.main_root = work / "main"
        self.staging = self.main_root / "staging"  # same file system, outside versions/
        self.staging.mkdir(parents=True)
        self.versions = Versions(2)
        ModelRegistry(self.main_root, scan=False).save_model("1.0.0", self.iris, dict(self.iris_meta))
        self.main: ServerProcess | None = None
        self.peers: Peers | None = None

    @property
    def main_port(self) -> int:
        assert self.main is not None, "the main server is not running"
        return self.main.port

    def start(self, proc: P, timeout: float = 60.0) -> P:
        """Start `proc` (blocking), its output going to <work>/<name>-<n>.log."""
        proc.log_file = self.work / f"{proc.name}-{len(self._procs)}.log"
        self._procs.append(proc)
        return proc.start(timeout)

    def regwatch(
        self, root: Path, *args: str, name: str, env: dict[str, str] | None = None, timeout: float = 60.0
    ) -> ServerProcess:
        """`regwatch serve` on `root` (from `code` when set), started."""
        return self.start(servers.regwatch(root, *args, code=self.code, name=name, env=env), timeout)

    async def provide(self, needs: frozenset[str]) -> None:
        """Start the shared servers in `needs` that are not running yet."""
        if MAIN in needs and self.main is None:
            self.main = self.regwatch(self.main_root, name="regwatch-main")
        if PEERS in needs and self.peers is None:
            self.peers = await start_peers(self)

    def release(self, keep: set[str]) -> None:
        """Stop the shared servers no later scenario needs."""
        if MAIN not in keep and self.main is not None:
            self.main.stop()
            self.main = None
        if PEERS not in keep and self.peers is not None:
            for p in self.peers.procs:
                p.stop()
            self.peers = None

    def stop_all(self) -> None:
        for p in self._procs:
            p.stop()

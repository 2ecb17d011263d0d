"""A stand-in replica process: uses `regwatch.fleet` the way the service will.

It "loads" a version by waiting `--load-delay` seconds (the first load of each model is
instant, so tests start quickly), then reports it with `set_loaded`; it also loads the
fleet's active version when it lacks it (catch-up after a restart), as the service must.

Line protocol on a TCP socket on 127.0.0.1 (the port is printed as `listening PORT`):
  `gate MODEL`          -> the version it would answer with now, or `! reason`
  `want MODEL VERSION`  -> `ok` (what the service computed from the volume)
  `status`              -> `fleet.status()` as one JSON line
Printed on stdout: `answer MODEL VERSION|- NANOSECONDS` (CLOCK_MONOTONIC, comparable across
processes on one machine) whenever the answer changes, and `loaded MODEL VERSION`.
It exits on SIGINT, SIGTERM, or after `--lifetime` seconds, so it never outlives a test.
"""

import argparse
import asyncio
import json
import logging
import signal
import time

from regwatch.fleet import Fleet, FleetConfig, FleetNotReady, ModelStatus


class Replica:
    def __init__(self, fleet_config: FleetConfig, load_delay: float) -> None:
        self.fleet = Fleet(fleet_config, on_change=self.on_change)
        self.load_delay = load_delay
        self.loaded: dict[str, set[str]] = {}
        self.loading: set[tuple[str, str]] = set()
        self.answers: dict[str, str | None] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def on_change(self, status: ModelStatus) -> None:
        if status.answer != self.answers.get(status.model, "?"):
            self.answers[status.model] = status.answer
            print(f"answer {status.model} {status.answer or '-'} {time.monotonic_ns()}", flush=True)
        if status.active is not None and status.active not in self.loaded.get(status.model, set()):
            self.load(status.model, status.active)  # catch up with the fleet

    def want(self, model: str, version: str) -> None:
        self.fleet.want(model, version)
        self.load(model, version)

    def load(self, model: str, version: str) -> None:
        if (model, version) in self.loading:
            return
        self.loading.add((model, version))
        task = asyncio.create_task(self._load(model, version))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _load(self, model: str, version: str) -> None:
        if model in self.loaded:
            await asyncio.sleep(self.load_delay)  # the stand-in for loading and warming
        loaded = self.loaded.setdefault(model, set())
        loaded.add(version)
        self.fleet.set_loaded(model, loaded)
        print(f"loaded {model} {version}", flush=True)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := (await reader.readline()).decode().split():
            match line:
                case ["gate", model]:
                    try:
                        async with self.fleet.gate(model) as target:
                            reply = target.version
                    except FleetNotReady as exc:
                        reply = f"! {exc}"
                case ["want", model, version]:
                    self.want(model, version)
                    reply = "ok"
                case ["status"]:
                    reply = json.dumps(self.fleet.status().as_dict())
                case _:
                    reply = "! unknown command"
            writer.write(reply.encode() + b"\n")
            await writer.drain()
        writer.close()


async def main(args: argparse.Namespace) -> None:
    config = FleetConfig(
        url=args.nats,
        name=args.fleet,
        replica_id=args.id,
        heartbeat_interval=args.heartbeat,
        member_ttl=args.member_ttl,
        prepare_deadline=args.prepare_deadline,
        hold_timeout=args.hold_timeout,
        reconnect_wait=0.2,
    )
    replica = Replica(config, args.load_delay)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with replica.fleet:
        for wanted in args.want:
            model, version = wanted.split("=")
            replica.want(model, version)
        server = await asyncio.start_server(replica.handle, "127.0.0.1", 0)
        print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
        async with server:
            try:
                await asyncio.wait_for(stop.wait(), args.lifetime)
            except TimeoutError:
                pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--nats", required=True)
    parser.add_argument("--fleet", default="test")
    parser.add_argument("--id", required=True)
    parser.add_argument("--want", action="append", default=[], metavar="MODEL=VERSION")
    parser.add_argument("--load-delay", type=float, default=0.0)
    parser.add_argument("--heartbeat", type=float, default=0.2)
    parser.add_argument("--member-ttl", type=float, default=1.0)
    parser.add_argument("--prepare-deadline", type=float, default=30.0)
    parser.add_argument("--hold-timeout", type=float, default=2.0)
    parser.add_argument("--lifetime", type=float, default=120.0)
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    asyncio.run(main(parser.parse_args()))

"""Every model on the volume: found at start-up, and followed while serving.

One watcher covers the whole root; its hints come here and go to the one model they name
(a dict lookup), so a change to one model never wakes another. A hint for a model not
known yet, or for `models/` itself, re-lists `models/` (one `scandir`, coalesced): a new
folder becomes a model (its sync scans it, then its live model loads), a folder that went
away stops being served, and a refused name is reported once, until it goes away.

A model's release file is read before its first load decision, again on its hint and on
every rescan.

Each model runs four supervised tasks: `sync:<name>`, `release:<name>` (follows its release
file), `shadow:<name>` (compares shadow predictions) and `live:<name>`.
"""

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from regwatch.events import EventBus, EventType
from regwatch.registry import ModelEntries, RegistryUnavailable, list_models, printable

from .served import ServedModel
from .supervisor import Supervisor

log = logging.getLogger("regwatch.models")

TASKS = ("sync", "release", "shadow", "live")  # each model's supervised tasks

HINTS = (
    EventType.VERSION_CHANGED,
    EventType.MODEL_CHANGED,
    EventType.RELEASE_FILE_CHANGED,
    EventType.RESCAN_REQUESTED,
    EventType.RESET,  # this subscription lagged: hints were lost
)


class ServedModels:
    def __init__(
        self,
        root: Path,
        bus: EventBus,
        supervisor: Supervisor,
        build: Callable[[str], ServedModel],
        default_model: str,
    ) -> None:
        self.root = root
        self.bus = bus
        self.default = build(default_model)
        self.rejected: dict[str, str] = {}  # names under models/ that are refused, with why
        self.following = asyncio.Event()
        self._supervisor = supervisor
        self._build = build
        self._models: dict[str, ServedModel] = {default_model: self.default}
        self._relist_wanted = asyncio.Event()

    def get(self, name: str) -> ServedModel | None:
        return self._models.get(name)

    def __iter__(self) -> Iterator[ServedModel]:
        """The default model first, then the others by name."""
        yield self.default
        for name in sorted(self._models):
            if self._models[name] is not self.default:
                yield self._models[name]

    def __len__(self) -> int:
        return len(self._models)

    # -- start-up ----------------------------------------------------------------------

    async def discover(self) -> None:
        """Build every model found under `models/` and start following it (before the
        watcher starts, so that no hint is lost); `scan` then indexes them all."""
        for model in self._added(await self._list()):
            self._follow(model)
        self._follow(self.default)

    async def scan(self) -> None:
        """Index every model and read its release state, all at once (their inspections
        share one limiter), then load."""
        models = list(self)
        async with anyio.create_task_group() as scans:
            for model in models:
                scans.start_soon(self._first_look, model)
        for model in models:
            self._supervisor.start(f"live:{model.name}", model.live.run)

    def _follow(self, model: ServedModel) -> None:
        """Start the tasks that follow a model's folder (its live model starts after the
        first look)."""
        self._supervisor.start(f"sync:{model.name}", model.sync.run)
        self._supervisor.start(f"release:{model.name}", model.release.run)
        self._supervisor.start(f"shadow:{model.name}", model.shadow.run)

    @staticmethod
    async def _first_look(model: ServedModel) -> None:
        """Before the first load decision: the versions on disk, and the release state."""
        await model.sync.initial_scan()
        await model.release.refresh(announce=False)

    # -- while serving -----------------------------------------------------------------

    async def run(self) -> None:
        """Route the watcher's hints to their models until cancelled."""
        with self.bus.subscribe(HINTS, maxsize=10_000) as hints:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._relist_when_wanted, tasks)
                if self.following.is_set():  # restarted after a failure: hints were missed
                    self._rescan_all()
                self.following.set()
                async for event in hints:
                    self._route(event.type, event.model, event.version, bool(event.data.get("renamed_in")))

    def _route(self, kind: EventType, name: str | None, version: str | None, renamed_in: bool) -> None:
        model = self._models.get(name) if name is not None else None
        if kind is EventType.VERSION_CHANGED and model is not None and version is not None:
            model.sync.hint(version, renamed_in=renamed_in)
        elif kind is EventType.MODEL_CHANGED and model is not None:
            model.sync.rescan_soon()  # its versions/ appeared, went or was replaced
            model.release.hint()
            self._relist_wanted.set()
        elif kind is EventType.RELEASE_FILE_CHANGED and model is not None:
            model.release.hint()
        elif kind in (EventType.RESCAN_REQUESTED, EventType.RESET):
            self._rescan_all()
        else:  # models/ itself, or a model we do not know (yet)
            self._relist_wanted.set()

    def _rescan_all(self) -> None:
        self._relist_wanted.set()
        for model in self._models.values():
            model.sync.rescan_soon()
            model.release.hint()

    async def _relist_when_wanted(self, tasks: TaskGroup) -> None:
        while True:
            await self._relist_wanted.wait()
            self._relist_wanted.clear()
            entries = await self._list()
            for model in self._added(entries):
                tasks.start_soon(self._bring_up, model)
            for name in [name for name in self._models if name not in entries.names]:
                if name != self.default.name:
                    self._remove(name)

    async def _bring_up(self, model: ServedModel) -> None:
        self._follow(model)
        await self._first_look(model)
        self._supervisor.start(f"live:{model.name}", model.live.run)
        registry = model.registry
        log.info(
            "model %s added: %d versions, latest %s",
            model.name,
            len(registry.index),
            registry.get_latest_version(),
        )
        self.bus.publish(
            EventType.MODEL_ADDED,
            registry.get_latest_version(),
            model=model.name,
            versions=len(registry.index),
        )

    def _remove(self, name: str) -> None:
        model = self._models.pop(name)
        for task in TASKS:
            self._supervisor.cancel(f"{task}:{name}")
        if model.seat is not None:
            model.seat.vacate()  # a fleet no longer waits for this replica to load it
        log.info("model %s removed: its folder is gone", name)
        self.bus.publish(EventType.MODEL_REMOVED, model=name)

    # -- listing models/ ---------------------------------------------------------------

    async def _list(self) -> ModelEntries:
        try:
            entries = await anyio.to_thread.run_sync(list_models, self.root)
        except RegistryUnavailable as exc:
            log.warning("%s; keeping the models already known until it is back", exc)
            return ModelEntries(frozenset(self._models) - {self.default.name}, dict(self.rejected))
        if self.default.name in entries.names:
            rejected = {
                **entries.rejected,
                self.default.name: "the default model's name: its versions live in versions/",
            }
            entries = ModelEntries(entries.names - {self.default.name}, rejected)
        self._report(entries.rejected)
        return entries

    def _added(self, entries: ModelEntries) -> list[ServedModel]:
        """Build the models that are new in `entries`."""
        added = [self._build(name) for name in sorted(entries.names - self._models.keys())]
        for model in added:
            self._models[model.name] = model
        return added

    def _report(self, rejected: dict[str, str]) -> None:
        """Say once why each refused name is refused; forget the ones that went away."""
        for name, reason in rejected.items():
            if self.rejected.get(name) != reason:
                log.warning("models/%s is not served: %s", printable(name), reason)
                self.bus.publish(EventType.MODEL_REJECTED, name=printable(name), reason=reason)
        self.rejected = dict(rejected)

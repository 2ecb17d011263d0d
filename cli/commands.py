"""The `regwatch` command line: serve, publish, and read the registry volume directly.

The listing of models (`models.py`) and release control (`release.py`) are registered on
this one `app` at the bottom of this module.
"""

import enum
import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from packaging.version import Version

from regwatch.registry import ModelFormat, ModelRegistry, RegistryError, is_model_name
from regwatch.registry.layout import MODEL_NAME_RE
from regwatch.registry.release import read_release

from . import fleet_view, models, release
from .common import ModelOption, RegistryOption, fail, load_settings, open_model

app = typer.Typer(help="A scikit-learn model registry that is a plain folder.", no_args_is_help=True)


class Target(enum.StrEnum):
    """What `publish --as` converts to."""

    SKOPS = "skops"
    ONNX = "onnx"

    @property
    def model_format(self) -> ModelFormat:
        return ModelFormat.SKOPS if self is Target.SKOPS else ModelFormat.ONNX


@app.command()
def serve(
    registry: RegistryOption = None,
    host: Annotated[str | None, typer.Option(help="[env: REGWATCH_HOST] default 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="[env: REGWATCH_PORT] default 8000")] = None,
    poll: Annotated[
        bool | None, typer.Option("--poll/--no-poll", help="poll instead of inotify [env: REGWATCH_POLL]")
    ] = None,
    include_prereleases: Annotated[
        bool | None,
        typer.Option("--include-prereleases/--stable-only", help="[env: REGWATCH_INCLUDE_PRERELEASES]"),
    ] = None,
    reconcile_interval: Annotated[
        float | None, typer.Option(help="seconds between full rescans [env: REGWATCH_RECONCILE_INTERVAL]")
    ] = None,
    settle_ms: Annotated[
        int | None, typer.Option(help="quiet window in ms [env: REGWATCH_SETTLE_MS]")
    ] = None,
    log_json: Annotated[
        bool | None, typer.Option("--log-json/--log-text", help="[env: REGWATCH_LOG_JSON]")
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="[env: REGWATCH_LOG_LEVEL] default info")] = None,
) -> None:
    """Run the API with the watcher. Every other setting: a REGWATCH_* variable (see README)."""
    from regwatch.api.server import serve as run_server

    run_server(
        load_settings(
            registry=registry,
            host=host,
            port=port,
            poll=poll,
            include_prereleases=include_prereleases,
            reconcile_interval=reconcile_interval,
            settle_ms=settle_ms,
            log_json=log_json,
            log_level=log_level,
        )
    )


def _next_version(registry: ModelRegistry) -> str:
    latest = registry.get_latest_version()
    if latest is None:
        return "1.0.0"
    release = (*Version(latest).release, 0, 0)
    return f"{release[0]}.{release[1] + 1}.0"


@app.command()
def demo(
    registry: RegistryOption = None,
    version: Annotated[str | None, typer.Option(help="default: 1.0.0, or the next minor")] = None,
    model: ModelOption = None,
) -> None:
    """Train a small scikit-learn model (iris) and publish it."""
    from .demo import train_demo_model

    store = open_model(registry, model, create=True).registry
    version = version or _next_version(store)
    estimator, metadata = train_demo_model()
    try:
        store.save_model(version, estimator, metadata)
    except RegistryError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"published demo model {version} to {store.versions_dir / version}")


@app.command()
def publish(
    model_file: Annotated[Path, typer.Argument(help="a joblib file", exists=True, dir_okay=False)],
    version: Annotated[str, typer.Option(help="the new version, e.g. 1.2.0")],
    metadata: Annotated[Path | None, typer.Option(help="a JSON file with the metadata", exists=True)] = None,
    registry: RegistryOption = None,
    as_: Annotated[
        Target | None,
        typer.Option(
            "--as",
            help="convert the joblib file's estimator to a format that runs no code when loaded, "
            "checked to predict like the original on the metadata's examples (else generated rows)",
        ),
    ] = None,
    model: ModelOption = None,
) -> None:
    """Publish an existing joblib file atomically (temp folder, then rename), as it is or
    converted to skops or ONNX."""
    meta: dict[str, Any] = {}
    if metadata is not None:
        try:
            meta = json.loads(metadata.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise fail(f"{metadata} is not valid JSON: {exc}") from None
        if not isinstance(meta, dict):
            raise fail(f"{metadata} must hold a JSON object")
    target = open_model(registry, model, create=True)
    store = target.registry
    try:
        if as_ is None:
            store.publish_file(model_file, version, meta)
        else:
            fmt = as_.model_format
            converted = _converted(model_file, fmt, meta, target.settings.skops_trusted)
            store.publish_bytes(converted, fmt, version, meta)
    except RegistryError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"published {version} to {store.versions_dir / version}")


def _converted(
    model_file: Path, fmt: ModelFormat, meta: dict[str, Any], skops_trusted: tuple[str, ...]
) -> bytes:
    """The joblib file's estimator as `fmt`, checked; exits 1 with the reason otherwise.

    Unpickling runs the file's code: fine here, it is the publisher's own file on their
    own machine (the server is what must never unpickle an untrusted one).
    """
    import joblib

    from .convert import ConversionError, convert_verified

    try:
        model = joblib.load(model_file)
    except Exception as exc:  # whatever its code raises: e.g. its estimator's module is missing
        raise fail(f"cannot load {model_file}: {type(exc).__name__}: {exc}") from None
    n_features = getattr(model, "n_features_in_", None)
    if n_features is not None:
        meta.setdefault("n_features", int(n_features))
    try:
        return convert_verified(model, fmt, meta, skops_trusted)
    except ConversionError as exc:
        raise fail(f"cannot publish as {fmt.label}: {exc}") from None


@app.command("ls")
def list_versions(
    registry: RegistryOption = None,
    model: ModelOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="names only")] = False,
) -> None:
    """List the versions on the volume (no server needed)."""
    store = open_model(registry, model).registry
    latest = store.get_latest_version()
    for name in store.list_versions():
        if quiet:
            typer.echo(name)
            continue
        state = store.resolve(name)
        meta, label = state.metadata, state.format.label if state.format else ""
        marker = "*" if name == latest else " "
        typer.echo(
            f"{marker} {name:<16} {label:<7} {meta.get('created_at', ''):<26} {meta.get('description', '')}"
        )
    if not quiet:
        for state in store.index.rejected():
            typer.echo(f"! {state.name:<16} rejected: {state.reason}")


@app.command()
def show(version: str, registry: RegistryOption = None, model: ModelOption = None) -> None:
    """Print one version's metadata as JSON (VERSION may be an @alias of the release state)."""
    target = open_model(registry, model)
    try:
        if version.startswith("@"):
            version = read_release(target.folder).resolve(version)
        state = target.registry.resolve(version)
    except RegistryError as exc:
        raise fail(str(exc)) from None
    label = state.format.label if state.format else None
    typer.echo(json.dumps({"version": state.name, "format": label, "metadata": state.metadata}, indent=2))


@app.command()
def latest(registry: RegistryOption = None, model: ModelOption = None) -> None:
    """Print the latest version (exit 1 when the model holds none)."""
    target = open_model(registry, model)
    version = target.registry.get_latest_version()
    if version is None:
        raise fail(f"model {target.name} holds no complete version")
    typer.echo(version)


@app.command()
def events(
    url: Annotated[str, typer.Option(help="the server (or gateway) base URL")] = "http://127.0.0.1:8000",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    path: Annotated[
        str, typer.Option(help="the stream's path (/admin/events through the gateway)")
    ] = "/events",
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="only this model's events [default: every model's]")
    ] = None,
) -> None:
    """Follow the live event stream; reconnects (with Last-Event-ID) until interrupted."""
    from .sse_client import StreamEvent, describe, follow

    stream = httpx.URL(url.rstrip("/") + path)
    if model is not None:
        if not is_model_name(model):
            raise fail(f"{model!r} is not a model name ({MODEL_NAME_RE.pattern})")
        stream = stream.copy_merge_params({"model": model})

    def show(event: StreamEvent) -> None:
        line = (
            json.dumps({"event": event.event, "id": event.id, **event.data}) if as_json else describe(event)
        )
        typer.echo(line)

    def disconnected(error: Exception | None, retry_in: float) -> None:
        reason = f"{type(error).__name__}: {error}" if error else "stream ended"
        typer.secho(
            f"disconnected ({reason}); reconnecting in {retry_in:.1f}s", err=True, fg=typer.colors.YELLOW
        )

    try:
        follow(str(stream), show, disconnected)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


app.add_typer(models.app)
app.add_typer(release.app)
app.add_typer(fleet_view.app)

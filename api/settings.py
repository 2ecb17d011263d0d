"""Service configuration: every setting comes from a CLI flag or a `REGWATCH_*` variable."""

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Self

from pydantic import ByteSize, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from regwatch.registry import DEFAULT_MAX_METADATA_BYTES
from regwatch.serving import LoadPolicy, default_memory_limit

from .secret_file import read_secret

if TYPE_CHECKING:
    from regwatch.fleet import FleetConfig

MIN_TOKEN_LENGTH = 16
TOKEN_CHARACTERS = re.compile(r"[\x21-\x7e]*")


class Settings(BaseSettings):
    # Inputs are never echoed in errors: one of them is the admin token.
    model_config = SettingsConfigDict(env_prefix="REGWATCH_", extra="ignore", hide_input_in_errors=True)

    registry: Path = Field(Path("var/registry"), description="registry root (holds versions/ and models/)")
    default_model: str = Field(
        "default",
        pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$",
        description="the name the model in the root's versions/ is served under (routes without ?model=)",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    poll: bool = Field(False, description="poll the file system instead of inotify (NFS, SMB)")
    poll_interval: float = Field(1.0, gt=0, description="seconds between polls with --poll")
    settle_ms: int = Field(50, ge=0, description="quiet time before a changed folder is read")
    max_metadata_bytes: int = Field(
        DEFAULT_MAX_METADATA_BYTES, ge=2, description="largest metadata.json read; a larger one is rejected"
    )
    reconcile_interval: float = Field(30.0, gt=0, description="seconds between full rescans")
    include_prereleases: bool = Field(False, description="let pre-releases become latest")
    allow_version_mismatch: bool = Field(
        False, description="load models pickled by another scikit-learn version (with a warning)"
    )
    allow_pickle: bool = Field(
        True, description="serve model.joblib (pickle: loading it runs code); false: skops and ONNX only"
    )
    skops_trusted: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="comma-separated type names a model.skops may hold besides skops' defaults"
    )
    load_timeout: float = Field(120.0, gt=0, description="seconds a model's load probe may take")
    load_memory_limit: ByteSize | None = Field(
        None, description="memory a load probe may add, e.g. 2GiB (default: half the machine or container)"
    )
    load_concurrency: int = Field(
        2, ge=1, description="loads competing for the CPU at once, across all models (and per model's window)"
    )
    keep_previous: bool = Field(
        True, description="keep each model's previous version loaded after a swap (instant rollback; memory)"
    )
    pinned_cache_size: int = Field(
        2, ge=0, description="versions per model kept loaded for ?version= (besides serving and previous)"
    )
    pinned_wait_seconds: float = Field(
        10.0, gt=0, description="how long a ?version= request waits for its load before a 503"
    )
    pinned_load_interval: float = Field(
        1.0, ge=0, description="least seconds between the starts of two loads for ?version= requests"
    )
    max_batch: int = Field(1000, ge=1, description="most instances in one /predict request")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="largest accepted request body")
    inline_rows: int = Field(64, ge=0, description="batches up to this many rows predict on the event loop")
    batch_max_rows: int = Field(
        64,
        ge=1,
        description="most rows merged into one predict call from concurrent requests (1: no merging)",
    )
    batch_max_wait_ms: float = Field(
        0.0, ge=0, le=1000, description="how long a batch may wait for more rows (0: never wait)"
    )
    event_buffer: int = Field(1024, ge=1, description="events kept for Last-Event-ID replay")
    subscriber_queue: int = Field(256, ge=1, description="events queued per SSE client before it is reset")
    sse_keepalive_seconds: float = Field(15.0, gt=0, description="keep-alive comment interval on /events")
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="close a connection whose request head has not arrived in this time"
    )
    shutdown_grace_seconds: int = Field(
        5, ge=0, description="on stop, requests in flight get this long to finish"
    )
    task_restart_backoff_seconds: float = Field(
        0.5, gt=0, description="first pause before a failed background task restarts (doubles)"
    )
    task_restart_max_backoff_seconds: float = Field(
        30.0, gt=0, description="longest pause between restarts of a failed background task"
    )
    task_max_failures: int = Field(
        5, ge=1, description="failures within the window after which a task is given up (/healthz 503)"
    )
    task_failure_window_seconds: float = Field(
        300.0, gt=0, description="the window task_max_failures is counted in"
    )
    admin_token: SecretStr | None = Field(
        None,
        description="the bearer token the /release routes require (the gateway holds it); "
        "unset: release changes over HTTP are disabled. At least 16 printable ASCII characters, "
        "no spaces: openssl rand -hex 32",
    )
    admin_token_file: Path | None = Field(
        None,
        description="a file holding the admin token, e.g. a mounted secret (/run/secrets/admin_token): "
        "read once at start, stripped; a regular file of at most 4 KiB. Not together with admin_token",
    )
    shadow_queue: int = Field(
        1024, ge=1, description="requests waiting for the shadow's prediction; beyond, they are dropped"
    )
    nats_url: str | None = Field(
        None,
        description="cluster mode: replicas of one registry switch versions as one through this NATS "
        "server (nats://host:4222, credentials as nats://user:pass@host:4222); unset: this process alone",
    )
    replica_id: str | None = Field(
        None, description="this replica's name in the fleet, unique per process (default: <hostname>-<pid>)"
    )
    fleet: str = Field("default", description="the fleet's name: fleets sharing one NATS server stay apart")
    fleet_prepare_deadline: float = Field(
        30.0, gt=0, description="seconds the fleet waits for a slow replica to load a new version"
    )
    fleet_member_ttl: float = Field(
        5.0,
        gt=0,
        description="seconds after its last heartbeat that a silent replica is dropped from the fleet",
    )
    fleet_heartbeat: float = Field(1.0, gt=0, description="seconds between a replica's heartbeats")
    fleet_hold_timeout: float = Field(
        2.0, gt=0, description="seconds a request may be held while the fleet switches versions, then 503"
    )
    log_level: str = "info"
    log_json: bool = Field(False, description="one JSON object per log line")
    access_log: bool = Field(
        False,
        description="log one line per request (off by default: it costs ~40 % of batched throughput; "
        "/metrics counts every request and errors are always logged)",
    )

    def load_policy(self) -> LoadPolicy:
        return LoadPolicy(
            timeout=self.load_timeout,
            memory_limit=self.load_memory_limit or default_memory_limit(),
            allow_version_mismatch=self.allow_version_mismatch,
            skops_trusted=self.skops_trusted,
        )

    def fleet_config(self) -> "FleetConfig | None":
        """Cluster mode's settings; None without `REGWATCH_NATS_URL`."""
        if not self.nats_url:
            return None
        from regwatch.fleet import FleetConfig  # only in cluster mode: a process alone never loads NATS

        config = FleetConfig(
            url=self.nats_url,
            name=self.fleet,
            heartbeat_interval=self.fleet_heartbeat,
            member_ttl=self.fleet_member_ttl,
            prepare_deadline=self.fleet_prepare_deadline,
            hold_timeout=self.fleet_hold_timeout,
        )
        return replace(config, replica_id=self.replica_id) if self.replica_id else config

    @model_validator(mode="after")
    def _fleet_settings_are_valid(self) -> Self:
        """A bad fleet setting stops the start with its reason (FleetConfig checks them)."""
        self.fleet_config()
        return self

    @field_validator("skops_trusted", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("admin_token", mode="after")
    @classmethod
    def _token_rule(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        checked_token(value.get_secret_value())
        return value

    @field_validator("admin_token_file", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """As for the token itself: `REGWATCH_ADMIN_TOKEN_FILE=` is unset, not the folder `.`."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _admin_token_from_file(self) -> Self:
        """The token from its file, under the same rule. Never both: one would be ignored."""
        if self.admin_token_file is None:
            return self
        if self.admin_token is not None:
            raise ValueError("both REGWATCH_ADMIN_TOKEN and REGWATCH_ADMIN_TOKEN_FILE are set: set only one")
        try:
            token = read_secret(self.admin_token_file)
        except ValueError as exc:
            raise ValueError(f"REGWATCH_ADMIN_TOKEN_FILE {exc}") from None
        try:
            self.admin_token = SecretStr(checked_token(token))
        except ValueError as exc:
            raise ValueError(f"REGWATCH_ADMIN_TOKEN_FILE {self.admin_token_file}: the token {exc}") from None
        return self

    @property
    def settle_seconds(self) -> float:
        return self.settle_ms / 1000


def checked_token(token: str) -> str:
    """The gateway's key rule: what survives an `Authorization: Bearer` header unchanged, and
    long enough to be out of reach of guessing. Errors never quote the token."""
    if not TOKEN_CHARACTERS.fullmatch(token):
        raise ValueError("has a character outside printable ASCII (a space, a control or non-ASCII)")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"is too short: at least {MIN_TOKEN_LENGTH} characters (openssl rand -hex 32)")
    return token

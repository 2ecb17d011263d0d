"""Static checks of the deployment files: compose.yaml and both Dockerfiles.

No Docker engine is needed (or used): compose.yaml is validated against the Compose
Specification JSON schema and then against regwatch's own deployment invariants, and
the Dockerfiles are checked line by line.

Vendored schema: tests/compose-spec.schema.json is the Compose Specification schema
(`schema/compose-spec.json` of the public repository compose-spec/compose-spec,
Apache-2.0, "$id": "compose_spec.json", JSON Schema draft-07), byte for byte as the
npm package dclint@3.1.0 ships it at `schemas/compose.schema.json` (that package's
`update-compose-schema` script downloads it from compose-spec/compose-spec).
sha256 46b7d35f19dd93a05f8fea530291bf84d881c1791ec167ecf0e6fb94e639d496.
To refresh: `npm pack dclint@<version>` (or take the file from compose-spec/compose-spec)
and replace the file; the schema test below must still pass.

Every invariant checker returns a list of human-readable violations; each has a
negative test that mutates a loaded copy of the real file and expects the checker to
report it, so no check passes vacuously.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "compose.yaml"
SCHEMA_FILE = ROOT / "tests" / "compose-spec.schema.json"
ENV_EXAMPLE = ROOT / ".env.example"
API_DOCKERFILE = ROOT / "Dockerfile"
GATEWAY_DOCKERFILE = ROOT / "gateway" / "Dockerfile"

# Top-level Python packages of regwatch (pyproject: registry*, events*, watcher*, api*).
CODE_PACKAGES = {"registry", "events", "watcher", "api", "serving", "cli"}
# Places in a container that hold code: the registry must never live below them.
CODE_ROOTS = ["/app", "/src", "/opt/venv", "/usr/local/lib", "/usr/lib", "/usr/local/bin"]
BUILD_TOOLS = ("gcc", "g++", "build-essential", "clang", "make", "cmake", "cc", "python3-dev")
SECRET_NAME_RE = re.compile(r"(api[_-]?keys?|secret|token|password)$", re.IGNORECASE)


# ---------------------------------------------------------------- loading helpers


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def load_schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text())


def schema_errors(doc: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(load_schema())
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(doc)
    ]


_VAR = r"[A-Za-z_][A-Za-z0-9_]*"
_INTERP_RE = re.compile(
    rf"\$(?:(?P<escaped>\$)|\{{(?P<braced>{_VAR})(?:(?P<sep>:?[-?+])(?P<arg>[^}}]*))?\}}|(?P<named>{_VAR})|)"
)


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose-style ${VAR}, ${VAR:-default}, ${VAR-default}, $VAR and $$ (literal $).

    Raises ValueError where compose itself would fail ("invalid interpolation format"),
    e.g. a shell "$(...)" that was not written as "$$(...)".
    """
    env = env or {}

    def sub(m: re.Match) -> str:
        if m.group("escaped"):
            return "$"
        name = m.group("braced") or m.group("named")
        if name is None:
            raise ValueError(f"invalid interpolation format in {value!r} (write $$ for a literal $)")
        sep, arg = m.group("sep"), m.group("arg") or ""
        current = env.get(name)
        if sep in (":-", "-"):
            unset = current is None or (sep == ":-" and current == "")
            return arg if unset else current
        if sep in (":?", "?"):
            if current is None or (sep == ":?" and current == ""):
                raise ValueError(f"{name} is required: {arg}")
            return current
        if sep in (":+", "+"):
            isset = current is not None and (sep == "+" or current != "")
            return arg if isset else ""
        return current or ""

    return _INTERP_RE.sub(sub, value)


def walk_strings(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk_strings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_strings(v, (*path, i))
    elif isinstance(node, str):
        yield path, node


def env_of(service: dict) -> dict[str, str | None]:
    """A service's `environment` as a dict, whichever of the two forms it uses."""
    raw = service.get("environment") or {}
    if isinstance(raw, dict):
        return {k: (None if v is None else str(v)) for k, v in raw.items()}
    out: dict[str, str | None] = {}
    for item in raw:
        key, sep, val = str(item).partition("=")
        out[key] = val if sep else None
    return out


def published_ports(service: dict) -> list:
    return list(service.get("ports") or [])


def port_targets(service: dict) -> list[str]:
    """Container-side ports of a service's `ports` entries."""
    targets = []
    for p in published_ports(service):
        if isinstance(p, dict):
            targets.append(str(p.get("target")))
        else:
            spec = interpolate(str(p)).split("/")[0]
            targets.append(spec.rsplit(":", 1)[-1])
    return targets


def volume_mounts(service: dict) -> list[dict]:
    """Normalise short ("src:dst[:mode]") and long volume syntax to dicts."""
    mounts = []
    for v in service.get("volumes") or []:
        if isinstance(v, dict):
            mounts.append(
                {
                    "type": v.get("type", "volume"),
                    "source": v.get("source"),
                    "target": v.get("target"),
                    "read_only": bool(v.get("read_only", False)),
                }
            )
            continue
        parts = str(v).split(":")
        if len(parts) == 1:
            mounts.append({"type": "volume", "source": None, "target": parts[0], "read_only": False})
            continue
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else ""
        is_bind = source.startswith((".", "/", "~", "$"))
        mounts.append(
            {
                "type": "bind" if is_bind else "volume",
                "source": source,
                "target": target,
                "read_only": "ro" in mode.split(","),
            }
        )
    return mounts


def depends_condition(service: dict, dependency: str) -> str | None:
    deps = service.get("depends_on")
    if isinstance(deps, list):
        return "service_started" if dependency in deps else None
    if isinstance(deps, dict) and dependency in deps:
        return (deps[dependency] or {}).get("condition", "service_started")
    return None


# ------------------------------------------------------------ Dockerfile parsing


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; comments dropped, continuations joined."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # comment inside a continued instruction
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            word, _, rest = buf.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
        buf = ""
    if buf.strip():
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def dockerfile_stages(text: str) -> list[list[tuple[str, str]]]:
    """Instructions grouped by build stage (each stage starts at a FROM)."""
    stages: list[list[tuple[str, str]]] = []
    for ins in dockerfile_instructions(text):
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def dockerfile_env(text: str) -> dict[str, str]:
    """ENV values of the final stage (KEY=VALUE form, plus legacy `ENV KEY VALUE`)."""
    env: dict[str, str] = {}
    stages = dockerfile_stages(text)
    for ins, args in stages[-1] if stages else []:
        if ins != "ENV":
            continue
        if "=" not in args.split(" ", 1)[0]:
            key, _, val = args.partition(" ")
            env[key] = val.strip().strip('"')
            continue
        for m in re.finditer(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)', args):
            env[m.group(1)] = m.group(2).strip('"')
    return env


def check_dockerfile(text: str, *, multi_stage: bool) -> list[str]:
    """Non-root USER, a HEALTHCHECK, and no build tools in the final stage."""
    problems: list[str] = []
    stages = dockerfile_stages(text)
    if not stages:
        return ["no FROM instruction"]
    if multi_stage and len(stages) < 2:
        problems.append("expected a multi-stage build (builder + runtime)")
    final = stages[-1]

    users = [args.split()[0] for ins, args in final if ins == "USER" and args]
    if not users:
        problems.append("final stage has no USER instruction: the container would run as root")
    elif users[-1].split(":")[0] in ("root", "0"):
        problems.append(f"final stage runs as root (USER {users[-1]})")

    checks = [args for ins, args in final if ins == "HEALTHCHECK"]
    if not checks:
        problems.append("no HEALTHCHECK instruction in the final stage")
    elif checks[-1].split()[0].upper() == "NONE":
        problems.append("HEALTHCHECK NONE disables the health check")

    for ins, args in final:
        if ins != "RUN":
            continue
        words = set(re.split(r"[\s;&|()=]+", args))
        found = sorted(t for t in BUILD_TOOLS if t in words)
        if found:
            problems.append(f"final stage installs or runs build tools: {found}")

    if multi_stage:
        for ins, args in final:
            if ins in ("COPY", "ADD") and "--from=" not in args:
                problems.append(
                    f"final stage copies from the build context ({ins} {args}); copy only the venv from the builder"
                )
    return problems


# ------------------------------------------------------- compose invariant checker


def dockerfile_for(service: dict) -> Path | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        context, name = build, "Dockerfile"
    else:
        context, name = build.get("context", "."), build.get("dockerfile", "Dockerfile")
    return (ROOT / context / name).resolve()


def api_registry_path(api: dict, dockerfile_text: str) -> str | None:
    value = env_of(api).get("REGWATCH_REGISTRY")
    if value is None:
        value = dockerfile_env(dockerfile_text).get("REGWATCH_REGISTRY")
    return None if value is None else interpolate(value)


def code_folder_problem(path: str, dockerfile_text: str) -> str | None:
    """Why `path` lies inside a folder that holds code, or None if it does not."""
    p = PurePosixPath(path)
    if not p.is_absolute():
        return f"registry path {path} is not absolute"
    for parent in p.parents:
        if parent.name in CODE_PACKAGES:
            return f"registry path {path} is inside the code package folder {parent}"
    roots = list(CODE_ROOTS)
    for stage in dockerfile_stages(dockerfile_text):
        roots += [args.split()[0] for ins, args in stage if ins == "WORKDIR" and args]
        for ins, args in stage:
            if ins in ("COPY", "ADD"):
                dest = args.split()[-1]
                if dest.startswith("/"):
                    roots.append(dest)
    for root in roots:
        r = PurePosixPath(root)
        if str(r) == "/":
            continue
        if p == r or r in p.parents:
            return f"registry path {path} is inside code folder {root}"
    return None


def check_compose(doc: dict, dockerfiles: dict[str, str] | None = None) -> list[str]:
    """regwatch's deployment invariants; returns the violations found."""
    problems: list[str] = []
    services = doc.get("services") or {}
    api, gateway = services.get("api"), services.get("gateway")
    if api is None or gateway is None:
        return ["services api and gateway are both required"]

    def dockerfile_text(name: str, service: dict) -> str:
        if dockerfiles is not None and name in dockerfiles:
            return dockerfiles[name]
        path = dockerfile_for(service)
        return path.read_text() if path and path.is_file() else ""

    api_df, gw_df = dockerfile_text("api", api), dockerfile_text("gateway", gateway)

    # Only the gateway is reachable from outside.
    if published_ports(api):
        problems.append(f"api publishes ports {published_ports(api)}: it must use `expose` only")
    if api.get("network_mode") == "host":
        problems.append("api uses network_mode: host, which bypasses the gateway")
    if not published_ports(gateway):
        problems.append("gateway publishes no port")
    elif "8080" not in port_targets(gateway):
        problems.append(f"gateway publishes {published_ports(gateway)}, not its port 8080")

    # Registry on the named volume, at the path the api reads.
    registry = api_registry_path(api, api_df)
    named_volumes = doc.get("volumes") or {}
    if registry is None:
        problems.append("REGWATCH_REGISTRY is set neither in compose nor in the api Dockerfile")
    else:
        mounts = [m for m in volume_mounts(api) if m["target"] == registry]
        if not mounts:
            problems.append(f"nothing is mounted in api at REGWATCH_REGISTRY={registry}")
        for m in mounts:
            if m["type"] != "volume" or m["source"] not in named_volumes:
                problems.append(
                    f"api's {registry} is not a top-level named volume ({m['type']} {m['source']})"
                )
            if m["read_only"]:
                problems.append(f"api's {registry} is mounted read-only: publishing into it would fail")
        why = code_folder_problem(registry, api_df)
        if why:
            problems.append(why)

    # Health checks: compose-level, or the image's HEALTHCHECK.
    for name, service, df in (("api", api, api_df), ("gateway", gateway, gw_df)):
        hc = service.get("healthcheck")
        if hc is not None and hc.get("disable"):
            problems.append(f"{name} disables its healthcheck")
        elif hc is not None and hc.get("test"):
            continue
        elif not any(
            ins == "HEALTHCHECK" and not args.upper().startswith("NONE")
            for ins, args in dockerfile_instructions(df)
        ):
            problems.append(f"{name} has no healthcheck (neither in compose nor in its Dockerfile)")

    if depends_condition(gateway, "api") != "service_healthy":
        problems.append("gateway must depend on api with condition: service_healthy")

    # API keys: from a secret file, never a literal in compose.yaml.
    for name, service in services.items():
        for key, value in env_of(service).items():
            if value and SECRET_NAME_RE.search(key) and "$" not in value:
                problems.append(f"{name}: {key} is a literal in compose.yaml; use a secret file")
    for variable in GATEWAY_SECRET_FILES:
        problems += secret_file_problems(doc, "gateway", variable)
    problems += admin_token_problems(doc, "api", "gateway")
    for name, spec in (doc.get("secrets") or {}).items():
        if isinstance(spec, dict) and "content" in spec:
            problems.append(f"secret {name} carries its content inline")
    return problems


# What the gateway reads from secret files: prediction keys, admin keys, the API's token.
GATEWAY_SECRET_FILES = ["API_KEYS_FILE", "ADMIN_API_KEYS_FILE", "REGWATCH_ADMIN_TOKEN_FILE"]


def secret_file_problems(doc: dict, name: str, variable: str) -> list[str]:
    """`variable` of service `name` names a file under /run/secrets/ of a secret granted to
    the service, and that secret has a source outside compose.yaml."""
    service = doc["services"][name]
    path = env_of(service).get(variable)
    if not path:
        return [f"{name} has no {variable}"]
    problems = []
    secret = PurePosixPath(path).name
    granted = [s if isinstance(s, str) else s.get("source") for s in service.get("secrets") or []]
    if not path.startswith("/run/secrets/") or secret not in granted:
        problems.append(f"{variable}={path} is not a secret granted to the {name}")
    top = (doc.get("secrets") or {}).get(secret) or {}
    if not (top.get("file") or top.get("external") or top.get("environment")):
        problems.append(f"secret {secret} has no file/external/environment source")
    return problems


def admin_token_problems(doc: dict, api: str, gateway: str) -> list[str]:
    """The API reads its admin token from a secret, the same one its gateway sends, and
    neither also sets REGWATCH_ADMIN_TOKEN (both set: each refuses to start)."""
    problems = secret_file_problems(doc, api, "REGWATCH_ADMIN_TOKEN_FILE")
    files = {name: env_of(doc["services"][name]).get("REGWATCH_ADMIN_TOKEN_FILE") for name in (api, gateway)}
    if files[api] != files[gateway]:
        problems.append(f"{api} and {gateway} read the admin token from different files: {files}")
    for name in (api, gateway):
        if "REGWATCH_ADMIN_TOKEN" in env_of(doc["services"][name]):
            problems.append(f"{name} sets both REGWATCH_ADMIN_TOKEN and REGWATCH_ADMIN_TOKEN_FILE")
    return problems


def check_fleet_profile(doc: dict) -> list[str]:
    """Cluster mode (`--profile fleet`): NATS with JetStream on a volume, at least three API
    replicas on the api's registry volume with distinct replica ids, and a gateway that
    lists every replica. None of it starts without the profile."""
    problems: list[str] = []
    services = doc.get("services") or {}
    fleet = {name: svc for name, svc in services.items() if "fleet" in (svc.get("profiles") or [])}
    api = services.get("api") or {}
    named_volumes = doc.get("volumes") or {}

    nats_name = next(
        (name for name, svc in fleet.items() if str(svc.get("image", "")).startswith("nats:")), None
    )
    if nats_name is None:
        return ["the fleet profile has no NATS service (official image nats:...)"]
    nats = fleet[nats_name]
    version = re.match(r"nats:(\d+)\.(\d+)", str(nats["image"]))
    if version is None or (int(version.group(1)), int(version.group(2))) < (2, 11):
        problems.append(
            f"{nats_name}: image {nats['image']} must pin NATS 2.11 or later (member entry expiry)"
        )
    command = [str(part) for part in nats.get("command") or []]
    if not {"--jetstream", "-js"} & set(command):
        problems.append(f"{nats_name} runs without JetStream")
    store = next(
        (command[i + 1] for i, part in enumerate(command[:-1]) if part in ("--store_dir", "-sd")), None
    )
    stored = [m for m in volume_mounts(nats) if m["target"] == store]
    if store is None or not stored or stored[0]["source"] not in named_volumes:
        problems.append(f"{nats_name}: the JetStream store is not on a named volume")
    if published_ports(nats):
        problems.append(f"{nats_name} publishes ports: NATS is for the replicas only")

    registry = api_registry_path(api, API_DOCKERFILE.read_text())
    api_volume = next((m["source"] for m in volume_mounts(api) if m["target"] == registry), None)
    replicas = {name: svc for name, svc in fleet.items() if "REGWATCH_NATS_URL" in env_of(svc)}
    if len(replicas) < 3:
        problems.append(f"the fleet profile runs {len(replicas)} API replicas, not at least 3")
    ids: dict[str, str] = {}
    for name, svc in replicas.items():
        env = {key: interpolate(value or "") for key, value in env_of(svc).items()}
        if svc.get("image") != api.get("image"):
            problems.append(f"{name} does not run the api image")
        path = env.get("REGWATCH_REGISTRY") or registry
        mounts = [m for m in volume_mounts(svc) if m["target"] == path]
        if not mounts or mounts[0]["source"] != api_volume or mounts[0]["read_only"]:
            problems.append(f"{name} does not mount the api's registry volume {api_volume} at {path}")
        if (
            urlsplit(env["REGWATCH_NATS_URL"]).hostname != nats_name
            or depends_condition(svc, nats_name) is None
        ):
            problems.append(f"{name} does not use (and wait for) the fleet's NATS service {nats_name}")
        replica_id = env.get("REGWATCH_REPLICA_ID", "")
        if not replica_id or replica_id in ids:
            problems.append(
                f"{name}: REGWATCH_REPLICA_ID {replica_id!r} is missing or also {ids.get(replica_id)}'s"
            )
        ids[replica_id] = name
        if published_ports(svc):
            problems.append(f"{name} publishes ports: it must use `expose` only")

    gateways = {name: svc for name, svc in fleet.items() if "UPSTREAM_URLS" in env_of(svc)}
    if len(gateways) != 1:
        return [*problems, "the fleet profile needs one gateway with UPSTREAM_URLS"]
    ((gw_name, gateway),) = gateways.items()
    upstreams = {
        urlsplit(url).hostname for url in interpolate(env_of(gateway)["UPSTREAM_URLS"] or "").split(",")
    }
    if upstreams != set(replicas):
        problems.append(
            f"{gw_name} UPSTREAM_URLS names {sorted(upstreams)}, not the replicas {sorted(replicas)}"
        )
    for name in replicas:
        if depends_condition(gateway, name) != "service_healthy":
            problems.append(f"{gw_name} must depend on {name} with condition: service_healthy")
    if "UPSTREAM_URL" in env_of(gateway):
        problems.append(f"{gw_name} sets UPSTREAM_URL beside UPSTREAM_URLS: the gateway refuses both")
    for variable in GATEWAY_SECRET_FILES:
        problems += secret_file_problems(doc, gw_name, variable)
    for name in replicas:
        problems += admin_token_problems(doc, name, gw_name)
    host_ports = {
        interpolate(str(p)).split(":")[0]
        for name in (gw_name, "gateway")
        for p in published_ports(services.get(name) or {})
    }
    if "8080" not in port_targets(gateway) or len(host_ports) < 2:
        problems.append(f"{gw_name} must publish its port 8080 on a host port of its own")
    for name, svc in fleet.items():
        if svc.get("restart") != "unless-stopped":
            problems.append(f"{name} is not restarted unless stopped")
    return problems


def compose_variables(doc: dict) -> set[str]:
    names = set()
    for _, s in walk_strings(doc):
        for m in _INTERP_RE.finditer(s):
            if m.group("braced") or m.group("named"):
                names.add(m.group("braced") or m.group("named"))
    return names


# ===================================================================== the tests


def test_compose_is_valid_against_the_compose_spec_schema():
    assert schema_errors(load_compose()) == []


def test_schema_is_the_compose_spec_and_rejects_a_broken_file():
    schema = load_schema()
    assert schema.get("title") == "Compose Specification"
    assert schema.get("$id") == "compose_spec.json"
    broken = load_compose()
    broken["services"]["api"]["expose"] = {"8000": True}  # must be a list
    broken["services"]["gateway"]["depends_on"]["api"]["condition"] = "service_ready"
    broken["servces"] = {}
    errors = schema_errors(broken)
    assert any(e.startswith("services/api/expose") for e in errors), errors
    assert any("service_ready" in e for e in errors), errors
    assert any("servces" in e for e in errors), errors


def test_every_string_in_compose_interpolates():
    # A shell "$(...)" must be written "$$(...)" or compose refuses the file.
    for _path, s in walk_strings(load_compose()):
        interpolate(s)
    with pytest.raises(ValueError):
        interpolate('sh -c "$(regwatch ls)"')
    assert interpolate("$$(ls) ${A:-x} ${B-y} $C", {"C": "c"}) == "$(ls) x y c"


def test_compose_keeps_every_invariant():
    assert check_compose(load_compose()) == []


def test_api_does_not_publish_a_port_and_the_gateway_does():
    doc = load_compose()
    assert "ports" not in doc["services"]["api"]
    assert [str(p) for p in doc["services"]["api"]["expose"]] == ["8000"]
    assert port_targets(doc["services"]["gateway"]) == ["8080"]
    assert interpolate(doc["services"]["gateway"]["ports"][0]) == "8080:8080"
    assert interpolate(doc["services"]["gateway"]["ports"][0], {"GATEWAY_PORT": "9000"}) == "9000:8080"


def test_registry_volume_matches_regwatch_registry():
    doc = load_compose()
    api = doc["services"]["api"]
    path = api_registry_path(api, API_DOCKERFILE.read_text())
    assert path == "/data/registry"
    assert dockerfile_env(API_DOCKERFILE.read_text())["REGWATCH_REGISTRY"] == path
    assert {"type": "volume", "source": "registry", "target": path, "read_only": False} in volume_mounts(api)
    assert "registry" in doc["volumes"]
    # Without the compose-level setting, the Dockerfile default is what counts.
    del api["environment"]["REGWATCH_REGISTRY"]
    assert api_registry_path(api, API_DOCKERFILE.read_text()) == "/data/registry"
    assert check_compose(doc) == []


def test_gateway_settings():
    gw = env_of(load_compose()["services"]["gateway"])
    assert gw["UPSTREAM_URL"] == "http://api:8000"
    assert gw["API_KEYS_FILE"] == "/run/secrets/api_keys"
    assert gw["ADMIN_API_KEYS_FILE"] == "/run/secrets/admin_api_keys"
    assert gw["REGWATCH_ADMIN_TOKEN_FILE"] == "/run/secrets/admin_token"
    assert gw["HOST"] == "0.0.0.0"
    assert not {"API_KEYS", "ADMIN_API_KEYS", "REGWATCH_ADMIN_TOKEN"} & set(gw)


def test_release_over_http_is_wired_in_both_profiles():
    """Every API process holds the admin token its gateway sends; each gateway has admin keys."""
    doc = load_compose()
    for api, gateway in (("api", "gateway"), *((f"api-{i}", "gateway-fleet") for i in (1, 2, 3))):
        assert env_of(doc["services"][api])["REGWATCH_ADMIN_TOKEN_FILE"] == "/run/secrets/admin_token"
        assert "admin_token" in doc["services"][api]["secrets"], api
        assert {"api_keys", "admin_api_keys", "admin_token"} <= set(doc["services"][gateway]["secrets"])
    assert "secrets" not in doc["services"]["seed"] and "secrets" not in doc["services"]["nats"]


def test_restart_policies_and_poll_switch():
    doc = load_compose()
    for name in ("api", "gateway"):
        assert doc["services"][name]["restart"] == "unless-stopped"
    api_env = env_of(doc["services"]["api"])
    assert interpolate(api_env["REGWATCH_POLL"]) == "false"
    assert interpolate(api_env["REGWATCH_POLL"], {"REGWATCH_POLL": "true"}) == "true"
    # The switch is explained where it is set.
    text = COMPOSE_FILE.read_text()
    before = text[: text.index("REGWATCH_POLL:")]
    assert "inotify" in before[before.rindex("REGWATCH_PORT") :]


def test_seed_is_one_shot_opt_in_and_guarded():
    doc = load_compose()
    seed = doc["services"]["seed"]
    assert seed["restart"] == "no"
    assert seed.get("profiles"), "seed must not run on every `docker compose up`"
    assert seed["image"] == doc["services"]["api"]["image"]
    assert volume_mounts(seed) == volume_mounts(doc["services"]["api"])
    script = interpolate(" ".join(seed["command"]))
    assert "regwatch demo" in script and "regwatch ls" in script and "-z" in script
    assert "ports" not in seed


def test_env_example_documents_every_compose_variable():
    documented = {
        line.split("=", 1)[0].strip()
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert {"GATEWAY_PORT", "REGWATCH_POLL"} <= documented
    assert compose_variables(load_compose()) <= documented


def test_api_keys_are_not_in_the_repository():
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"API_KEYS\s*[:=]\s*\S", text), "API_KEYS given inline"
    assert {name: spec["file"] for name, spec in load_compose()["secrets"].items()} == {
        "api_keys": "./secrets/api_keys.txt",
        "admin_api_keys": "./secrets/admin_api_keys.txt",
        "admin_token": "./secrets/admin_token.txt",
    }
    assert not re.search(r"ADMIN_TOKEN\s*[:=]\s*\S", text), "the admin token given inline"
    if shutil.which("git") and (ROOT / ".git").exists():
        tracked = subprocess.run(
            ["git", "ls-files", "secrets"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout
        assert tracked.strip() == "", f"secret files are committed: {tracked}"


# --------------------------------------------- each invariant can fail: mutations


def _mutate(fn):
    doc = copy.deepcopy(load_compose())
    fn(doc)
    return doc


def _svc(doc, name):
    return doc["services"][name]


MUTATIONS = {
    "api publishes a port": (
        lambda d: _svc(d, "api").__setitem__("ports", ["8000:8000"]),
        "api publishes ports",
    ),
    "api on the host network": (
        lambda d: _svc(d, "api").__setitem__("network_mode", "host"),
        "network_mode: host",
    ),
    "gateway publishes nothing": (
        lambda d: _svc(d, "gateway").pop("ports"),
        "gateway publishes no port",
    ),
    "gateway publishes the wrong port": (
        lambda d: _svc(d, "gateway").__setitem__("ports", ["8080:3000"]),
        "not its port 8080",
    ),
    "volume mounted elsewhere": (
        lambda d: _svc(d, "api")["volumes"][0].__setitem__("target", "/data/other"),
        "nothing is mounted in api at REGWATCH_REGISTRY=/data/registry",
    ),
    "registry env points elsewhere": (
        lambda d: _svc(d, "api")["environment"].__setitem__("REGWATCH_REGISTRY", "/srv/models"),
        "nothing is mounted in api at REGWATCH_REGISTRY=/srv/models",
    ),
    "bind mount instead of the named volume": (
        lambda d: _svc(d, "api").__setitem__("volumes", ["./var/registry:/data/registry"]),
        "is not a top-level named volume",
    ),
    "read-only registry": (
        lambda d: _svc(d, "api").__setitem__("volumes", ["registry:/data/registry:ro"]),
        "read-only",
    ),
    "registry inside a code package": (
        lambda d: (
            _svc(d, "api")["environment"].__setitem__("REGWATCH_REGISTRY", "/app/registry"),
            _svc(d, "api").__setitem__("volumes", ["registry:/app/registry"]),
        ),
        "code",
    ),
    "registry below a package folder": (
        lambda d: (
            _svc(d, "api")["environment"].__setitem__("REGWATCH_REGISTRY", "/srv/api/models"),
            _svc(d, "api").__setitem__("volumes", ["registry:/srv/api/models"]),
        ),
        "inside the code package folder /srv/api",
    ),
    "registry inside the venv": (
        lambda d: (
            _svc(d, "api")["environment"].__setitem__("REGWATCH_REGISTRY", "/opt/venv/lib/registry"),
            _svc(d, "api").__setitem__("volumes", ["registry:/opt/venv/lib/registry"]),
        ),
        "inside code folder /opt/venv",
    ),
    "api healthcheck disabled": (
        lambda d: _svc(d, "api").__setitem__("healthcheck", {"disable": True}),
        "api disables its healthcheck",
    ),
    "gateway waits only for start": (
        lambda d: _svc(d, "gateway")["depends_on"]["api"].__setitem__("condition", "service_started"),
        "service_healthy",
    ),
    "gateway depends_on short form": (
        lambda d: _svc(d, "gateway").__setitem__("depends_on", ["api"]),
        "service_healthy",
    ),
    "literal API key": (
        lambda d: _svc(d, "gateway")["environment"].__setitem__("API_KEYS", "sk-live-0123456789"),
        "API_KEYS is a literal",
    ),
    "literal API key, list form": (
        lambda d: _svc(d, "gateway").__setitem__(
            "environment",
            ["UPSTREAM_URL=http://api:8000", "API_KEYS=k1,k2", "API_KEYS_FILE=/run/secrets/api_keys"],
        ),
        "API_KEYS is a literal",
    ),
    "secret not granted to the gateway": (
        lambda d: _svc(d, "gateway").pop("secrets"),
        "is not a secret granted to the gateway",
    ),
    "no API_KEYS_FILE": (
        lambda d: _svc(d, "gateway")["environment"].pop("API_KEYS_FILE"),
        "gateway has no API_KEYS_FILE",
    ),
    "literal admin key": (
        lambda d: _svc(d, "gateway")["environment"].__setitem__("ADMIN_API_KEYS", "admin-0123456789abcdef"),
        "gateway: ADMIN_API_KEYS is a literal",
    ),
    "literal admin token in the api": (
        lambda d: _svc(d, "api")["environment"].__setitem__("REGWATCH_ADMIN_TOKEN", "token-0123456789abcdef"),
        "api: REGWATCH_ADMIN_TOKEN is a literal",
    ),
    "admin token from the environment beside its file": (
        lambda d: _svc(d, "gateway")["environment"].__setitem__("REGWATCH_ADMIN_TOKEN", "${ADMIN_TOKEN}"),
        "gateway sets both REGWATCH_ADMIN_TOKEN and REGWATCH_ADMIN_TOKEN_FILE",
    ),
    "admin keys not granted to the gateway": (
        lambda d: _svc(d, "gateway").__setitem__("secrets", ["api_keys", "admin_token"]),
        "ADMIN_API_KEYS_FILE=/run/secrets/admin_api_keys is not a secret granted to the gateway",
    ),
    "no ADMIN_API_KEYS_FILE": (
        lambda d: _svc(d, "gateway")["environment"].pop("ADMIN_API_KEYS_FILE"),
        "gateway has no ADMIN_API_KEYS_FILE",
    ),
    "api without the admin token": (
        lambda d: _svc(d, "api")["environment"].pop("REGWATCH_ADMIN_TOKEN_FILE"),
        "api has no REGWATCH_ADMIN_TOKEN_FILE",
    ),
    "admin token not granted to the api": (
        lambda d: _svc(d, "api").pop("secrets"),
        "REGWATCH_ADMIN_TOKEN_FILE=/run/secrets/admin_token is not a secret granted to the api",
    ),
    "api and gateway on different tokens": (
        lambda d: _svc(d, "gateway")["environment"].__setitem__(
            "REGWATCH_ADMIN_TOKEN_FILE", "/run/secrets/api_keys"
        ),
        "api and gateway read the admin token from different files",
    ),
    "admin token secret without a source": (
        lambda d: d["secrets"].__setitem__("admin_token", {"content": "token-0123456789abcdef"}),
        "secret admin_token has no file/external/environment source",
    ),
    "admin token secret inline": (
        lambda d: d["secrets"].__setitem__("admin_token", {"content": "token-0123456789abcdef"}),
        "secret admin_token carries its content inline",
    ),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_invariant_checker_catches(name):
    mutate, expected = MUTATIONS[name]
    problems = check_compose(_mutate(mutate))
    assert any(expected in p for p in problems), (name, problems)


def test_missing_healthchecks_are_caught_through_the_dockerfiles():
    no_hc = 'FROM python:3.11-slim\nUSER app\nCMD ["x"]\n'
    problems = check_compose(load_compose(), {"api": no_hc, "gateway": no_hc + "HEALTHCHECK NONE\n"})
    assert "api has no healthcheck (neither in compose nor in its Dockerfile)" in problems
    assert "gateway has no healthcheck (neither in compose nor in its Dockerfile)" in problems
    # A compose-level healthcheck makes up for the image's missing one.
    doc = load_compose()
    doc["services"]["api"]["healthcheck"] = {"test": ["CMD", "true"]}
    assert not any(p.startswith("api has no healthcheck") for p in check_compose(doc, {"api": no_hc}))


def test_registry_path_is_checked_against_the_dockerfile_workdir():
    dockerfile = "FROM python:3.11-slim\nWORKDIR /srv/regwatch\nUSER app\n"
    assert "inside code folder /srv/regwatch" in code_folder_problem("/srv/regwatch/models", dockerfile)
    assert code_folder_problem("/data/registry", API_DOCKERFILE.read_text()) is None


# ---------------------------------------------------------------- Dockerfiles


def test_api_dockerfile():
    text = API_DOCKERFILE.read_text()
    assert check_dockerfile(text, multi_stage=True) == []
    stages = dockerfile_stages(text)
    assert all("3.11" in stage[0][1] or "PYTHON_IMAGE" in stage[0][1] for stage in stages)
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    final = stages[-1]
    env = dockerfile_env(text)
    assert env["REGWATCH_REGISTRY"] == "/data/registry"
    assert env["REGWATCH_HOST"] == "0.0.0.0"
    assert env["REGWATCH_PORT"] == "8000"
    assert ("VOLUME", "/data/registry") in final
    copies = [args for ins, args in final if ins == "COPY"]
    assert copies == ["--from=builder /opt/venv /opt/venv"]
    hc = next(args for ins, args in final if ins == "HEALTHCHECK")
    assert "urllib" in hc and "/healthz" in hc and "curl" not in hc
    assert final[-1] == ("CMD", '["regwatch", "serve", "--host", "0.0.0.0"]')
    # The VOLUME comes after the chown: changes to a volume path after VOLUME are lost.
    names = [ins for ins, _ in final]
    chown = next(i for i, (ins, args) in enumerate(final) if ins == "RUN" and "chown" in args)
    assert chown < names.index("VOLUME") and names.index("USER") < names.index("CMD")


def test_gateway_dockerfile():
    text = GATEWAY_DOCKERFILE.read_text()
    assert check_dockerfile(text, multi_stage=False) == []
    ins = dockerfile_instructions(text)
    assert ins[0] == ("FROM", "node:20-slim")
    assert ("USER", "node") in ins
    assert any(i == "RUN" and "npm ci --omit=dev" in a for i, a in ins)
    assert "HOST" in dockerfile_env(text) and dockerfile_env(text)["HOST"] == "0.0.0.0"
    hc = next(a for i, a in ins if i == "HEALTHCHECK")
    assert "node" in hc and "fetch(" in hc and "/healthz" in hc
    assert ins[-1] == ("CMD", '["node", "src/server.js"]')


def test_dockerfile_checker_catches_root_missing_healthcheck_and_build_tools():
    good = API_DOCKERFILE.read_text()
    assert "runs as root" in " ".join(check_dockerfile(good + "\nUSER root\n", multi_stage=True))
    no_user = "\n".join(l for l in good.splitlines() if not l.startswith("USER "))
    assert any("no USER" in p for p in check_dockerfile(no_user, multi_stage=True))
    no_hc = re.sub(r"^HEALTHCHECK .*?(?=^CMD)", "", good, flags=re.M | re.S)
    assert any("no HEALTHCHECK" in p for p in check_dockerfile(no_hc, multi_stage=True))
    tools = good.replace(
        "COPY --from=builder /opt/venv /opt/venv",
        "COPY --from=builder /opt/venv /opt/venv\nRUN apt-get update \\\n && apt-get install -y --no-install-recommends build-essential gcc",
    )
    assert any("build tools" in p for p in check_dockerfile(tools, multi_stage=True))
    single = "FROM python:3.11-slim\nCOPY . /app\nUSER app\nHEALTHCHECK CMD true\n"
    problems = check_dockerfile(single, multi_stage=True)
    assert any("multi-stage" in p for p in problems) and any(
        "copies from the build context" in p for p in problems
    )
    # Build tools in the builder stage are fine: only the final stage counts.
    builder_tools = good.replace(
        "RUN python -m venv /opt/venv", "RUN apt-get install -y gcc && python -m venv /opt/venv"
    )
    assert check_dockerfile(builder_tools, multi_stage=True) == []


def test_dockerignore_files():
    top = {
        l.strip()
        for l in (ROOT / ".dockerignore").read_text().splitlines()
        if l.strip() and not l.startswith("#")
    }
    assert {".venv", "var", "gateway/node_modules", ".git", ".pytest_cache", ".hypothesis", "secrets"} <= top
    # What the API image needs must stay in the build context.
    assert not top & {"registry", "events", "watcher", "api", "pyproject.toml", "README.md", "*"}
    gw = {
        l.strip()
        for l in (ROOT / "gateway" / ".dockerignore").read_text().splitlines()
        if l.strip() and not l.startswith("#")
    }
    assert "node_modules" in gw
    assert not gw & {"src", "package.json", "package-lock.json", "*"}


def test_the_image_builds_from_every_package_folder():
    """The builder stage copies each folder pyproject maps onto `regwatch.*` (a missing one
    fails the image's wheel build, which no test here can run without a Docker engine)."""
    import tomllib

    package_dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    copied = {
        args.split()[0].rstrip("/")
        for stage in dockerfile_stages(API_DOCKERFILE.read_text())
        for ins, args in stage
        if ins == "COPY" and "--from=" not in args
    }
    assert set(package_dirs.values()) <= copied, set(package_dirs.values()) - copied


# ---------------------------------------------------------------- the fleet profile


def test_the_fleet_profile_keeps_its_invariants():
    doc = load_compose()
    assert check_fleet_profile(doc) == []
    fleet = {name for name, svc in doc["services"].items() if "fleet" in (svc.get("profiles") or [])}
    assert fleet == {"nats", "api-1", "api-2", "api-3", "gateway-fleet"}
    assert not doc["services"]["api"].get("profiles") and not doc["services"]["gateway"].get("profiles")
    assert "REGWATCH_NATS_URL" not in env_of(doc["services"]["api"])  # a plain `up` runs one process alone


FLEET_MUTATIONS = {
    "two replicas with one id": (
        lambda d: _svc(d, "api-2")["environment"].__setitem__("REGWATCH_REPLICA_ID", "api-1"),
        "REGWATCH_REPLICA_ID 'api-1' is missing or also api-1's",
    ),
    "a replica on its own volume": (
        lambda d: _svc(d, "api-3")["volumes"][0].__setitem__("source", "other"),
        "api-3 does not mount the api's registry volume registry",
    ),
    "a replica pointing at another NATS": (
        lambda d: _svc(d, "api-2")["environment"].__setitem__("REGWATCH_NATS_URL", "nats://elsewhere:4222"),
        "api-2 does not use (and wait for) the fleet's NATS service nats",
    ),
    "NATS without JetStream": (
        lambda d: _svc(d, "nats").__setitem__("command", ["nats-server"]),
        "nats runs without JetStream",
    ),
    "JetStream store in the container": (
        lambda d: _svc(d, "nats").__setitem__("volumes", []),
        "the JetStream store is not on a named volume",
    ),
    "NATS older than 2.11": (
        lambda d: _svc(d, "nats").__setitem__("image", "nats:2.10-alpine"),
        "must pin NATS 2.11 or later",
    ),
    "gateway missing a replica": (
        lambda d: _svc(d, "gateway-fleet")["environment"].__setitem__(
            "UPSTREAM_URLS", "http://api-1:8000,http://api-2:8000"
        ),
        "UPSTREAM_URLS names ['api-1', 'api-2']",
    ),
    "gateway on the single gateway's port": (
        lambda d: _svc(d, "gateway-fleet").__setitem__("ports", ["${GATEWAY_PORT:-8080}:8080"]),
        "on a host port of its own",
    ),
    "a replica publishing a port": (
        lambda d: _svc(d, "api-1").__setitem__("ports", ["8000:8000"]),
        "api-1 publishes ports",
    ),
    "gateway with both upstream settings": (
        lambda d: _svc(d, "gateway-fleet")["environment"].__setitem__("UPSTREAM_URL", "http://api-1:8000"),
        "the gateway refuses both",
    ),
    "a replica without the admin token": (
        lambda d: _svc(d, "api-2").pop("secrets"),
        "REGWATCH_ADMIN_TOKEN_FILE=/run/secrets/admin_token is not a secret granted to the api-2",
    ),
    "a replica with its own token file": (
        lambda d: _svc(d, "api-3").__setitem__(
            "environment",
            {**_svc(d, "api-3")["environment"], "REGWATCH_ADMIN_TOKEN_FILE": "/run/secrets/api_keys"},
        ),
        "api-3 and gateway-fleet read the admin token from different files",
    ),
    "fleet gateway without admin keys": (
        lambda d: _svc(d, "gateway-fleet")["environment"].pop("ADMIN_API_KEYS_FILE"),
        "gateway-fleet has no ADMIN_API_KEYS_FILE",
    ),
    "fleet gateway without the admin token": (
        lambda d: _svc(d, "gateway-fleet").__setitem__("secrets", ["api_keys", "admin_api_keys"]),
        "REGWATCH_ADMIN_TOKEN_FILE=/run/secrets/admin_token is not a secret granted to the gateway-fleet",
    ),
    "two replicas only": (
        lambda d: d["services"].pop("api-3"),
        "runs 2 API replicas",
    ),
}


@pytest.mark.parametrize("name", sorted(FLEET_MUTATIONS))
def test_fleet_profile_checker_catches(name):
    mutate, expected = FLEET_MUTATIONS[name]
    problems = check_fleet_profile(_mutate(mutate))
    assert any(expected in p for p in problems), (name, problems)

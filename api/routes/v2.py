"""The Open Inference Protocol (KServe V2) REST routes, for standard clients (tritonclient,
KServe, MLServer tooling).

Every route names its model and goes through `ServiceState.model` (404 for an unknown name);
infer takes the same path as `/predict` (`ServedModel.choose`: stable or the canary by
`X-Routing-Key`, or a pinned version; then the shared batcher; a stable answer is
shadowed). Errors are `{"error": ...}`: 400 for a request the model cannot
take (also a version that failed to load), 404 for an unknown model or version, 503 while
nothing serves yet or a pinned version is still loading. Readiness and liveness answer 200 for
true and 400 for false, as the protocol says.
"""

from importlib.metadata import version as package_version
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from regwatch.registry import VersionNotFound
from regwatch.serving import Role, ServedModel

from .. import oip
from ..state import ServiceState, service
from .health import failure, not_ready

# The prefixed router: metadata, readiness, the repository index. Infer is on `infer_router`.
router = APIRouter(prefix="/v2", tags=["open inference protocol"])
# Infer on a router of its own, with full paths: the app takes its routes as its own (see
# app.py), so the hot path skips the nested match of an included router.
infer_router = APIRouter(tags=["open inference protocol"])

SERVER = {"name": "regwatch", "version": package_version("regwatch"), "extensions": []}
MAX_VERSION = 128

ModelName = Annotated[str, Path(max_length=64)]
VersionName = Annotated[str, Path(max_length=MAX_VERSION)]
Svc = Annotated[ServiceState, Depends(service)]


def _parse(raw: bytes) -> oip.InferRequest:
    """The body in one pydantic call (as `/predict`); its errors answer 400 (see errors.py)."""
    try:
        return oip.InferRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


_INFER_DOC: dict[str, Any] = {
    # Read by hand below (the hot path skips FastAPI's dependency solving); documented here.
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": oip.InferRequest.model_json_schema()}},
    },
}


def _path(*names: str) -> dict[str, Any]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 128}}
        for name in names
    ]
    return {**_INFER_DOC, "parameters": params}


@infer_router.post(
    "/v2/models/{name}/infer", responses={400: {}, 404: {}, 503: {}}, openapi_extra=_path("name")
)
@infer_router.post(
    "/v2/models/{name}/versions/{version}/infer",
    responses={400: {}, 404: {}, 503: {}},
    openapi_extra=_path("name", "version"),
)
async def infer(request: Request) -> JSONResponse:
    svc: ServiceState = request.app.state.service
    params = request.path_params
    served = svc.model(params["name"])
    if "inference-header-content-length" in request.headers:
        raise HTTPException(
            400, "binary tensor data is not supported: send JSON data (tritonclient: binary_data=False)"
        )
    body = _parse(await request.body())
    version: str | None = params.get("version")
    if version is not None and len(version) > MAX_VERSION:
        raise VersionNotFound(f"no version {version[:MAX_VERSION]!r}…")
    choice, ticket = await served.admit(version, request.headers.get("x-routing-key"))
    loaded = choice.model
    try:
        try:
            rows = oip.features(body, loaded, svc.settings.max_batch)
            names = oip.outputs(body, loaded)
            answers = [await svc.batcher.predict(loaded, rows, name) for name in names]
        except (ValueError, TypeError) as exc:  # TensorError, or the model rejecting the rows
            raise HTTPException(400, f"model version {loaded.version}: {exc}") from None
        answer: dict[str, Any] = {
            "model_name": served.name,
            "model_version": loaded.version,
            "outputs": [oip.tensor(name, values) for name, values in zip(names, answers, strict=True)],
        }
        if body.id is not None:
            answer["id"] = body.id
        response = JSONResponse(answer, headers={"X-Model-Version": loaded.version})
    finally:
        if ticket is not None:
            ticket.leave()  # the response is built: no longer in flight on this version
    svc.metrics.prediction_counter(served.name, loaded.version, choice.role).inc(len(rows))
    if choice.role is Role.STABLE and oip.PREDICT in names:
        served.shadow.offer(rows, answers[names.index(oip.PREDICT)])
    return response


def _not(message: str) -> HTTPException:
    """A readiness or liveness "false": 4xx, as the protocol says."""
    return HTTPException(400, message)


@router.get("")
async def server_metadata() -> dict[str, Any]:
    return SERVER


@router.get("/health/live", responses={400: {}})
async def live(svc: Svc) -> dict[str, Any]:
    if (reason := failure(svc)) is not None:
        raise _not(reason)
    return {"live": True}


@router.get("/health/ready", responses={400: {}})
async def ready(svc: Svc) -> dict[str, Any]:
    if (reason := not_ready(svc)) is not None:
        raise _not(reason)
    return {"ready": True}


def _not_ready(served: ServedModel) -> str | None:
    """Why `served` cannot answer a request that pins no version (alone, or in the fleet)."""
    if served.seat is not None:
        return served.seat.not_ready()
    return None if served.live.serving is not None else f"model {served.name!r}: no version is serving yet"


async def _metadata(served: ServedModel, version: str | None) -> dict[str, Any]:
    loaded = (await served.choose(version)).model
    return oip.model_metadata(served.name, served.registry.index.available(), loaded)


@router.get("/models/{name}", responses={404: {}, 503: {}})
async def model_metadata(name: ModelName, svc: Svc) -> dict[str, Any]:
    return await _metadata(svc.model(name), None)


@router.get("/models/{name}/versions/{version}", responses={400: {}, 404: {}, 503: {}})
async def version_metadata(name: ModelName, version: VersionName, svc: Svc) -> dict[str, Any]:
    return await _metadata(svc.model(name), version)


@router.get("/models/{name}/ready", responses={400: {}, 404: {}})
async def model_ready(name: ModelName, svc: Svc) -> dict[str, Any]:
    if (reason := _not_ready(svc.model(name))) is not None:
        raise _not(reason)
    return {"name": name, "ready": True}


@router.get("/models/{name}/versions/{version}/ready", responses={400: {}, 404: {}})
async def version_ready(name: ModelName, version: VersionName, svc: Svc) -> dict[str, Any]:
    served = svc.model(name)
    loaded = served.live.loaded(version)
    if loaded is None:
        raise _not(_unavailable(served, served.registry.resolve(version).name))
    return {"name": name, "version": loaded.version, "ready": True}


def _unavailable(served: ServedModel, version: str) -> str:
    failed = served.live.failures.get(version)
    return f"failed to load: {failed}" if failed else "not loaded (a request pinned to it loads it)"


class IndexRequest(BaseModel):
    ready: bool = False


@router.post("/repository/index")
async def repository_index(
    svc: Svc, body: Annotated[IndexRequest | None, Body()] = None
) -> list[dict[str, Any]]:
    """Every model's versions: READY when loaded now, else UNAVAILABLE with the reason."""
    entries: list[dict[str, Any]] = []
    for served in svc.models:
        index = served.registry.index
        serving = served.live.serving
        for name in index.available():
            loaded = served.live.loaded(name)
            if loaded is not None:
                reason = "serving" if loaded is serving else "loaded"
                entries.append(_entry(served, name, "READY", reason))
            else:
                entries.append(_entry(served, name, "UNAVAILABLE", _unavailable(served, name)))
        for state in index.rejected():
            entries.append(_entry(served, state.name, "UNAVAILABLE", state.reason or "rejected"))
    if body is not None and body.ready:
        entries = [entry for entry in entries if entry["state"] == "READY"]
    return entries


def _entry(served: ServedModel, version: str, state: str, reason: str) -> dict[str, Any]:
    return {"name": served.name, "version": version, "state": state, "reason": reason}

"""/release…: read and change a model's release state over HTTP, for the holder of the admin
token only (the gateway, on behalf of its admin keys).

No admin token configured (`REGWATCH_ADMIN_TOKEN`, or `REGWATCH_ADMIN_TOKEN_FILE`: a mounted
secret): every route answers 403. A missing or wrong bearer token: 401. The token is compared
in constant time and never logged. `X-Regwatch-Actor` (honoured only with the token; the
gateway sets it to the caller's key id) is who the history records. Changes are the plans of
`registry.release_plans` (the CLI's too), applied by `serving.release_commands`: 200 with the
new state, or 409 with why nothing changed.
"""

import hashlib
import hmac
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from regwatch.registry import printable, release_plans
from regwatch.registry.release import Release, read_history
from regwatch.registry.release_plans import Command
from regwatch.serving import ServedModel, release_commands

from ..state import ServiceState, service
from .models import ModelQuery

DISABLED = "release changes over HTTP are disabled (no REGWATCH_ADMIN_TOKEN or REGWATCH_ADMIN_TOKEN_FILE)"
MAX_ACTOR = 128


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


async def admin(request: Request, svc: Annotated[ServiceState, Depends(service)]) -> str:
    """The caller holds the admin token: who they act for (the history's actor)."""
    token = svc.settings.admin_token
    if token is None:
        raise HTTPException(403, DISABLED)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Digests of both sides: the comparison takes the same time whatever the lengths.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        _digest(given.strip()), _digest(token.get_secret_value())
    ):
        raise HTTPException(
            401, "a valid admin token is required (Authorization: Bearer …)", {"WWW-Authenticate": "Bearer"}
        )
    actor = request.headers.get("x-regwatch-actor", "").strip()
    return printable(actor[:MAX_ACTOR]) if actor else "http"


router = APIRouter(prefix="/release", tags=["release"], dependencies=[Depends(admin)])

Svc = Annotated[ServiceState, Depends(service)]
Actor = Annotated[str, Depends(admin)]
VersionRef = Annotated[str, Field(min_length=1, max_length=128, description="a version, or @alias")]
AliasName = Annotated[str, Path(max_length=64)]
REFUSALS: dict[int | str, dict[str, Any]] = {401: {}, 403: {}, 404: {}, 409: {}, 422: {}}


class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionBody(Empty):
    version: VersionRef


class CanaryBody(VersionBody):
    percent: Annotated[float, Field(strict=True, allow_inf_nan=False, description="in (0, 100]")]


B = TypeVar("B", bound=Empty)


async def _body(request: Request, schema: type[B]) -> B:
    """The body, read only once the token is checked (FastAPI would parse it first); its
    errors are the usual 422. An empty body is `{}`."""
    raw = await request.body()
    try:
        return schema.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def _documented(schema: type[Empty]) -> dict[str, Any]:
    return {"requestBody": {"content": {"application/json": {"schema": schema.model_json_schema()}}}}


def _answer(served: ServedModel, state: Release) -> dict[str, Any]:
    return {"model": served.name, "release": state.to_json()}


async def _change(svc: ServiceState, model: str | None, command: Command, actor: str) -> dict[str, Any]:
    served = svc.model(model)
    return _answer(served, await release_commands.apply(served, command, actor))


@router.get("", responses={401: {}, 403: {}, 404: {}})
async def state(svc: Svc, model: ModelQuery = None) -> dict[str, Any]:
    served = svc.model(model)
    return _answer(served, served.release.state)


@router.get("/history", responses={401: {}, 403: {}, 404: {}})
async def history(svc: Svc, model: ModelQuery = None) -> dict[str, Any]:
    served = svc.model(model)
    entries = await anyio.to_thread.run_sync(read_history, served.release.folder)
    return {"model": served.name, "history": entries}


@router.post("/promote", responses=REFUSALS, openapi_extra=_documented(VersionBody))
async def promote(request: Request, svc: Svc, actor: Actor, model: ModelQuery = None) -> dict[str, Any]:
    body = await _body(request, VersionBody)
    return await _change(svc, model, release_plans.promote(body.version), actor)


@router.post("/rollback", responses=REFUSALS, openapi_extra=_documented(Empty))
async def rollback(request: Request, svc: Svc, actor: Actor, model: ModelQuery = None) -> dict[str, Any]:
    await _body(request, Empty)
    return await _change(svc, model, release_plans.rollback(), actor)


@router.post("/follow-latest", responses=REFUSALS, openapi_extra=_documented(Empty))
async def follow_latest(request: Request, svc: Svc, actor: Actor, model: ModelQuery = None) -> dict[str, Any]:
    await _body(request, Empty)
    return await _change(svc, model, release_plans.follow_latest(), actor)


@router.post("/canary", responses=REFUSALS, openapi_extra=_documented(CanaryBody))
async def canary(request: Request, svc: Svc, actor: Actor, model: ModelQuery = None) -> dict[str, Any]:
    body = await _body(request, CanaryBody)
    return await _change(svc, model, release_plans.canary(body.version, body.percent), actor)


@router.delete("/canary", responses=REFUSALS)
async def stop_canary(svc: Svc, actor: Actor, model: ModelQuery = None) -> dict[str, Any]:
    return await _change(svc, model, release_plans.stop_canary(), actor)


@router.post("/shadow", responses=REFUSALS, openapi_extra=_documented(VersionBody))
async def shadow(request: Request, svc: Svc, actor: Actor, model: ModelQuery = None) -> dict[str, Any]:
    body = await _body(request, VersionBody)
    return await _change(svc, model, release_plans.shadow(body.version), actor)


@router.delete("/shadow", responses=REFUSALS)
async def stop_shadow(svc: Svc, actor: Actor, model: ModelQuery = None) -> dict[str, Any]:
    return await _change(svc, model, release_plans.stop_shadow(), actor)


@router.put("/aliases/{alias}", responses=REFUSALS, openapi_extra=_documented(VersionBody))
async def set_alias(
    alias: AliasName, request: Request, svc: Svc, actor: Actor, model: ModelQuery = None
) -> dict[str, Any]:
    body = await _body(request, VersionBody)
    return await _change(svc, model, release_plans.set_alias(alias, body.version), actor)


@router.delete("/aliases/{alias}", responses=REFUSALS)
async def remove_alias(alias: AliasName, svc: Svc, actor: Actor, model: ModelQuery = None) -> dict[str, Any]:
    return await _change(svc, model, release_plans.remove_alias(alias), actor)

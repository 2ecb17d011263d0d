"""One JSON error shape for every failure: `{"error": message, "request_id": id, ...}`.

Domain errors of the registry and the serving core are mapped to status codes here, in one
place; routes just let them propagate.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import Scope

from regwatch.registry import VersionNotFound
from regwatch.serving import LoadError, LoadPending, ModelNotFound, NoModelServing, ReleaseRefused

log = logging.getLogger("regwatch.api")

# exception type -> (status, message prefix, extra headers)
DOMAIN_ERRORS: dict[type[Exception], tuple[int, str, dict[str, str]]] = {
    VersionNotFound: (404, "", {}),
    ModelNotFound: (404, "", {}),
    LoadError: (409, "the version cannot be served: ", {}),
    ReleaseRefused: (409, "", {}),  # nothing changed
    NoModelServing: (503, "", {"Retry-After": "1"}),
    LoadPending: (503, "", {"Retry-After": "1"}),  # its load goes on: a retry soon will likely find it
}


# The Open Inference Protocol answers a request it cannot serve with 400 (404: no such model
# or version); what is a 409 or 422 on the JSON routes is a 400 under its prefix.
V2_PREFIX = "/v2/"
V2_STATUS = {409: 400, 422: 400}


def error_json(scope: Scope, status: int, message: str, **extra: Any) -> JSONResponse:
    """The error shape every failure uses, with the request id the middleware assigned."""
    if scope.get("path", "").startswith(V2_PREFIX):
        status = V2_STATUS.get(status, status)
    body = {"error": message, "request_id": scope.get("state", {}).get("request_id"), **extra}
    return JSONResponse(body, status_code=status)


def error_response(request: Request, status: int, message: str, **extra: Any) -> JSONResponse:
    return error_json(request.scope, status, message, **extra)


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return f"{where or 'body'}: {error.get('msg', 'invalid')}"


# Starlette types every handler as taking `Exception`; each narrows to what it is registered for.
async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    shown = "; ".join(_describe(e) for e in errors[:5])
    if len(errors) > 5:
        shown += f"; and {len(errors) - 5} more"
    details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors[:20]]
    return error_response(request, 422, shown, details=details)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    response = error_response(request, exc.status_code, message)
    response.headers.update(exc.headers or {})
    return response


async def _domain_error(request: Request, exc: Exception) -> Response:
    status, prefix, headers = next(answer for kind, answer in DOMAIN_ERRORS.items() if isinstance(exc, kind))
    response = error_response(request, status, f"{prefix}{exc}")
    response.headers.update(headers)
    return response


async def _fleet_not_ready(request: Request, exc: Exception) -> Response:
    """Cluster mode: this replica cannot answer for the fleet now (a load balancer retries
    another replica; `/readyz` says the same)."""
    response = error_response(request, 503, str(exc))
    response.headers["Retry-After"] = "1"
    return response


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "internal error")


def install_error_handlers(app: FastAPI, cluster: bool = False) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    for kind in DOMAIN_ERRORS:
        app.add_exception_handler(kind, _domain_error)
    if cluster:
        from regwatch.fleet import FleetNotReady  # cluster mode only: a process alone never loads NATS

        app.add_exception_handler(FleetNotReady, _fleet_not_ready)
    app.add_exception_handler(Exception, _unexpected_error)

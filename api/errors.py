"""One JSON error shape for every failure: `{"error": message, "request_id": id, ...}`."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import Scope

log = logging.getLogger("regwatch.api")


def error_json(scope: Scope, status: int, message: str, **extra: Any) -> JSONResponse:
    """The error shape every failure uses, with the request id the middleware assigned."""
    body = {"error": message, "request_id": scope.get("state", {}).get("request_id"), **extra}
    return JSONResponse(body, status_code=status)


def error_response(request: Request, status: int, message: str, **extra: Any) -> JSONResponse:
    return error_json(request.scope, status, message, **extra)


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return f"{where or 'body'}: {error.get('msg', 'invalid')}"


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    shown = "; ".join(_describe(e) for e in errors[:5])
    if len(errors) > 5:
        shown += f"; and {len(errors) - 5} more"
    details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors[:20]]
    return error_response(request, 422, shown, details=details)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    response = error_response(request, exc.status_code, message)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)

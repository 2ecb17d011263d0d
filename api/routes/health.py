"""Liveness and readiness probes."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..state import ServiceState, service

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {}})
async def readyz(svc: Annotated[ServiceState, Depends(service)]) -> JSONResponse:
    serving = svc.live.serving
    if serving is None:
        return JSONResponse({"status": "not ready", "reason": "no model is serving yet"}, status_code=503)
    return JSONResponse({"status": "ready", "serving": serving.version})

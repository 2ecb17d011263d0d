"""Liveness and readiness probes.

Liveness fails (503) only when a background task was given up on after repeated failures:
the process can no longer follow the registry, and an orchestrator should restart it.
A task that is between restarts is reported but still counts as alive.
"""

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..state import ServiceState, service

router = APIRouter(tags=["health"])


def failure(svc: ServiceState) -> str | None:
    """Why the process is no longer alive (a task given up on), or None while it is."""
    failed = svc.supervisor.failed()
    if not failed:
        return None
    return "; ".join(
        f"task {health.name} failed {health.failures} times, last: {health.last_error}" for health in failed
    )


@router.get("/healthz", responses={503: {}})
async def healthz(svc: Annotated[ServiceState, Depends(service)]) -> JSONResponse:
    tasks = {name: health.state.value for name, health in svc.supervisor.tasks.items()}
    reason = failure(svc)
    if reason is None:
        return JSONResponse({"status": "ok", "tasks": tasks})
    return JSONResponse({"status": "failed", "reason": reason, "tasks": tasks}, status_code=503)


def not_ready(svc: ServiceState) -> str | None:
    """Why the service should not take traffic, or None. Alone: ready once some model
    serves and no model is still loading its first version (a model whose every version
    failed to load does not hold the others back). In a fleet: once every model has the
    fleet's version loaded here (a replica left behind is not ready, so load balancers
    drop it)."""
    if svc.cluster is not None:
        status = svc.cluster.fleet.status()
        if status.ready:
            return None
        return "; ".join(model.reason for model in status.models if model.reason) or (
            "no model is known to the fleet yet"
        )
    waiting = [served.name for served in svc.models if served.live.waiting]
    if waiting:
        return f"still loading a first version of model(s) {', '.join(waiting[:10])}"
    if all(served.live.serving is None for served in svc.models):
        return "no model is serving yet"
    return None


@router.get("/readyz", responses={503: {}})
async def readyz(svc: Annotated[ServiceState, Depends(service)]) -> JSONResponse:
    serving = {
        served.name: served.live.serving.version if served.live.serving else None for served in svc.models
    }
    body: dict[str, Any] = {"models": serving}
    if svc.cluster is not None:
        status = svc.cluster.fleet.status()
        body["fleet"] = {"connected": status.connected, "models": [asdict(model) for model in status.models]}
    reason = not_ready(svc)
    if reason is not None:
        return JSONResponse({"status": "not ready", "reason": reason, **body}, status_code=503)
    return JSONResponse({"status": "ready", "serving": serving[svc.default.name], **body})

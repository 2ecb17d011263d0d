"""Liveness and readiness probes.

Liveness fails (503) only when a background task was given up on after repeated failures:
the process can no longer follow the registry, and an orchestrator should restart it.
A task that is between restarts is reported but still counts as alive.
"""

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..state import ServiceState, service

if TYPE_CHECKING:
    from regwatch.fleet import FleetStatus

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


@router.get("/readyz", responses={503: {}})
async def readyz(svc: Annotated[ServiceState, Depends(service)]) -> JSONResponse:
    """Ready: a model serves (alone), or every model has the fleet's version loaded here
    (cluster mode: a replica left behind answers 503, so load balancers drop it)."""
    serving = svc.model(svc.settings.default_model).live.serving
    if svc.cluster is not None:
        return _fleet_readiness(svc.cluster.fleet.status(), serving.version if serving else None)
    if serving is None:
        return JSONResponse({"status": "not ready", "reason": "no model is serving yet"}, status_code=503)
    return JSONResponse({"status": "ready", "serving": serving.version})


def _fleet_readiness(status: "FleetStatus", serving: str | None) -> JSONResponse:
    models = [asdict(model) for model in status.models]
    details = {"connected": status.connected, "models": models}
    if status.ready:
        return JSONResponse({"status": "ready", "serving": serving, "fleet": details})
    reasons = [model.reason for model in status.models if model.reason]
    reason = "; ".join(reasons) or "no model is known to the fleet yet"
    return JSONResponse({"status": "not ready", "reason": reason, "fleet": details}, status_code=503)

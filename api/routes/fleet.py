"""GET /fleet: this replica's view of its fleet (cluster mode): the replicas, what each
serves per model, whether it is ready, its last heartbeat, and this replica's counters."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException

from ..state import ServiceState, service

router = APIRouter(tags=["fleet"])


@router.get("/fleet", responses={404: {}})
async def fleet_status(svc: Annotated[ServiceState, Depends(service)]) -> dict[str, Any]:
    if svc.cluster is None or svc.relay is None:
        raise HTTPException(404, "not in cluster mode: REGWATCH_NATS_URL is not set")
    status: dict[str, Any] = svc.cluster.fleet.status().as_dict()
    status["counters"] |= {
        "events_published": svc.relay.published,
        "events_unpublished": svc.relay.unpublished,
    }
    return status

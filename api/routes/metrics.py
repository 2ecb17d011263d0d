"""GET /metrics: Prometheus text exposition of this service's own registry."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..state import ServiceState, service

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(svc: Annotated[ServiceState, Depends(service)]) -> Response:
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

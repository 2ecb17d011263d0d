"""GET /: the live dashboard, one static page that follows /events (no build, no CDN); and
GET /dashboard/traffic, what its release panel and traffic chart poll once a second."""

import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from ..state import ServiceState, service
from .models import release_view

router = APIRouter(tags=["dashboard"])

_PAGE = (Path(__file__).parent.parent / "static" / "index.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(_PAGE)


@router.get("/dashboard/traffic", include_in_schema=False)
async def traffic(svc: Annotated[ServiceState, Depends(service)]) -> dict[str, Any]:
    """Instances answered so far by model, version and role (the page turns two readings
    into answers per second), and each model's release: state, roles, shadow agreement."""
    counts = [
        {**sample.labels, "count": sample.value}
        for family in svc.metrics.predictions.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    ]
    return {
        "at": time.monotonic(),
        "counts": counts,
        "releases": {served.name: release_view(served) for served in svc.models},
    }

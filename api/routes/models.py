"""Read-only views of the registry index. Nothing here touches a path the caller names:
a version string is only ever looked up in the index."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from regwatch.registry import VersionNotFound

from ..state import ServiceState, service

router = APIRouter(tags=["models"])


def describe(svc: ServiceState, name: str) -> dict[str, Any]:
    return {"version": name, "metadata": svc.registry.get_metadata(name)}


def models_view(svc: ServiceState) -> dict[str, Any]:
    """The whole registry as one document (also the SSE snapshot)."""
    index = svc.registry.index
    rejected = [{"version": state.name, "reason": state.reason} for state in index.rejected()]
    serving = svc.live.serving
    return {
        "latest": index.latest(),
        "serving": serving.version if serving else None,
        "versions": [describe(svc, name) for name in index.available()],
        "rejected": rejected,
        "load_failures": svc.live.failures,
    }


@router.get("/models")
async def list_models(svc: Annotated[ServiceState, Depends(service)]) -> dict[str, Any]:
    return models_view(svc)


@router.get("/models/latest", responses={404: {}})
async def latest_model(svc: Annotated[ServiceState, Depends(service)]) -> dict[str, Any]:
    latest = svc.registry.get_latest_version()
    if latest is None:
        raise VersionNotFound("the registry holds no complete version")
    return describe(svc, latest)


@router.get("/models/{version}", responses={404: {}})
async def one_model(
    version: Annotated[str, Path(max_length=128)],
    svc: Annotated[ServiceState, Depends(service)],
) -> dict[str, Any]:
    return describe(svc, svc.registry.resolve(version).name)

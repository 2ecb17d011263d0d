"""Read-only views of the registry index. Nothing here touches a path the caller names:
a model name and a version string are only ever looked up in the index."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from regwatch.registry import VersionNotFound
from regwatch.serving import ServedModel

from ..state import ServiceState, service

router = APIRouter(tags=["models"])

ModelQuery = Annotated[str | None, Query(max_length=64, description="the model (default: the default model)")]


def describe(served: ServedModel, name: str) -> dict[str, Any]:
    return {"version": name, "metadata": served.registry.get_metadata(name)}


def model_view(served: ServedModel) -> dict[str, Any]:
    """One model as one document."""
    index = served.registry.index
    serving = served.live.serving
    return {
        "model": served.name,
        "latest": index.latest(),
        "serving": serving.version if serving else None,
        "versions": [describe(served, name) for name in index.available()],
        "rejected": [{"version": state.name, "reason": state.reason} for state in index.rejected()],
        "load_failures": served.live.failures,
        "release": release_view(served),
    }


def release_view(served: ServedModel) -> dict[str, Any]:
    """The release state in force, the version answering in each role (None: none, or not
    loaded yet), why a named version cannot serve, and how the shadow agrees with stable."""
    live = served.live
    return {
        "state": live.release.to_json(),
        "roles": {
            "stable": live.serving.version if live.serving else None,
            "canary": canary.model.version if (canary := served.canary) else None,
            "shadow": live.shadow.version if live.shadow else None,
        },
        "unavailable": {role.value: reason for role, (_, reason) in live.unavailable.items()},
        "file_problem": served.release.problem,
        "shadow": served.shadow.view(),
    }


def models_view(svc: ServiceState, served: ServedModel) -> dict[str, Any]:
    """GET /models: one model, and the names of all (and of the refused folders)."""
    return {
        **model_view(served),
        "models": [model.name for model in svc.models],
        "rejected_models": svc.models.rejected,
    }


@router.get("/models", responses={404: {}})
async def list_models(
    svc: Annotated[ServiceState, Depends(service)], model: ModelQuery = None
) -> dict[str, Any]:
    return models_view(svc, svc.model(model))


@router.get("/models/latest", responses={404: {}})
async def latest_model(
    svc: Annotated[ServiceState, Depends(service)], model: ModelQuery = None
) -> dict[str, Any]:
    served = svc.model(model)
    latest = served.registry.get_latest_version()
    if latest is None:
        raise VersionNotFound(f"the registry holds no complete version of model {served.name!r}")
    return describe(served, latest)


@router.get("/models/{version}", responses={404: {}})
async def one_model(
    version: Annotated[str, Path(max_length=128)],
    svc: Annotated[ServiceState, Depends(service)],
    model: ModelQuery = None,
) -> dict[str, Any]:
    served = svc.model(model)
    return describe(served, served.registry.resolve(version).name)

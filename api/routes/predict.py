"""POST /predict: validate the batch, pick the model once, predict, say which version answered.

Default traffic is routed by the model's release state (`ServedModel.choose`: stable, or the
canary for its share of `X-Routing-Key`s); `?version=` and `?version=@alias` pin a version.
A stable answer is also handed to the model's shadow, once the response is built."""

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from regwatch.serving import LoadedModel, Role

from ..state import ServiceState

router = APIRouter(tags=["predict"])

Feature = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: list[list[Feature]] = Field(min_length=1, description="rows of numeric features")


class PredictResponse(BaseModel):
    model_version: str
    predictions: list[Any]


def _check_shape(instances: list[list[float]], loaded: LoadedModel) -> None:
    width = len(instances[0])
    if any(len(row) != width for row in instances):
        raise HTTPException(422, "instances: every row must have the same number of features")
    expected = loaded.n_features
    if expected is not None and width != expected:
        raise HTTPException(
            422, f"instances: model {loaded.version} expects {expected} features per row, got {width}"
        )
    if width == 0:
        raise HTTPException(422, "instances: rows must not be empty")


def _parse_body(raw: bytes, max_batch: int) -> PredictRequest:
    """Validate the raw body in one pydantic call (JSON parsing included). FastAPI's own
    body parameter costs ~10 % of single-row throughput in dependency solving; the errors
    are the same RequestValidationError, so the 422 shape does not change.

    The batch limit is checked first, on the bytes: every row opens one `[`, and so does
    the list of rows, so a body with more than `max_batch + 1` of them is over the limit
    (or invalid anyway: no valid body has a `[` anywhere else). Counting takes ~1 ms for
    4 MB; parsing a million one-value rows takes ~0.9 s of event-loop time, and a worker
    thread would not help (pydantic holds the GIL while it parses)."""
    rows = raw.count(b"[") - 1
    if rows > max_batch:
        raise HTTPException(422, f"batch of {rows} instances exceeds the limit of {max_batch}")
    try:
        return PredictRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses={404: {}, 409: {}, 413: {}, 422: {}, 503: {}},
    openapi_extra={
        # Parameters are read by hand below (the hot path skips FastAPI's dependency
        # solving); they are documented here so the OpenAPI schema stays complete.
        "parameters": [
            {
                "name": "version",
                "in": "query",
                "required": False,
                "description": "pin a version",
                "schema": {"type": "string", "maxLength": 128},
            },
            {
                "name": "model",
                "in": "query",
                "required": False,
                "description": "the model (default: the default model)",
                "schema": {"type": "string", "maxLength": 64},
            },
            {
                "name": "X-Routing-Key",
                "in": "header",
                "required": False,
                "description": "sticky canary routing: the same key always gets the same side",
                "schema": {"type": "string"},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
        },
    },
)
async def predict(request: Request) -> JSONResponse:
    svc: ServiceState = request.app.state.service
    query = request.query_params
    served = svc.model(query.get("model"))  # ModelNotFound: 404
    body = _parse_body(await request.body(), svc.settings.max_batch)
    # VersionNotFound, LoadError, NoModelServing and FleetNotReady: 404, 409, 503 (errors.py).
    choice, ticket = await served.admit(query.get("version"), request.headers.get("x-routing-key"))
    loaded = choice.model
    try:
        _check_shape(body.instances, loaded)
        features = np.asarray(body.instances, dtype=np.float64)
        try:
            predictions = await svc.batcher.predict(loaded, features)
        except (ValueError, TypeError) as exc:
            raise HTTPException(422, f"model {loaded.version} rejected the input: {exc}") from None
        response = JSONResponse(
            {"model_version": loaded.version, "predictions": predictions.tolist()},
            headers={"X-Model-Version": loaded.version},
        )
    finally:
        if ticket is not None:
            ticket.leave()  # the response is built: no longer in flight on this version
    svc.metrics.prediction_counter(served.name, loaded.version, choice.role).inc(len(body.instances))
    if choice.role is Role.STABLE:
        served.shadow.offer(features, predictions)  # off the response path: queued, never awaited
    return response

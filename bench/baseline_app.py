"""The baseline: a bare FastAPI app serving the same model from a global, no watcher.

Same request and response shapes as regwatch's `POST /predict`, same uvicorn settings as
`regwatch serve` (uvloop + httptools via uvicorn's auto choice, access log off as in the
benchmark's regwatch runs, same graceful-shutdown timeout). No middleware, no registry,
no event bus, no metrics: what is left is FastAPI + pydantic + scikit-learn.

    --style bare   async handler, strict-float pydantic body, JSONResponse (what regwatch's
                   handler does, minus everything around it): the ">= 0.95x" baseline
    --style naive  the handler most tutorials show: sync `def` (runs in the thread pool),
                   plain `list[list[float]]` body, dict return through response_model
"""

import argparse
import logging
from typing import Annotated

import joblib
import numpy as np
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

Feature = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: list[list[Feature]] = Field(min_length=1)


class NaiveRequest(BaseModel):
    instances: list[list[float]]


class PredictResponse(BaseModel):
    model_version: str
    predictions: list


def build(model_path: str, style: str, version: str = "baseline") -> FastAPI:
    model = joblib.load(model_path)
    app = FastAPI()

    if style == "bare":

        @app.post("/predict")
        async def predict(body: PredictRequest) -> JSONResponse:
            predictions = model.predict(np.asarray(body.instances, dtype=np.float64))
            return JSONResponse({"model_version": version, "predictions": predictions.tolist()})

    else:

        @app.post("/predict", response_model=PredictResponse)
        def predict_naive(body: NaiveRequest) -> dict:
            return {
                "model_version": version,
                "predictions": model.predict(np.asarray(body.instances)).tolist(),
            }

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--style", choices=("bare", "naive"), default="bare")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    uvicorn.run(
        build(args.model, args.style),
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()

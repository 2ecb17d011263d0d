"""The regwatch service: FastAPI app, live-model holder, SSE, metrics and CLI."""

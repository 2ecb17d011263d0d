"""The HTTP layer: the FastAPI app, its routes and middlewares."""

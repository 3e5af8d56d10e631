"""The HTTP API: `uvicorn --factory movie_rating.serving.app:create_app`.

Nothing happens at import: settings are read, logging configured and the model loaded only
when `create_app` runs and its lifespan starts.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException

from movie_rating.serving.logs import configure_logging, request_id_var
from movie_rating.serving.middleware import (
    BodySizeLimitMiddleware,
    MetricsMiddleware,
    RequestContextMiddleware,
)
from movie_rating.serving.routes import health, model, models, predict
from movie_rating.serving.settings import Settings, read_settings
from movie_rating.serving.state import ServiceMetrics, ServiceState


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Load in a worker thread: /health answers at once, /ready says 503 until it is done.
    service: ServiceState = app.state.service
    loading = asyncio.create_task(asyncio.to_thread(service.load_model))
    yield
    service.stopping.set()  # stop waiting for model files that never came
    await loading


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    """422 naming each bad field; the rejected input is not echoed (it may be huge or NaN)."""
    assert isinstance(error, RequestValidationError)
    detail = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in error.errors()
    ]
    return JSONResponse({"detail": detail, "request_id": request_id_var.get()}, status_code=422)


async def http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    return JSONResponse(
        {"detail": error.detail, "request_id": request_id_var.get()},
        status_code=error.status_code,
        headers=error.headers,
    )


def add_metrics(app: FastAPI, metrics: ServiceMetrics) -> None:
    """GET /metrics, and the per-route request metrics around every other route."""

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        MetricsMiddleware,
        requests=metrics.requests,
        duration=metrics.request_duration,
        excluded=frozenset({"/metrics"}),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or read_settings()
    configure_logging(settings.log_level)
    # /docs and /redoc from the package's own Swagger UI and ReDoc assets, not a CDN that an
    # offline machine or a locked-down cluster cannot reach.
    app = FastAPIOffline(
        title="movie-rating",
        summary="Predict a movie's TMDB rating (0-10) from what is known before release.",
        version="1",
        lifespan=lifespan,
    )
    metrics = ServiceMetrics(CollectorRegistry())
    app.state.service = ServiceState(settings=settings, metrics=metrics)
    for router in (health.router, model.router, predict.router):
        app.include_router(router)
    if settings.model_source == "mlflow":  # /models lists the registry: none in local mode
        app.include_router(models.router)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    add_metrics(app, metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)  # outermost: ids even on 413 and 500
    return app

"""/docs and /redoc without a CDN, when the assets are installed.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, which an offline machine or a
locked-down cluster cannot reach. The `fastapi-offline` package ships those assets; when it
is installed they are served from `/static-docs`, otherwise FastAPI's CDN pages are kept.
"""

import importlib.util
import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

logger = logging.getLogger(__name__)

STATIC_URL = "/static-docs"
_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")


def offline_assets_dir() -> Path | None:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    static = Path(spec.origin).parent / "static"
    return static if all((static / name).is_file() for name in _ASSETS) else None


def add_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc from local assets; returns with the CDN pages left in place
    (the app must then be built with the default docs_url/redoc_url) if there are none."""
    static = offline_assets_dir()
    if static is None:
        logger.warning("fastapi-offline not installed: /docs and /redoc load assets from a CDN")
        return
    app.mount(STATIC_URL, StaticFiles(directory=static), name="static-docs")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_URL}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )

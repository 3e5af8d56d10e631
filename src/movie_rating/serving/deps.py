"""Request dependencies: the loaded predictor, the settings, the optional API key.

All `async def`: they only read attributes, and FastAPI runs a sync dependency in its
threadpool, a thread hop per dependency per request that cost more than the prediction."""

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from movie_rating.serving.batching import MovieBatcher
from movie_rating.serving.predict import ProductionPredictor
from movie_rating.serving.settings import Settings
from movie_rating.serving.state import ServiceState

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def require_api_key(
    settings: SettingsDep, given: Annotated[str | None, Security(_api_key_header)]
) -> None:
    """Enforce X-API-Key when one is configured; constant-time comparison."""
    if settings.api_key is None:
        return
    expected = settings.api_key.get_secret_value().encode()
    if given is None or not hmac.compare_digest(given.encode(), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or invalid API key",
            headers={"WWW-Authenticate": "APIKey"},
        )


async def get_predictor(state: StateDep) -> ProductionPredictor:
    if state.predictor is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"model not ready: {state.not_ready_reason}"
        )
    return state.predictor


PredictorDep = Annotated[ProductionPredictor, Depends(get_predictor)]


async def get_batcher(state: StateDep, predictor: PredictorDep) -> MovieBatcher:
    """The batcher of the served predictor (set with it)."""
    if state.batcher is None or state.batcher.predictor is not predictor:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="model not ready")
    return state.batcher


BatcherDep = Annotated[MovieBatcher, Depends(get_batcher)]

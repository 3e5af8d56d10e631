"""Liveness and readiness: never behind the API key, never touching the model."""

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from movie_rating.serving.deps import StateDep
from movie_rating.serving.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, summary="Liveness: the process answers")
async def health() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/ready",
    response_model=ReadyOut,
    summary="Readiness: the model is loaded and its checksum verified",
    responses={503: {"model": ReadyOut, "description": "Model loading or refused"}},
)
async def ready(state: StateDep) -> ReadyOut | JSONResponse:
    if state.predictor is None:
        body = ReadyOut(status="unavailable", reason=state.not_ready_reason)
        return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    predictor = state.predictor
    return ReadyOut(
        status="ready",
        model_version=predictor.version,
        serving_path=predictor.path,
        serving_path_reason=predictor.path_reason,
    )

"""Registered versions of the served model in the MLflow registry (MODEL_SOURCE=mlflow only)."""

from fastapi import APIRouter, Depends, HTTPException, status

from movie_rating.serving.deps import SettingsDep, StateDep, require_api_key
from movie_rating.serving.schemas import ErrorOut, RegistryOut
from movie_rating.serving.state import ServiceState

router = APIRouter(tags=["model"], dependencies=[Depends(require_api_key)])


@router.get(
    "/models",
    response_model=RegistryOut,
    summary="Registered versions and aliases in the MLflow registry",
    responses={401: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
def registered_versions(settings: SettingsDep, state: StateDep) -> RegistryOut:
    """Sync: the registry call blocks, so FastAPI runs it in its threadpool. 503 with the
    reason when the registry is unreachable; the service itself stays ready."""
    if settings.mlflow_tracking_uri is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail="registry unavailable: no tracking URI"
        )
    # Imported here: mlflow is an optional dependency (the `registry` group), slow to import,
    # and only this route needs it.
    from movie_rating.model_registry.mlflow_registry import RegistryUnavailable, list_versions

    try:
        listing = list_versions(
            settings.mlflow_tracking_uri,
            name=settings.model_name or _served_name(state),
            timeout_seconds=settings.registry_timeout_seconds,
        )
    except RegistryUnavailable as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"registry unavailable: {error}"
        ) from None
    return RegistryOut.model_validate(
        listing | {"serving_source": state.source, "serving_version": state.registry_version}
    )


def _served_name(state: ServiceState) -> str:
    if state.predictor is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="no model loaded to name; set MOVIE_RATING_MODEL_NAME",
        )
    return state.predictor.card.name

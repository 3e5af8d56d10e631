"""Ratings for one movie or a batch. Sync `def`: FastAPI runs them in its threadpool, so the
CPU-bound prediction never blocks the event loop."""

from fastapi import APIRouter, Depends
from fastapi.exceptions import RequestValidationError

from movie_rating.serving.deps import PredictorDep, SettingsDep, StateDep, require_api_key
from movie_rating.serving.schemas import (
    BatchPredictionOut,
    BatchRequest,
    ErrorOut,
    MovieInput,
    PredictionOut,
)

router = APIRouter(tags=["predict"], dependencies=[Depends(require_api_key)])

_ERRORS = {401: {"model": ErrorOut}, 413: {"model": ErrorOut}, 503: {"model": ErrorOut}}


@router.post("/predict", response_model=PredictionOut, responses=_ERRORS)
def predict(movie: MovieInput, predictor: PredictorDep, state: StateDep) -> PredictionOut:
    rating = predictor.predict_one(movie)
    state.metrics.predictions.labels(endpoint="predict").inc()
    return PredictionOut(
        title=movie.title, predicted_rating=rating, model_version=predictor.version
    )


@router.post("/predict/batch", response_model=BatchPredictionOut, responses=_ERRORS)
def predict_batch(
    batch: BatchRequest, predictor: PredictorDep, state: StateDep, settings: SettingsDep
) -> BatchPredictionOut:
    """Results in request order. At most MOVIE_RATING_MAX_BATCH_SIZE movies (422 beyond)."""
    if len(batch.movies) > settings.max_batch_size:
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": ("body", "movies"),
                    "msg": f"at most {settings.max_batch_size} movies per batch, "
                    f"got {len(batch.movies)}",
                }
            ]
        )
    ratings = predictor.predict_many(batch.movies)
    state.metrics.predictions.labels(endpoint="predict_batch").inc(len(batch.movies))
    version = predictor.version
    return BatchPredictionOut(
        model_version=version,
        results=[
            PredictionOut(title=movie.title, predicted_rating=float(rating), model_version=version)
            for movie, rating in zip(batch.movies, ratings, strict=True)
        ],
    )

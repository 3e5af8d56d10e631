"""Ratings for one movie or a batch.

One movie on the fast path (~0.3 ms) is rated on the event loop: a threadpool hop costs more
CPU than that (and FastAPI adds a second one to validate a sync endpoint's response). A row
the fast path declines, and every batch (sync `def`), go to the threadpool, so the
milliseconds of the full pipeline never block the loop.
"""

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
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

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    413: {"model": ErrorOut},
    503: {"model": ErrorOut},
}


@router.post("/predict", response_model=PredictionOut, responses=_ERRORS)
async def predict(movie: MovieInput, predictor: PredictorDep, state: StateDep) -> PredictionOut:
    rating = predictor.predict_fast(movie)
    if rating is None:
        rating = await run_in_threadpool(predictor.predict_one, movie)
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

"""Ratings for one movie or a batch.

Concurrent /predict requests are rated together (`batching`): on the fast path on the event
loop, on the fallback path in the threadpool. A /predict/batch request (sync `def`) is rated
in the threadpool, so its milliseconds never block the loop.
"""

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.exceptions import RequestValidationError

from movie_rating.serving.deps import (
    BatcherDep,
    PredictorDep,
    SettingsDep,
    StateDep,
    require_api_key,
)
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
async def predict(
    movie: MovieInput, predictor: PredictorDep, batcher: BatcherDep, state: StateDep
) -> PredictionOut:
    rating = await batcher.rate(movie)
    state.metrics.count("predict", 1, predictor)
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
    state.metrics.count("predict_batch", len(batch.movies), predictor)
    version = predictor.version
    return BatchPredictionOut(
        model_version=version,
        results=[
            PredictionOut(title=movie.title, predicted_rating=float(rating), model_version=version)
            for movie, rating in zip(batch.movies, ratings, strict=True)
        ],
    )

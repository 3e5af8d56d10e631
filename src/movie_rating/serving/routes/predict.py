"""Ratings for one movie or a batch, each with its interval, and an explanation on request.

Concurrent /predict requests are rated together (`batching`): on the fast path on the event
loop, on the fallback path in the threadpool; an explanation (32 variants of the movie) is
rated in the threadpool. A /predict/batch request (sync `def`) is rated in the threadpool, so
its milliseconds never block the loop.
"""

from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from movie_rating.serving.deps import (
    BatcherDep,
    PredictorDep,
    SettingsDep,
    StateDep,
    require_api_key,
)
from movie_rating.serving.explain import FIELDS, Explanations
from movie_rating.serving.predict import ProductionPredictor, Scored
from movie_rating.serving.schemas import (
    MAX_LEVEL,
    MIN_LEVEL,
    BatchPredictionOut,
    BatchRequest,
    Contributions,
    ErrorOut,
    ExplanationOut,
    IntervalOut,
    MovieInput,
    PredictionOut,
)

router = APIRouter(tags=["predict"], dependencies=[Depends(require_api_key)])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    413: {"model": ErrorOut},
    503: {"model": ErrorOut},
}


Level = Annotated[
    float | None,
    Query(
        ge=MIN_LEVEL,
        le=MAX_LEVEL,
        description=f"Level of the interval, {MIN_LEVEL}-{MAX_LEVEL}; default: the model "
        "card's (0.8).",
        examples=[0.9],
    ),
]
Explain = Annotated[
    bool, Query(description="Add `explanation`: how far each input moved the rating.")
]


def results(
    predictor: ProductionPredictor,
    movies: Sequence[MovieInput],
    scored: Scored,
    level: float | None,
    explained: Explanations | None,
) -> list[PredictionOut]:
    level = predictor.default_level if level is None else level
    bounds = predictor.intervals(scored, level)
    version = predictor.version
    return [
        PredictionOut(
            title=movie.title,
            predicted_rating=rating,
            model_version=version,
            interval=IntervalOut(low=low, high=high, level=level),
            explanation=None
            if explained is None
            else ExplanationOut(
                baseline=explained.baseline,
                contributions=Contributions.model_validate(
                    dict(zip(FIELDS, explained.contributions[index].tolist(), strict=True))
                ),
            ),
        )
        for index, (movie, rating, (low, high)) in enumerate(
            zip(movies, scored.ratings.tolist(), bounds.tolist(), strict=True)
        )
    ]


@router.post(
    "/predict", response_model=PredictionOut, response_model_exclude_none=True, responses=_ERRORS
)
async def predict(
    movie: MovieInput,
    predictor: PredictorDep,
    batcher: BatcherDep,
    state: StateDep,
    level: Level = None,
    explain: Explain = False,
) -> PredictionOut:
    rating, difficulty = await batcher.rate(movie)
    explained = await run_in_threadpool(predictor.explain_many, [movie]) if explain else None
    state.metrics.count("predict", 1, predictor)
    scored = Scored(np.array([rating]), np.array([difficulty]))
    return results(predictor, [movie], scored, level, explained)[0]


@router.post(
    "/predict/batch",
    response_model=BatchPredictionOut,
    response_model_exclude_none=True,
    responses=_ERRORS,
)
def predict_batch(
    batch: BatchRequest,
    predictor: PredictorDep,
    state: StateDep,
    settings: SettingsDep,
    level: Level = None,
    explain: Explain = False,
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
    scored = predictor.score_many(batch.movies)
    explained = predictor.explain_many(batch.movies) if explain else None
    state.metrics.count("predict_batch", len(batch.movies), predictor)
    return BatchPredictionOut(
        model_version=predictor.version,
        results=results(predictor, batch.movies, scored, level, explained),
    )

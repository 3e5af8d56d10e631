"""The model card of the loaded model."""

from fastapi import APIRouter, Depends

from movie_rating.artifact import Intervals
from movie_rating.serving.deps import PredictorDep, SettingsDep, StateDep, require_api_key
from movie_rating.serving.schemas import (
    BacktestOut,
    ErrorOut,
    IntervalsOut,
    ModelMetrics,
    ModelOut,
)

router = APIRouter(tags=["model"], dependencies=[Depends(require_api_key)])


@router.get(
    "/model",
    response_model=ModelOut,
    summary="Model card: name, version, family, metrics, backtest, intervals, training time, "
    "checksum",
    responses={401: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
async def model_card(predictor: PredictorDep, settings: SettingsDep, state: StateDep) -> ModelOut:
    card = predictor.card
    return ModelOut(
        name=card.name,
        version=predictor.version,
        stage=settings.stage,
        family=card.model_family,
        feature_pipeline=card.feature_pipeline,
        metrics=ModelMetrics.model_validate(card.metrics),
        backtest=BacktestOut.model_validate(card.backtest.model_dump()) if card.backtest else None,
        intervals=intervals_out(predictor.loaded.intervals),
        explanation_baseline=predictor.loaded.explanation_baseline.model_dump(),
        trained_at=card.created_at,
        sha256=card.artifact.sha256,
        input_features=list(card.input_features),
        serving_path=predictor.path,
        serving_path_reason=predictor.path_reason,
        source=state.source,
        registry_version=state.registry_version,
        fallback_reason=state.fallback_reason,
    )


def intervals_out(intervals: Intervals) -> IntervalsOut:
    return IntervalsOut(
        method=intervals.method,
        default_level=intervals.level,
        test_coverage=intervals.test.coverage,
        test_mean_width=intervals.test.mean_width,
        backtest_coverage=intervals.backtest_coverage,
    )

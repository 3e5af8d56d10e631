"""The model card of the loaded model."""

from fastapi import APIRouter, Depends

from movie_rating.artifact import ModelCard
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
        intervals=intervals(card),
        explanation_baseline=card.explanation_baseline.model_dump()
        if card.explanation_baseline
        else {},
        trained_at=card.created_at,
        sha256=card.artifact.sha256,
        input_features=list(card.input_features),
        serving_path=predictor.path,
        serving_path_reason=predictor.path_reason,
        source=state.source,
        registry_version=state.registry_version,
        fallback_reason=state.fallback_reason,
    )


def intervals(card: ModelCard) -> IntervalsOut:
    """The card's intervals (a served model has them: the predictor refuses one without)."""
    if card.intervals is None:
        raise ValueError("the served model has no intervals")
    return IntervalsOut(
        method=card.intervals.method,
        default_level=card.intervals.level,
        test_coverage=card.intervals.test.coverage,
        test_mean_width=card.intervals.test.mean_width,
        backtest_coverage=card.intervals.backtest_coverage,
    )

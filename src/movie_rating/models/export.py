"""Export: the winning cell refit on train; what its model card says of it."""

import json
import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import VotingRegressor
from sklearn.pipeline import Pipeline

from movie_rating.data.ingest import sha256_of
from movie_rating.data.schema import TARGET, clip_ratings
from movie_rating.evaluation.metrics import DIGITS, regression_metrics

CARD_LIBRARIES = ("scikit-learn", "lightgbm", "xgboost-cpu", "numpy", "pandas", "scipy", "joblib")
CV_METRICS = ("cv_rmse_mean", "cv_rmse_std", "cv_r2_mean")


@dataclass(frozen=True)
class Winner:
    """The winning cell: its pipeline, family, hyper-parameters (tuned, or its params.yaml
    settings) and CV metrics."""

    pipeline: str
    family: str
    hyperparameters: dict[str, Any]
    cv_metrics: dict[str, float]


def read_winner(winner: Path, hyperparameters: Path) -> Winner:
    """The winner as the evaluate stage (`winner.json`) and the tune stage (its
    hyper-parameters) wrote it."""
    chosen = json.loads(winner.read_text(encoding="utf-8"))
    return Winner(
        pipeline=chosen["pipeline"],
        family=chosen["family"],
        hyperparameters=json.loads(hyperparameters.read_text(encoding="utf-8")),
        cv_metrics={key: chosen[key] for key in CV_METRICS},
    )


def creation_time() -> str:
    """Wall-clock time, unless SOURCE_DATE_EPOCH pins it so a rebuild is byte-identical."""
    pinned = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(pinned), UTC) if pinned else datetime.now(UTC)
    return moment.replace(microsecond=0).isoformat()


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version()} | {name: version(name) for name in CARD_LIBRARIES}


def model_importance(model: Any) -> np.ndarray:
    """Importance per input feature, summing to 1 (unless all zero): the model's own for
    trees, |coefficient| for linear models, the members' weighted mean for a blend."""
    if isinstance(model, VotingRegressor):
        weights = model.weights or [1.0] * len(model.estimators_)
        members = zip(weights, model.estimators_, strict=True)
        parts = [weight * model_importance(member) for weight, member in members]
        return np.sum(parts, axis=0) / sum(weights)
    if hasattr(model, "feature_importances_"):
        importance = np.asarray(model.feature_importances_, dtype=float)
    else:
        importance = np.abs(np.ravel(model.coef_))
    return importance / importance.sum() if importance.sum() > 0 else importance


def feature_importance(estimator: Pipeline, top: int = 25) -> pd.DataFrame:
    names = estimator[:-1].get_feature_names_out()
    importance = model_importance(estimator[-1])
    table = pd.DataFrame({"feature": names, "importance": np.round(importance, DIGITS)})
    return table.sort_values(["importance", "feature"], ascending=[False, True]).head(top)


def explanation_baseline(train: pd.DataFrame) -> dict[str, str]:
    """The movie explanations start from (artifact.ExplanationBaseline): no title, overview
    or genre; the training films' most common language and median release date."""
    dates = pd.to_datetime(train["release_date"], format="%Y-%m-%d").sort_values()
    return {
        "title": "",
        "overview": "",
        "genre": "",
        "original_language": str(train["original_language"].mode().iloc[0]),
        "release_date": dates.iloc[(len(dates) - 1) // 2].date().isoformat(),
    }


def card_fields(
    *, winner: Winner, test: pd.DataFrame, estimator: Pipeline, train_path: Path, train_rows: int
) -> dict[str, Any]:
    """What the model card says of the fitted winner (the artifact module adds its name,
    version, inputs and checksum when it writes the artifact)."""
    predicted = clip_ratings(estimator.predict(test))
    return {
        "feature_pipeline": winner.pipeline,
        "model_family": winner.family,
        "hyperparameters": winner.hyperparameters,
        "target": TARGET,
        "metrics": {
            **winner.cv_metrics,
            **regression_metrics(test[TARGET], predicted, prefix="test_"),
        },
        "training_data": {
            "path": str(train_path),
            "sha256": sha256_of(train_path),
            "rows": train_rows,
        },
        "libraries": library_versions(),
        "created_at": creation_time(),
    }

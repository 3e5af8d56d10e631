"""Export: the winning cell refit on train as one artifact, with a model card beside it."""

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import VotingRegressor
from sklearn.pipeline import Pipeline

from movie_rating.data.ingest import sha256_of
from movie_rating.data.schema import INPUT_FEATURES, TARGET
from movie_rating.evaluation.metrics import DIGITS, clip_ratings, regression_metrics

CARD_LIBRARIES = ("scikit-learn", "lightgbm", "xgboost-cpu", "numpy", "pandas", "scipy", "joblib")


@dataclass(frozen=True)
class Winner:
    pipeline: str
    family: str
    hyperparameters: dict[str, Any]
    cv_metrics: dict[str, float]


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


def build_model_card(
    *,
    name: str,
    winner: Winner,
    test: pd.DataFrame,
    estimator: Pipeline,
    train_path: Path,
    artifact_path: Path,
    train_rows: int,
) -> dict[str, Any]:
    predicted = clip_ratings(estimator.predict(test))
    artifact_sha256 = sha256_of(artifact_path)
    return {
        "name": name,
        "version": artifact_sha256[:12],
        "feature_pipeline": winner.pipeline,
        "model_family": winner.family,
        "hyperparameters": winner.hyperparameters,
        "target": TARGET,
        "input_features": list(INPUT_FEATURES),
        "metrics": {
            **winner.cv_metrics,
            **regression_metrics(test[TARGET], predicted, prefix="test_"),
        },
        "training_data": {
            "path": str(train_path),
            "sha256": sha256_of(train_path),
            "rows": train_rows,
        },
        "artifact": {"path": artifact_path.name, "sha256": artifact_sha256},
        "libraries": library_versions(),
        "created_at": creation_time(),
    }


def save_artifact(estimator: Pipeline, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, path, compress=3)

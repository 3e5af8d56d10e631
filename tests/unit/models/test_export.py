"""Export helpers: feature importance table, model card, pinned creation time."""

import joblib
import numpy as np
import pytest

from movie_rating.data.schema import INPUT_FEATURES, TARGET
from movie_rating.features.pipelines import build_feature_pipeline
from movie_rating.models.export import (
    Winner,
    build_model_card,
    creation_time,
    feature_importance,
    save_artifact,
)
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline


@pytest.fixture
def fitted(repo_params, movies):
    features = build_feature_pipeline("v1_original", repo_params["featurize"])
    model = build_model("ridge", repo_params["models"]["ridge"], seed=0)
    return full_pipeline(features, model).fit(movies, movies[TARGET].to_numpy())


def test_feature_importance_is_normalised_and_named(fitted):
    table = feature_importance(fitted, top=10)
    assert len(table) == 10
    assert set(table["feature"]) <= set(fitted[:-1].get_feature_names_out())
    assert list(table["importance"]) == sorted(table["importance"], reverse=True)
    full = feature_importance(fitted, top=10_000)
    assert full["importance"].sum() == pytest.approx(1.0, abs=1e-4)


def test_creation_time_is_pinned_by_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert creation_time() == "1970-01-01T00:00:00+00:00"


def test_model_card_describes_the_saved_artifact(fitted, movies, movie_factory, tmp_path):
    artifact = tmp_path / "models" / "model.joblib"
    save_artifact(fitted, artifact)
    train_path = tmp_path / "train.csv"
    movies.to_csv(train_path, index=False)
    test = movie_factory(15, seed=5)
    winner = Winner("v1_original", "ridge", {"alpha": 10.0}, {"cv_rmse_mean": 0.5})

    card = build_model_card(
        name="m",
        winner=winner,
        test=test,
        estimator=fitted,
        train_path=train_path,
        artifact_path=artifact,
        train_rows=len(movies),
    )
    assert card["input_features"] == list(INPUT_FEATURES)
    assert card["version"] == card["artifact"]["sha256"][:12]
    assert card["metrics"]["cv_rmse_mean"] == 0.5
    assert {"test_rmse", "test_mae", "test_r2"} <= set(card["metrics"])
    assert card["training_data"]["rows"] == len(movies)
    np.testing.assert_array_equal(joblib.load(artifact).predict(test), fitted.predict(test))

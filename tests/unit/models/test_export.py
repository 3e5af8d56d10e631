"""Export helpers: feature importance table, the model card's fields, pinned creation time."""

import json

import joblib
import numpy as np
import pytest

from movie_rating.artifact import CARD_FILE, ModelCard, load_model, save_model
from movie_rating.data.ingest import sha256_of
from movie_rating.data.schema import INPUT_FEATURES, TARGET, clip_ratings
from movie_rating.evaluation.metrics import regression_metrics
from movie_rating.features.pipelines import build_feature_pipeline
from movie_rating.models.export import (
    CARD_LIBRARIES,
    Winner,
    card_fields,
    creation_time,
    feature_importance,
)
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline


@pytest.fixture
def fitted(repo_params, movies):
    features = build_feature_pipeline("v1_original", repo_params["featurize"])
    model = build_model("ridge", repo_params["models"]["ridge"], seed=0)
    return full_pipeline(features, model).fit(movies, movies[TARGET].to_numpy())


@pytest.fixture
def export_inputs(movies, movie_factory, tmp_path):
    """What the export stage hands `card_fields`: the winner, test rows, the train file."""
    train_path = tmp_path / "train.csv"
    movies.to_csv(train_path, index=False)
    winner = Winner("v1_original", "ridge", {"alpha": 10.0}, {"cv_rmse_mean": 0.5})
    return winner, movie_factory(15, seed=5), train_path


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


def test_card_fields_describe_the_winner_and_its_test_scores(
    fitted, movies, export_inputs, monkeypatch
):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    winner, test, train_path = export_inputs
    fields = card_fields(
        winner=winner, test=test, estimator=fitted, train_path=train_path, train_rows=len(movies)
    )
    # what only the saved file can say (name, version, inputs, checksum) is the artifact
    # module's to add
    assert not {"name", "version", "input_features", "artifact"} & set(fields)
    assert (fields["feature_pipeline"], fields["model_family"]) == ("v1_original", "ridge")
    assert fields["hyperparameters"] == {"alpha": 10.0}
    assert fields["target"] == TARGET
    assert fields["metrics"]["cv_rmse_mean"] == 0.5
    scores = regression_metrics(test[TARGET], clip_ratings(fitted.predict(test)), "test_")
    assert fields["metrics"] == {"cv_rmse_mean": 0.5, **scores}
    assert fields["training_data"] == {
        "path": str(train_path),
        "sha256": sha256_of(train_path),
        "rows": len(movies),
    }
    assert set(fields["libraries"]) == {"python", *CARD_LIBRARIES}
    assert fields["created_at"] == "1970-01-01T00:00:00+00:00"


def test_saved_card_describes_the_saved_artifact(fitted, movies, export_inputs, tmp_path):
    winner, test, train_path = export_inputs
    fields = card_fields(
        winner=winner, test=test, estimator=fitted, train_path=train_path, train_rows=len(movies)
    )
    artifact = tmp_path / "models" / "model.joblib"

    card = save_model(fitted, artifact, fields)
    assert isinstance(card, ModelCard)
    assert card.name == "model"  # the file's stem
    assert card.input_features == list(INPUT_FEATURES)
    assert card.version == card.artifact.sha256[:12]
    assert (card.artifact.path, card.artifact.sha256) == (artifact.name, sha256_of(artifact))
    assert card.metrics["cv_rmse_mean"] == 0.5
    assert {"test_rmse", "test_mae", "test_r2"} <= set(card.metrics)
    assert card.training_data.rows == len(movies)
    on_disk = json.loads((artifact.parent / CARD_FILE).read_text(encoding="utf-8"))
    assert on_disk == card.model_dump()
    model, loaded_card = load_model(artifact.parent)
    assert loaded_card == card
    np.testing.assert_array_equal(model.predict(test), fitted.predict(test))
    np.testing.assert_array_equal(joblib.load(artifact).predict(test), fitted.predict(test))

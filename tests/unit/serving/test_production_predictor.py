import json

import numpy as np
import pandas as pd
import pytest
from serving_fixtures import (
    fit_tiny_pipeline,
    movie_inputs,
    synthetic_movies,
    tamper,
    varied_movies,
    write_model_dir,
)

from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.errors import MovieRatingError
from movie_rating.serving.predict import ModelIntegrityError, ProdArtifacts, ProductionPredictor


def load(models_dir):
    return ProductionPredictor(ProdArtifacts(models_dir=models_dir)).load()


def test_paths_follow_the_pipeline_name(tmp_path):
    artifacts = ProdArtifacts(pipeline_name="p", models_dir=tmp_path)
    assert artifacts.stage == "prod"
    assert artifacts.artifact_path == tmp_path / "p.joblib"
    assert artifacts.card_path == tmp_path / "model_card.json"


def test_tampered_artifact_is_refused_naming_file_and_both_checksums(models_copy):
    artifact = models_copy / "production_pipeline_v1.joblib"
    expected = json.loads((models_copy / "model_card.json").read_text())["artifact"]["sha256"]
    tamper(artifact)
    predictor = ProductionPredictor(ProdArtifacts(models_dir=models_copy))
    with pytest.raises(ModelIntegrityError) as caught:
        predictor.load()
    message = str(caught.value)
    assert str(artifact) in message
    assert expected in message
    from movie_rating.data.ingest import sha256_of

    assert sha256_of(artifact) in message
    assert not predictor.is_loaded
    assert isinstance(caught.value, MovieRatingError)


@pytest.mark.parametrize("missing", ["production_pipeline_v1.joblib", "model_card.json"])
def test_missing_files_are_a_clear_error(models_copy, missing):
    (models_copy / missing).unlink()
    with pytest.raises(ModelIntegrityError, match=r"does not exist"):
        load(models_copy)


def test_card_for_another_file_or_other_inputs_is_refused(models_copy):
    card_path = models_copy / "model_card.json"
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "artifact": {**card["artifact"], "path": "x.joblib"}}))
    with pytest.raises(ModelIntegrityError, match=r"x\.joblib"):
        load(models_copy)
    card_path.write_text(json.dumps({**card, "input_features": ["title"]}))
    with pytest.raises(ModelIntegrityError, match="expects inputs"):
        load(models_copy)
    card_path.write_text("{not json")
    with pytest.raises(ModelIntegrityError, match="not a valid card"):
        load(models_copy)


def test_predict_one_equals_predict_many(predictor):
    movies = movie_inputs(synthetic_movies(40, seed=3))
    batch = predictor.predict_many(movies)
    singles = np.array([predictor.predict_one(movie) for movie in movies])
    np.testing.assert_allclose(singles, batch, rtol=0, atol=1e-9)
    assert batch.shape == (40,)


@pytest.mark.parametrize(
    ("family", "hyperparams"),
    [("ridge", {}), ("lightgbm", {}), ("random_forest", {"n_estimators": 25, "max_depth": 6})],
)
def test_fast_path_matches_the_pipeline_on_varied_rows(tmp_path, family, hyperparams):
    predictor = load(write_model_dir(tmp_path, family=family, **hyperparams))
    assert predictor.has_fast_path, "the production pipeline shape must compile"
    movies = varied_movies(200)
    frame = pd.DataFrame([movie.as_row() for movie in movies])
    reference = np.clip(predictor.pipeline.predict(frame), 0, 10)
    singles = np.array([predictor.predict_one(movie) for movie in movies])
    np.testing.assert_allclose(singles, reference, rtol=0, atol=1e-9)
    np.testing.assert_allclose(predictor.predict_many(movies), reference, rtol=0, atol=1e-9)
    assert np.unique(np.round(reference, 6)).size > 50  # the rows really differ


def test_predict_fast_is_predict_one_or_none(predictor, monkeypatch):
    movies = varied_movies(50)
    fast = [predictor.predict_fast(movie) for movie in movies]
    singles = [predictor.predict_one(movie) for movie in movies]
    assert sum(rating is not None for rating in fast) > len(movies) // 2
    # None only for the rows the fast path declines; otherwise exactly predict_one's rating
    assert all(f is None or f == one for f, one in zip(fast, singles, strict=True))
    monkeypatch.setattr(predictor, "_fast", None)  # no fast path: the caller must fall back
    assert [predictor.predict_fast(movie) for movie in movies[:5]] == [None] * 5
    np.testing.assert_allclose(
        [predictor.predict_one(movie) for movie in movies], singles, rtol=0, atol=1e-9
    )


def test_predict_many_accepts_a_frame_with_extra_columns_and_checks_inputs(predictor):
    frame = synthetic_movies(10, seed=4).assign(record_id=range(10))
    expected = predictor.predict_many(movie_inputs(frame))
    np.testing.assert_allclose(predictor.predict_many(frame), expected, atol=1e-9)
    with pytest.raises(MovieRatingError, match="genre"):
        predictor.predict_many(frame.drop(columns="genre"))
    assert predictor.predict_many([]).shape == (0,)


def test_predictions_are_clipped_to_the_rating_scale(tmp_path):
    predictor = load(write_model_dir(tmp_path, target_scale=40.0))
    movies = varied_movies(120)
    frame = pd.DataFrame([m.as_row() for m in movies], columns=list(INPUT_FEATURES))
    raw = predictor.pipeline.predict(frame)
    assert raw.min() < 0 and raw.max() > 10  # the model really overshoots
    batch = predictor.predict_many(movies)
    singles = np.array([predictor.predict_one(m) for m in movies])
    for predicted in (batch, singles):
        assert predicted.min() == 0.0 and predicted.max() == 10.0
    np.testing.assert_allclose(singles, batch, atol=1e-9)


def test_unloaded_predictor_says_so(tiny_models_dir):
    with pytest.raises(ModelIntegrityError, match="not loaded"):
        ProductionPredictor(ProdArtifacts(models_dir=tiny_models_dir)).predict_many([])


def test_fit_tiny_pipeline_is_the_export_shape():
    pipeline = fit_tiny_pipeline()
    assert [name for name, _ in pipeline.steps] == ["features", "model"]

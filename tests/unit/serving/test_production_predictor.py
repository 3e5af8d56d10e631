"""The production predictor: verified loading, one code path for one movie and many, the serving
path (compiled LightGBM trees or the model's own predict) and why."""

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMRegressor
from serving_fixtures import (
    MODEL_NAME,
    artifact_file,
    fit_tiny_pipeline,
    movie_inputs,
    synthetic_movies,
    tamper,
    varied_movies,
    write_model_dir,
)
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from movie_rating.artifact import (
    CARD_FILE,
    ModelCard,
    ModelIntegrityError,
    read_card,
    save_model,
)
from movie_rating.data.ingest import sha256_of
from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.errors import MovieRatingError
from movie_rating.serving.predict import _PART_ROWS, ProductionPredictor, compile_model

# the session fixtures (conftest.py) holding each family's predictor and its model folder
SERVED = {
    "ridge": ("predictor", "tiny_models_dir"),
    "lightgbm": ("lightgbm_predictor", "lightgbm_models_dir"),
}

MOVIES = ["synthetic", "varied"]


def movies_of(kind: str, n: int) -> list:
    """`n` movies: made-up ones (plain text), or `varied_movies` (their edge cases first)."""
    return movie_inputs(synthetic_movies(n, seed=9)) if kind == "synthetic" else varied_movies(n)


def load(models_dir):
    return ProductionPredictor(models_dir).load()


def frame_of(movies) -> pd.DataFrame:
    return pd.DataFrame([movie.as_row() for movie in movies], columns=list(INPUT_FEATURES))


def pipeline_reference(models_dir, movies) -> np.ndarray:
    """What the artifact's own pipeline says, clipped to the rating scale."""
    pipeline = joblib.load(artifact_file(models_dir))
    return np.clip(pipeline.predict(frame_of(movies)), 0.0, 10.0)


def test_loaded_predictor_describes_its_card(predictor, tiny_models_dir):
    card = read_card(tiny_models_dir)
    assert isinstance(predictor.card, ModelCard)
    assert predictor.card == card
    assert predictor.card.name == MODEL_NAME
    assert predictor.version == card.version == card.artifact.sha256[:12]
    assert card.artifact.sha256 == sha256_of(artifact_file(tiny_models_dir))


def test_tampered_artifact_is_refused_naming_file_and_both_checksums(models_copy):
    artifact = artifact_file(models_copy)
    expected = read_card(models_copy).artifact.sha256
    tamper(artifact)
    predictor = ProductionPredictor(models_copy)
    with pytest.raises(ModelIntegrityError) as caught:
        predictor.load()
    message = str(caught.value)
    assert artifact.name in message
    assert str(models_copy) not in message  # files are named, a server's folders never
    assert expected in message
    assert sha256_of(artifact) in message
    assert not predictor.is_loaded
    assert isinstance(caught.value, MovieRatingError)


@pytest.mark.parametrize("missing", ["artifact", "card"])
def test_missing_files_are_a_clear_error(models_copy, missing):
    name = artifact_file(models_copy).name
    if missing == "artifact":
        (models_copy / name).unlink()
        expected = rf"{name} \(named by {CARD_FILE}\) does not exist"
    else:
        (models_copy / CARD_FILE).unlink()
        expected = rf"no {CARD_FILE}"
    with pytest.raises(ModelIntegrityError, match=expected) as caught:
        load(models_copy)
    assert str(models_copy) not in str(caught.value)


def test_card_for_another_file_or_other_inputs_is_refused(models_copy):
    card_path = models_copy / CARD_FILE
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "artifact": {**card["artifact"], "path": "x.joblib"}}))
    with pytest.raises(ModelIntegrityError, match=r"x\.joblib"):
        load(models_copy)
    card_path.write_text(json.dumps({**card, "input_features": ["title"]}))
    with pytest.raises(ModelIntegrityError, match="expects inputs"):
        load(models_copy)
    card_path.write_text("{not json")
    with pytest.raises(ModelIntegrityError, match="not a valid model card"):
        load(models_copy)


@pytest.mark.parametrize("kind", MOVIES)
@pytest.mark.parametrize("family", sorted(SERVED))
def test_predict_one_is_predict_many_of_one(request, family, kind):
    predictor = request.getfixturevalue(SERVED[family][0])
    movies = movies_of(kind, 60)
    singles = [predictor.predict_one(movie) for movie in movies]
    assert all(isinstance(rating, float) for rating in singles)
    assert singles == [float(predictor.predict_many([movie])[0]) for movie in movies]
    batch = predictor.predict_many(movies)
    assert batch.shape == (60,)
    np.testing.assert_allclose(singles, batch, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", MOVIES)
def test_lightgbm_serves_compiled_trees_equal_to_its_pipeline(
    lightgbm_predictor, lightgbm_models_dir, monkeypatch, kind
):
    assert lightgbm_predictor.path == "compiled"
    assert lightgbm_predictor.path_reason is None
    movies = movies_of(kind, 200)
    reference = pipeline_reference(lightgbm_models_dir, movies)
    assert np.unique(np.round(reference, 6)).size > 20  # the rows really differ
    batch = lightgbm_predictor.predict_many(movies)
    assert np.max(np.abs(batch - reference)) <= 1e-9
    singles = np.array([lightgbm_predictor.predict_one(movie) for movie in movies[:40]])
    assert np.max(np.abs(singles - reference[:40])) <= 1e-9

    # "compiled" means LightGBM's own predict is not called at all
    def not_called(*args, **kwargs):
        raise AssertionError("LightGBM's predict ran on the compiled path")

    monkeypatch.setattr(lightgbm_predictor.loaded.model, "predict", not_called)
    np.testing.assert_array_equal(lightgbm_predictor.predict_many(movies), batch)


def test_ridge_serves_on_the_fallback_path_and_says_why(predictor):
    assert predictor.path == "fallback"
    reason = predictor.path_reason
    assert reason and "Ridge" in reason
    assert predictor.card.model_family in reason.lower()


@pytest.mark.parametrize("kind", MOVIES)
@pytest.mark.parametrize(
    ("family", "hyperparams", "path"),
    [
        ("ridge", {}, "fallback"),
        ("lightgbm", {}, "compiled"),
        ("random_forest", {"n_estimators": 25, "max_depth": 6}, "fallback"),
    ],
)
def test_every_path_matches_the_pipeline(tmp_path, family, hyperparams, path, kind):
    models_dir = write_model_dir(tmp_path, family=family, **hyperparams)
    predictor = load(models_dir)
    assert predictor.path == path
    movies = movies_of(kind, 200)
    reference = pipeline_reference(models_dir, movies)
    singles = np.array([predictor.predict_one(movie) for movie in movies])
    np.testing.assert_allclose(singles, reference, rtol=0, atol=1e-9)
    np.testing.assert_allclose(predictor.predict_many(movies), reference, rtol=0, atol=1e-9)
    assert np.unique(np.round(reference, 6)).size > 20  # the rows really differ


@pytest.mark.parametrize("family", sorted(SERVED))
def test_a_large_batch_cut_into_parts_rates_every_movie_as_one_batch(request, family, monkeypatch):
    predictor = request.getfixturevalue(SERVED[family][0])
    models_dir = request.getfixturevalue(SERVED[family][1])
    rows = 2 * _PART_ROWS + 100
    frame = synthetic_movies(rows, seed=12).assign(record_id=range(rows))
    reference = pipeline_reference(models_dir, movie_inputs(frame))
    monkeypatch.setattr(predictor, "cores", 1)  # one part
    whole = predictor.predict_many(frame)
    monkeypatch.setattr(predictor, "cores", 2)  # two parts, in two threads
    parts = predictor.predict_many(frame)
    np.testing.assert_array_equal(parts, whole)
    np.testing.assert_array_equal(predictor.predict_many(movie_inputs(frame)), whole)
    assert np.max(np.abs(whole - reference)) <= 1e-9


def test_compile_model_says_why_a_model_is_not_compiled():
    X, y = np.random.default_rng(0).normal(size=(200, 4)), np.arange(200.0)
    settings = {"n_estimators": 5, "n_jobs": 1, "verbose": -1}
    forest, reason = compile_model(LGBMRegressor(**settings).fit(X, y))
    assert forest is not None and reason is None
    np.testing.assert_array_equal(forest.predict(X), forest.predict(X, 1))

    forest, reason = compile_model(Ridge().fit(X, y))
    assert forest is None and reason is not None and "Ridge" in reason

    early_stop = LGBMRegressor(pred_early_stop=True, **settings).fit(X, y)
    forest, reason = compile_model(early_stop)
    assert forest is None and reason is not None and "prediction-time" in reason

    sqrt_target = LGBMRegressor(reg_sqrt=True, **settings).fit(X, y)
    forest, reason = compile_model(sqrt_target)
    assert forest is None and reason is not None and "did not compile" in reason

    class Custom(LGBMRegressor):
        pass

    forest, reason = compile_model(Custom(**settings).fit(X, y))
    assert forest is None and reason is not None and "Custom" in reason


def test_predict_many_accepts_a_frame_with_extra_columns_and_checks_inputs(predictor):
    frame = synthetic_movies(10, seed=4).assign(record_id=range(10))
    expected = predictor.predict_many(movie_inputs(frame))
    np.testing.assert_allclose(predictor.predict_many(frame), expected, atol=1e-9)
    with pytest.raises(MovieRatingError, match="genre"):
        predictor.predict_many(frame.drop(columns="genre"))
    assert predictor.predict_many([]).shape == (0,)


@pytest.mark.parametrize("kind", MOVIES)
@pytest.mark.parametrize(
    ("family", "hyperparams", "path"),
    [
        ("ridge", {}, "fallback"),
        # small leaves, so that the trees follow the stretched target beyond 0-10
        ("lightgbm", {"n_estimators": 20, "min_child_samples": 5}, "compiled"),
    ],
)
def test_predictions_are_clipped_to_the_rating_scale(tmp_path, family, hyperparams, path, kind):
    models_dir = write_model_dir(tmp_path, family=family, target_scale=40.0, **hyperparams)
    predictor = load(models_dir)
    assert predictor.path == path
    movies = movies_of(kind, 120)
    raw = joblib.load(artifact_file(models_dir)).predict(frame_of(movies))
    assert raw.min() < 0 and raw.max() > 10  # the model really overshoots
    batch = predictor.predict_many(movies)
    singles = np.array([predictor.predict_one(m) for m in movies])
    for predicted in (batch, singles):
        assert predicted.min() == 0.0 and predicted.max() == 10.0
    np.testing.assert_allclose(singles, batch, atol=1e-9)
    np.testing.assert_allclose(batch, np.clip(raw, 0.0, 10.0), rtol=0, atol=1e-9)


def test_unloaded_predictor_says_so(tiny_models_dir):
    unloaded = ProductionPredictor(tiny_models_dir)
    assert not unloaded.is_loaded
    for use in (lambda: unloaded.predict_many([]), lambda: unloaded.path, lambda: unloaded.card):
        with pytest.raises(ModelIntegrityError, match="not loaded"):
            use()


def test_fit_tiny_pipeline_is_the_export_shape():
    pipeline = fit_tiny_pipeline()
    assert [name for name, _ in pipeline.steps] == ["features", "model"]


@pytest.mark.parametrize("fixture", ["predictor", "lightgbm_predictor"])
def test_intervals_hold_the_rating_and_widen_with_the_level(request, fixture):
    predictor = request.getfixturevalue(fixture)
    movies = movie_inputs(synthetic_movies(40, seed=9))
    scored = predictor.score_many(movies)
    np.testing.assert_array_equal(scored.ratings, predictor.predict_many(movies))
    default = predictor.intervals(scored)
    np.testing.assert_array_equal(default, predictor.intervals(scored, predictor.default_level))
    wide = predictor.intervals(scored, 0.95)
    assert np.all(default[:, 0] <= scored.ratings) and np.all(scored.ratings <= default[:, 1])
    assert np.all(wide[:, 0] <= default[:, 0]) and np.all(wide[:, 1] >= default[:, 1])
    assert wide.min() >= 0.0 and wide.max() <= 10.0


def test_an_artifact_without_intervals_is_refused(tiny_models_dir, tmp_path):
    card = read_card(tiny_models_dir)
    pipeline = joblib.load(tiny_models_dir / card.artifact.path)
    *steps, (name, conformal) = pipeline.steps
    fields = card.model_dump(exclude={"name", "version", "input_features", "artifact"})
    save_model(Pipeline([*steps, (name, conformal.estimator_)]), tmp_path / "m.joblib", fields)
    with pytest.raises(ModelIntegrityError, match="no prediction intervals"):
        ProductionPredictor(tmp_path).load()

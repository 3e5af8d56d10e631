"""Training one grid cell: seeded determinism, metric keys, test never used for selection."""

import numpy as np
import pytest

from movie_rating.data.schema import RECORD_ID, TARGET, VOTE_COUNT
from movie_rating.features.pipelines import build_feature_pipeline
from movie_rating.models.families import build_model
from movie_rating.models.training import cell_name, full_pipeline, train_cell

SMALL = {"n_estimators": 15}  # enough trees to be a real ensemble, fast on 2 cores


def _estimator(family, repo_params, seed):
    hyper = dict(repo_params["models"][family])
    if "n_estimators" in hyper:
        hyper |= SMALL
    features = build_feature_pipeline("v1_original", repo_params["featurize"])
    return full_pipeline(features, build_model(family, hyper, seed))


@pytest.fixture
def train_test(movie_factory):
    return movie_factory(80, seed=1), movie_factory(20, seed=2)


@pytest.mark.parametrize("family", ["lightgbm", "xgboost", "random_forest"])
def test_same_seed_same_predictions(family, repo_params, train_test):
    # Bit-identical, predicted twice each: a threaded forest once differed in the last bits.
    train, test = train_test
    y = train[TARGET].to_numpy()
    first = _estimator(family, repo_params, seed=42).fit(train, y)
    second = _estimator(family, repo_params, seed=42).fit(train, y)
    reference = first.predict(test)
    for predicted in (first.predict(test), second.predict(test), second.predict(test)):
        np.testing.assert_array_equal(predicted, reference)


def test_seed_reaches_the_model(repo_params, train_test):
    # random_forest with max_features < 1 depends on its seed: a different seed, other trees
    train, test = train_test
    y = train[TARGET].to_numpy()
    a = _estimator("random_forest", repo_params, seed=1).fit(train, y).predict(test)
    b = _estimator("random_forest", repo_params, seed=2).fit(train, y).predict(test)
    assert not np.array_equal(a, b)


def test_train_cell_metrics_and_predictions(repo_params, train_test):
    train, test = train_test
    result = train_cell(_estimator("ridge", repo_params, 0), train, test, folds=3, seed=0)

    assert set(result.metrics) == {
        "cv_rmse_mean",
        "cv_rmse_std",
        "cv_r2_mean",
        "test_rmse",
        "test_mae",
        "test_r2",
    }
    assert all(isinstance(v, float) and np.isfinite(v) for v in result.metrics.values())
    assert result.metrics["cv_rmse_mean"] > 0
    predictions = result.test_predictions
    assert list(predictions.columns) == [RECORD_ID, VOTE_COUNT, "actual", "predicted"]
    assert list(predictions[RECORD_ID]) == list(test[RECORD_ID])
    assert predictions["predicted"].between(0, 10).all()
    rmse = float(np.sqrt(np.mean((predictions["actual"] - predictions["predicted"]) ** 2)))
    assert result.metrics["test_rmse"] == pytest.approx(rmse, abs=1e-5)


def test_cv_metrics_do_not_depend_on_the_test_split(repo_params, train_test):
    train, test = train_test
    shifted = test.assign(**{TARGET: 10.0 - test[TARGET]})
    a = train_cell(_estimator("ridge", repo_params, 0), train, test, folds=3, seed=0).metrics
    b = train_cell(_estimator("ridge", repo_params, 0), train, shifted, folds=3, seed=0).metrics
    for key in ("cv_rmse_mean", "cv_rmse_std", "cv_r2_mean"):
        assert a[key] == b[key]
    assert a["test_rmse"] != b["test_rmse"]


def test_cell_name_matches_dvc_matrix():
    assert cell_name("v4_trigrams", "lightgbm") == "v4_trigrams-lightgbm"

"""Conformal intervals on a synthetic problem whose noise is known."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression

from movie_rating.intervals.conformal import ConformalRegressor
from movie_rating.intervals.scores import interval_scores


def noisy_problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y = 5 + x0 - x1 + noise whose spread grows with |x2|: the noise is the difficulty."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 3))
    spread = 0.1 + 0.8 * np.abs(X[:, 2])
    return X, 5 + X[:, 0] - X[:, 1] + spread * rng.normal(size=n), spread


@pytest.fixture(scope="module")
def fitted() -> ConformalRegressor:
    X, y, _ = noisy_problem(3000, seed=0)
    return ConformalRegressor(LinearRegression(), random_state=0).fit(X, y)


@pytest.mark.parametrize("level", [0.8, 0.9])
def test_coverage_is_the_level_and_adaptive_beats_one_width(fitted, level):
    X, y, spread = noisy_problem(20_000, seed=1)
    adaptive = interval_scores(y, fitted.predict_interval(X, level)[1], level)
    constant = interval_scores(y, fitted.predict_interval(X, level, adaptive=False)[1], level)
    assert adaptive["coverage"] == pytest.approx(level, abs=0.02)
    assert constant["coverage"] == pytest.approx(level, abs=0.02)
    assert adaptive["winkler"] < 0.9 * constant["winkler"]
    # wider where the noise is larger, as the known spread says
    widths = np.diff(fitted.predict_interval(X, level)[1], axis=1).ravel()
    assert np.corrcoef(widths, spread)[0, 1] > 0.8


def test_predict_is_the_model_fitted_on_every_row_and_clone_works(fitted):
    X, y, _ = noisy_problem(3000, seed=0)
    np.testing.assert_allclose(fitted.predict(X), LinearRegression().fit(X, y).predict(X))
    copy = clone(fitted)
    assert copy.get_params()["cv"] == 5 and not hasattr(copy, "estimator_")


def test_bounds_stay_on_the_rating_scale_and_refuse_a_bad_level(fitted):
    bounds = fitted.bounds(np.array([0.2, 9.9]), np.array([5.0, 5.0]), 0.9)
    assert bounds.min() == 0.0 and bounds.max() == 10.0
    higher = fitted.bounds(np.array([5.0]), np.array([0.5]), 0.95)
    lower = fitted.bounds(np.array([5.0]), np.array([0.5]), 0.8)
    assert higher[0, 0] < lower[0, 0] < 5.0 < lower[0, 1] < higher[0, 1]
    with pytest.raises(ValueError, match="level"):
        fitted.bounds(np.array([5.0]), np.array([0.5]), 1.0)


def test_no_difficulty_falls_below_the_floor(fitted):
    assert fitted.sigmas(np.array([-1.0, 0.0, 0.5])).tolist() == [0.1, 0.1, 0.5]


def test_two_fits_pickle_to_the_same_bytes(fitted):
    """crepes records fit and predict timings; the artifact must not carry them (a rebuild
    reproduces dvc.lock byte for byte)."""
    X, y, _ = noisy_problem(3000, seed=0)
    again = ConformalRegressor(LinearRegression(), random_state=0).fit(X, y)
    again.predict_interval(X[:5], 0.8)  # a predict in between, as the export does
    assert pickle.dumps(again) == pickle.dumps(fitted)
    assert pickle.loads(pickle.dumps(again)).bounds([5.0], [0.5], 0.8).shape == (1, 2)

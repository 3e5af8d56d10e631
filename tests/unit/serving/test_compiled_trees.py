"""Compiled LightGBM forests must equal `Booster.predict` bit for bit, or not exist."""

import logging
import sys
from typing import Any

import numpy as np
import pytest
from lightgbm import LGBMRegressor

from movie_rating.serving import batchpath, compiled_trees
from movie_rating.serving.compiled_trees import (
    CompiledForest,
    NotCompilable,
    compile_lightgbm,
    probe_matrix,
)


def synthetic(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Binary, count and continuous features with zeros, tiny values and NaNs, as the batch
    path's encodings have them (binary features split at LightGBM's zero threshold)."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.integers(0, 2, n).astype(float),
            rng.integers(0, 6, n).astype(float),
            rng.normal(size=n),
            rng.normal(size=n) * 1e3,
            np.where(rng.random(n) < 0.3, 0.0, rng.normal(size=n)),
            np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        ]
    )
    y = X[:, 0] * 2 + X[:, 1] - np.nan_to_num(X[:, 5]) + np.sin(X[:, 2]) + rng.normal(size=n)
    return X, y


def fit(**params: Any) -> LGBMRegressor:
    X, y = synthetic()
    # One thread: OpenMP's spinning threads made this 20x slower on a busy 2-core machine.
    settings = {"n_estimators": 60, "num_leaves": 15, "min_child_samples": 5, "n_jobs": 1}
    settings["verbose"] = -1
    return LGBMRegressor(**(settings | params)).fit(X, y)


def rows_to_score(booster: Any) -> np.ndarray:
    X, _ = synthetic(n=700, seed=1)
    X[::7, 2] = 1e-36  # within LightGBM's zero threshold: read as 0.0
    X[1::7, 3] = -0.0
    X[2::11, :] = np.nan
    return np.vstack([X, probe_matrix(booster, rows=300, seed=3)])


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"zero_as_missing": True},
        {"use_missing": False},
        {"objective": "huber"},
        {"n_estimators": 70, "extra_trees": True, "max_bin": 7},
    ],
    ids=["default", "zero_as_missing", "no_missing", "huber", "extra_trees"],
)
def test_compiled_forest_equals_booster_predict(params: dict[str, Any]):
    booster = fit(**params).booster_
    forest = compile_lightgbm(booster, threads=2)
    assert forest is not None
    X = rows_to_score(booster)
    expected = booster.predict(X, num_threads=1)
    np.testing.assert_array_equal(forest.predict(X), expected)
    np.testing.assert_array_equal(forest.predict(X, threads=1), expected)
    np.testing.assert_array_equal(forest.predict(X[[5]]), expected[[5]])
    np.testing.assert_array_equal(forest.predict(np.asfortranarray(X)), expected)


def test_trees_without_splits_compile():
    X, y = synthetic(n=40)
    # min_child_samples above the row count: no split is allowed, every tree is one leaf
    model = LGBMRegressor(n_estimators=5, min_child_samples=50, verbose=-1).fit(X, y)
    booster = model.booster_
    forest = compile_lightgbm(booster)
    assert forest is not None
    X = rows_to_score(booster)
    np.testing.assert_array_equal(forest.predict(X), booster.predict(X))


@pytest.mark.parametrize(
    "params", [{"reg_sqrt": True}, {"objective": "poisson"}, {"boosting_type": "rf"}]
)
def test_transformed_outputs_do_not_compile(params: dict[str, Any]):
    if params.get("boosting_type") == "rf":
        params = params | {"subsample": 0.5, "subsample_freq": 1}
    X, y = synthetic()
    booster = LGBMRegressor(n_estimators=10, verbose=-1, **params).fit(X, np.abs(y)).booster_
    with pytest.raises(NotCompilable):
        CompiledForest(booster)
    assert compile_lightgbm(booster) is None


def test_categorical_splits_do_not_compile():
    X, y = synthetic()
    X[:, 1] = X[:, 1].astype(int)
    model = LGBMRegressor(n_estimators=10, min_child_samples=5, verbose=-1)
    booster = model.fit(X, y, categorical_feature=[1]).booster_
    assert compile_lightgbm(booster) is None


def test_a_disagreeing_forest_is_refused(monkeypatch, caplog: pytest.LogCaptureFixture):
    # The double 1e-35 (not LightGBM's float 1e-35f) misreads values between the two; the
    # probe rows hold the doubles right above every threshold, 1e-35f among them.
    monkeypatch.setattr(compiled_trees, "ZERO_THRESHOLD", 1e-35)
    booster = fit().booster_
    with caplog.at_level(logging.WARNING):
        assert compile_lightgbm(booster) is None
    assert "differ from LightGBM" in caplog.text


def test_wrong_width_is_an_error():
    forest = compile_lightgbm(fit().booster_)
    assert forest is not None
    with pytest.raises(ValueError, match="shape"):
        forest.predict(np.zeros((3, 2)))


def test_without_llvmlite_lightgbm_predicts(monkeypatch, caplog: pytest.LogCaptureFixture):
    # None in sys.modules makes `import llvmlite` raise ImportError
    monkeypatch.setitem(sys.modules, "llvmlite", None)
    monkeypatch.setitem(sys.modules, "llvmlite.binding", None)
    model = fit()
    with caplog.at_level(logging.WARNING):
        assert compile_lightgbm(model.booster_) is None
        predict, dense = batchpath._model_predict(model, cores=2)
    assert "llvmlite is not installed" in caplog.text
    assert dense
    X = rows_to_score(model.booster_)
    np.testing.assert_array_equal(predict(X, 2), model.booster_.predict(X))


def test_batch_path_compiles_lightgbm(monkeypatch):
    model = fit()
    compiled: list[CompiledForest] = []

    def spy(booster: Any, threads: int = 1) -> CompiledForest | None:
        forest = compile_lightgbm(booster, threads)
        compiled.extend([forest] if forest is not None else [])
        return forest

    monkeypatch.setattr(batchpath, "compile_lightgbm", spy)
    predict, dense = batchpath._model_predict(model, cores=2)
    assert dense
    assert len(compiled) == 1
    X = rows_to_score(model.booster_)
    np.testing.assert_array_equal(predict(X, 2), model.predict(X))


def test_thread_pools_are_remade_after_a_fork(monkeypatch):
    pool = compiled_trees.ThreadPool(2, "test")
    assert pool.map(abs, [-1, -2]) == [1, 2]
    first = pool._pool
    monkeypatch.setattr(compiled_trees.os, "getpid", lambda: -1)  # as in a forked child
    assert pool.map(abs, [-3]) == [3]
    assert pool._pool is not first

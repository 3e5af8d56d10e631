"""Compiled LightGBM forests must equal `Booster.predict` bit for bit, or be refused, saying why."""

import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from lightgbm import LGBMRegressor

from movie_rating.serving import compiled_trees, threads
from movie_rating.serving.compiled_trees import (
    CACHE_VARIABLE,
    CompiledForest,
    NotCompilable,
    ObjectCache,
    cache_from_environment,
    compile_lightgbm,
    probe_matrix,
)


def synthetic(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Binary, count and continuous features with zeros, tiny values and NaNs, as the feature
    pipelines' encodings have them (binary features split at LightGBM's zero threshold)."""
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


def fit(data: tuple[np.ndarray, np.ndarray] | None = None, **params: Any) -> LGBMRegressor:
    X, y = synthetic() if data is None else data
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
    with pytest.raises(NotCompilable) as direct:
        CompiledForest(booster)
    with pytest.raises(NotCompilable) as checked:
        compile_lightgbm(booster)
    assert str(checked.value) == str(direct.value)


def test_categorical_splits_do_not_compile():
    X, y = synthetic()
    X[:, 1] = X[:, 1].astype(int)
    model = LGBMRegressor(n_estimators=10, min_child_samples=5, verbose=-1)
    booster = model.fit(X, y, categorical_feature=[1]).booster_
    with pytest.raises(NotCompilable, match="split '=='"):
        compile_lightgbm(booster)


def test_a_disagreeing_forest_is_refused(monkeypatch):
    # The double 1e-35 (not LightGBM's float 1e-35f) misreads values between the two; the
    # probe rows hold the doubles right above every threshold, 1e-35f among them.
    monkeypatch.setattr(compiled_trees, "ZERO_THRESHOLD", 1e-35)
    booster = fit().booster_
    with pytest.raises(NotCompilable, match="differ from LightGBM's by"):
        compile_lightgbm(booster)


def test_wrong_width_is_an_error():
    forest = compile_lightgbm(fit().booster_)
    with pytest.raises(ValueError, match="shape"):
        forest.predict(np.zeros((3, 2)))


def test_load_errors_are_refusals_saying_why(monkeypatch):
    # whatever goes wrong while compiling or checking, the caller gets NotCompilable (and keeps
    # LightGBM), its message naming the error
    booster = fit(n_estimators=5).booster_

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("LLVM ERROR: out of registers")

    monkeypatch.setattr(compiled_trees.llvm, "create_mcjit_compiler", broken)
    with pytest.raises(NotCompilable, match="RuntimeError: LLVM ERROR: out of registers"):
        compile_lightgbm(booster)


def test_thread_pools_are_remade_after_a_fork(monkeypatch):
    pool = threads.ThreadPool(2, "test")
    assert pool.map(abs, [-1, -2]) == [1, 2]
    first = pool._pool
    monkeypatch.setattr(threads.os, "getpid", lambda: -1)  # as in a forked child
    assert pool.map(abs, [-3]) == [3]
    assert pool._pool is not first


def leaves(dump: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [tree["tree_structure"] for tree in dump["tree_info"]]
    found = []
    while nodes:
        node = nodes.pop()
        nodes += [node[side] for side in ("left_child", "right_child") if side in node]
        found += [] if "split_index" in node else [node]
    return found


def with_infinities(X: np.ndarray) -> np.ndarray:
    """The rows, and copies with +-inf in features the leaves multiply (an inf times a 0.0
    coefficient is NaN, an inf minus an inf too)."""
    infinite = X[:100].copy()
    infinite[::3, 2] = np.inf
    infinite[1::3, 3] = -np.inf
    infinite[2::3, 4] = np.inf
    return np.vstack([X, infinite])


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"linear_lambda": 10.0},
        {"use_missing": False},
        {"n_estimators": 5, "num_leaves": 3},
        {"n_estimators": 30, "num_leaves": 40, "min_child_samples": 3},
    ],
    ids=["default", "linear_lambda", "no_missing", "small", "wide"],
)
def test_linear_trees_equal_booster_predict(params: dict[str, Any]):
    # (no missing type Zero: LightGBM refuses zero_as_missing with linear trees)
    booster = fit(linear_tree=True, **params).booster_
    assert any(leaf["leaf_features"] for leaf in leaves(booster.dump_model()))
    forest = compile_lightgbm(booster, threads=2)
    X = with_infinities(rows_to_score(booster))
    expected = booster.predict(X, num_threads=1)
    assert np.array_equal(forest.predict(X), expected, equal_nan=True)
    assert np.array_equal(forest.predict(X, threads=1), expected, equal_nan=True)


def with_term(model: str, feature: int, coefficient: float) -> str:
    """The model text with a last term, `coefficient` times `feature`, in every linear leaf."""
    # without the trees' sizes in bytes (now wrong), LightGBM reads the trees one by one
    lines = [line for line in model.splitlines() if not line.startswith("tree_sizes=")]
    for i, line in enumerate(lines):
        if not line.startswith("num_features="):
            continue
        assert lines[i + 1].startswith("leaf_features=")
        assert lines[i + 2].startswith("leaf_coeff=")
        counts = [int(count) for count in line.removeprefix("num_features=").split()]
        features = lines[i + 1].removeprefix("leaf_features=").split()
        coefficients = lines[i + 2].removeprefix("leaf_coeff=").split()
        bounds = list(zip(np.cumsum([0, *counts[:-1]]), np.cumsum(counts), strict=True))
        lines[i] = "num_features=" + " ".join(str(count + 1) for count in counts)
        # LightGBM's layout: each value followed by a space, and one more after each leaf
        lines[i + 1] = "leaf_features=" + "".join(
            " ".join([*features[start:end], str(feature)]) + "  " for start, end in bounds
        )
        lines[i + 2] = "leaf_coeff=" + "".join(
            " ".join([*coefficients[start:end], repr(coefficient)]) + "  " for start, end in bounds
        )
    return "\n".join(lines) + "\n"


def test_linear_terms_on_features_no_split_uses():
    # LightGBM's leaves multiply the features split on above them, but a model text may hold
    # any: here a constant column no split can use, and the column with NaNs, in every leaf
    X, y = synthetic()
    X = np.column_stack([X, np.zeros(len(X))])
    model = fit((X, y), linear_tree=True, n_estimators=20, num_leaves=7)
    text = with_term(model.booster_.model_to_string(), 6, 0.3759217)
    booster = lgb.Booster(model_str=with_term(text, 5, -0.0291537))
    assert all(leaf["leaf_features"][-2:] == [6, 5] for leaf in leaves(booster.dump_model()))
    forest = compile_lightgbm(booster)
    rows, _ = synthetic(n=400, seed=2)
    unused = np.random.default_rng(4).normal(size=len(rows))
    unused[::9], unused[1::9], unused[2::9] = np.nan, 1e-36, np.inf
    X = np.vstack([np.column_stack([rows, unused]), probe_matrix(booster, rows=200, seed=5)])
    expected = booster.predict(X, num_threads=1)
    assert np.array_equal(forest.predict(X), expected, equal_nan=True)


def test_thresholds_the_dump_clamps_are_read_from_the_model_text():
    # A split that sends only NaN right has threshold inf, which `dump_model` writes as 1e300;
    # LightGBM sends a value above 1e300 left.
    X, y = synthetic()
    booster = fit((X, y + 3 * np.isnan(X[:, 5])), linear_tree=True).booster_
    text, trees = booster.model_to_string(), booster.dump_model()["tree_info"]
    exact = compiled_trees._exact_thresholds(text, trees)
    assert math.inf in {t for thresholds in exact.values() for t in thresholds}
    forest = compile_lightgbm(booster)
    X = rows_to_score(booster)
    X[::2, 5] = np.resize([1e301, sys.float_info.max, np.inf, -1e301], len(X[::2]))
    expected = booster.predict(X, num_threads=1)
    assert np.array_equal(forest.predict(X), expected, equal_nan=True)


def test_probe_rows_make_linear_leaves_sum_and_fall_back():
    # Each linear leaf should meet rows where the features it multiplies are all finite (its
    # sum) and rows where one is NaN (its plain value); among 40 features, the NaNs and infs
    # drawn with the thresholds alone reached half the leaves' few.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 40))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = np.nan_to_num(X[:, :8]) @ rng.normal(size=8) + rng.normal(size=len(X))
    booster = fit((X, y), linear_tree=True, n_estimators=30).booster_
    dump = booster.dump_model()
    probes = probe_matrix(booster)
    reached = booster.predict(probes, pred_leaf=True, num_threads=1)
    linear, summed, fell_back = 0, 0, 0
    for t, tree in enumerate(dump["tree_info"]):
        for leaf in leaves({"tree_info": [tree]}):
            if leaf["leaf_features"]:
                rows = reached[:, t] == leaf["leaf_index"]
                values = probes[rows][:, leaf["leaf_features"]]
                linear += 1
                summed += bool(np.isfinite(values).all(axis=1).any())
                fell_back += bool(np.isnan(values).any(axis=1).any())
    assert linear > 300
    assert summed == linear
    assert fell_back >= 0.8 * linear  # (no NaN reaches some: the splits above send it away)


@pytest.fixture(scope="module")
def linear_booster() -> Any:
    return fit(linear_tree=True).booster_


@pytest.mark.parametrize("wrong", ["coefficients", "fallback values"])
def test_a_linear_leaf_one_bit_off_is_refused(wrong: str, linear_booster: Any, monkeypatch):
    # every linear leaf's coefficients, or the value it gives when a feature is NaN, one double
    # up: the probe rows that sum the terms, or that make them NaN, see it
    dump = linear_booster.dump_model()
    for leaf in leaves(dump):
        if not leaf["leaf_features"]:
            continue
        if wrong == "coefficients":
            leaf["leaf_coeff"] = [math.nextafter(c, math.inf) for c in leaf["leaf_coeff"]]
        else:
            leaf["leaf_value"] = math.nextafter(leaf["leaf_value"], math.inf)
    monkeypatch.setattr(linear_booster, "dump_model", lambda: dump)
    with pytest.raises(NotCompilable, match="differ from LightGBM's by"):
        compile_lightgbm(linear_booster)


def test_a_fused_multiply_add_is_refused(linear_booster: Any, monkeypatch):
    # a product added without its own rounding (what a contracted fmul and fadd become on an
    # FMA host) differs in the last bits: the probe rows' sums see it
    write = CompiledForest._module
    fused: list[int] = []

    def fusing(self: CompiledForest, trees: list[dict[str, Any]], pointer: str) -> str:
        product = r"  (%\S+) = fmul double (\S+), (\S+)\n  (%\S+) = fadd double (\S+), \1\n"
        fma = r"  \4 = call double @llvm.fma.f64(double \2, double \3, double \5)\n"
        text, count = re.subn(product, fma, write(self, trees, pointer))
        fused.append(count)
        return "declare double @llvm.fma.f64(double, double, double)\n" + text

    monkeypatch.setattr(CompiledForest, "_module", fusing)
    with pytest.raises(NotCompilable, match="differ from LightGBM's by"):
        compile_lightgbm(linear_booster)
    assert fused and fused[0] > 0


def cached_code(cache: ObjectCache) -> list[Path]:
    return sorted(cache.directory.glob("*.o"))


def test_a_cached_forest_is_reused_and_equals_booster_predict(tmp_path: Path):
    booster = fit(linear_tree=True).booster_
    cache = ObjectCache(tmp_path / "trees")
    first = compile_lightgbm(booster, cache=cache)
    second = compile_lightgbm(booster, cache=cache)
    assert (first.cached, second.cached) == (False, True)
    assert len(cached_code(cache)) == 1
    X = rows_to_score(booster)
    expected = booster.predict(X, num_threads=1)
    assert np.array_equal(second.predict(X), expected, equal_nan=True)
    # compiled once for the cache, so optimised (-O1); without a cache, -O0: the same doubles
    uncached = compile_lightgbm(booster)
    assert (first.optimised, uncached.optimised) == (True, False)
    assert np.array_equal(uncached.predict(X), expected, equal_nan=True)
    # another booster, another key
    assert not compile_lightgbm(fit(n_estimators=5).booster_, cache=cache).cached
    assert len(cached_code(cache)) == 2


def test_damaged_or_wrong_cached_code_is_compiled_again(tmp_path: Path):
    booster = fit(linear_tree=True).booster_
    other = fit(synthetic(seed=1), linear_tree=True).booster_
    cache = ObjectCache(tmp_path)
    compile_lightgbm(booster, cache=cache)
    (path,) = cached_code(cache)
    data = bytearray(path.read_bytes())
    data[-100] ^= 1  # a flipped bit: the digest no longer matches
    path.write_bytes(bytes(data))
    assert not compile_lightgbm(booster, cache=cache).cached
    # whole, but another model's code under this model's key: the probe rows catch it
    good = path.read_bytes()
    compile_lightgbm(other, cache=ObjectCache(tmp_path / "other"))
    (wrong,) = cached_code(ObjectCache(tmp_path / "other"))
    path.write_bytes(wrong.read_bytes())
    again = compile_lightgbm(booster, cache=cache)
    assert not again.cached
    X = rows_to_score(booster)
    assert np.array_equal(again.predict(X), booster.predict(X, num_threads=1), equal_nan=True)
    assert path.read_bytes() == good  # replaced: the next load reuses it
    assert compile_lightgbm(booster, cache=cache).cached


def test_a_cache_others_may_write_to_is_not_used(tmp_path: Path):
    booster = fit(n_estimators=5).booster_
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)  # (mkdir's mode is cut by the umask)
    cache = ObjectCache(shared)
    forest = compile_lightgbm(booster, cache=cache)
    assert cached_code(cache) == []
    assert not forest.optimised  # compiled for this load alone: -O0


def test_the_cache_keeps_the_most_recently_used_forests(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(compiled_trees, "_CACHED_FORESTS", 2)
    cache = ObjectCache(tmp_path)
    boosters = [fit(n_estimators=n).booster_ for n in (3, 4, 5)]
    for booster in boosters:
        compile_lightgbm(booster, cache=cache)
    assert len(cached_code(cache)) == 2
    assert not compile_lightgbm(boosters[0], cache=cache).cached  # the oldest went
    assert compile_lightgbm(boosters[2], cache=cache).cached


def test_the_cache_leaves_a_file_another_process_is_writing(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(compiled_trees, "_CACHED_FORESTS", 1)
    cache = ObjectCache(tmp_path)
    writing = tmp_path / ".0123abcd.k3y5cr4t.o"  # another process's scratch file, oldest of all
    writing.write_bytes(b"half")
    os.utime(writing, (0, 0))
    for n in (3, 4):
        compile_lightgbm(fit(n_estimators=n).booster_, cache=cache)
    assert writing.read_bytes() == b"half"
    assert len([path for path in cached_code(cache) if path != writing]) == 1


def test_the_cache_directory_comes_from_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path))
    cache = cache_from_environment()
    assert cache is not None and cache.directory.parent == tmp_path
    monkeypatch.setenv(CACHE_VARIABLE, "")
    assert cache_from_environment() is None
    monkeypatch.delenv(CACHE_VARIABLE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = cache_from_environment()
    assert cache is not None and cache.directory.is_relative_to(tmp_path / "xdg")

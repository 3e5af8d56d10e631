"""OutOfFoldRegressor and the v5_stacked pipeline: out-of-fold correctness, no leakage,
determinism and scikit-learn's estimator contract."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_predict, cross_validate

from movie_rating.data.schema import TARGET
from movie_rating.features.pipelines import PIPELINES, build_feature_pipeline
from movie_rating.features.stacking import (
    OutOfFoldRegressor,
    ReleaseContextFeatures,
    ReleaseKeys,
    TitlePrefixes,
)
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline
from movie_rating.params import load_params

LGBM = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 10}


def numeric_data(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(0, 0.3, n)


def text_oof(**overrides) -> OutOfFoldRegressor:
    settings = {"n_splits": 4, "random_state": 3, "feature_name": "ridge", **overrides}
    return OutOfFoldRegressor(TfidfVectorizer(min_df=1), Ridge(alpha=1.0), **settings)


def v5_cell(v5_params: dict, seed: int = 0):
    features = build_feature_pipeline("v5_stacked", v5_params)
    return full_pipeline(features, build_model("lightgbm", LGBM, seed))


# --- out-of-fold correctness -------------------------------------------------------------


def test_fit_transform_equals_manual_cross_val_predict():
    X, y = numeric_data()
    oof = OutOfFoldRegressor(estimator=Ridge(alpha=1.0), n_splits=5, random_state=11)
    expected = cross_val_predict(Ridge(alpha=1.0), X, y, cv=KFold(5, shuffle=True, random_state=11))
    np.testing.assert_allclose(oof.fit_transform(X, y).ravel(), expected)


def test_fit_transform_is_not_the_in_sample_prediction(movies):
    oof = text_oof()
    out_of_fold = oof.fit_transform(movies["overview"], movies[TARGET]).ravel()
    in_sample = oof.transform(movies["overview"]).ravel()
    assert not np.allclose(out_of_fold, in_sample)
    # In-sample scores fit the training target better than honest out-of-fold ones.
    residual = movies[TARGET].to_numpy()
    assert np.std(residual - in_sample) < np.std(residual - out_of_fold)


def test_encoder_is_fitted_once_and_only_the_regressor_is_cross_fitted(movies):
    y = movies[TARGET].to_numpy()
    oof = text_oof()
    encoded = TfidfVectorizer(min_df=1).fit_transform(movies["overview"])
    expected = cross_val_predict(
        Ridge(alpha=1.0), encoded, y, cv=KFold(4, shuffle=True, random_state=3)
    )
    np.testing.assert_allclose(oof.fit_transform(movies["overview"], y).ravel(), expected)


def test_transform_uses_the_model_fitted_on_all_rows(movies):
    y = movies[TARGET].to_numpy()
    oof = text_oof().fit(movies["overview"], y)
    vectorizer = TfidfVectorizer(min_df=1).fit(movies["overview"])
    full = Ridge(alpha=1.0).fit(vectorizer.transform(movies["overview"]), y)
    new = movies["overview"].iloc[:10]
    np.testing.assert_allclose(oof.transform(new).ravel(), full.predict(vectorizer.transform(new)))


# --- leakage -----------------------------------------------------------------------------


def test_shuffled_target_gives_no_cv_skill_for_the_stacked_cell(movies, v5_params):
    shuffled = movies.assign(**{TARGET: np.random.default_rng(1).permutation(movies[TARGET])})
    scores = cross_validate(
        v5_cell(v5_params),
        shuffled,
        shuffled[TARGET].to_numpy(),
        cv=KFold(5, shuffle=True, random_state=42),
        scoring="r2",
    )
    assert np.mean(scores["test_score"]) <= 0.02


def test_real_signal_is_found_so_the_leakage_test_has_power(movies, v5_params):
    scores = cross_validate(
        v5_cell(v5_params),
        movies,
        movies[TARGET].to_numpy(),
        cv=KFold(5, shuffle=True, random_state=42),
        scoring="r2",
    )
    assert np.mean(scores["test_score"]) > 0.3


def test_out_of_fold_feature_does_not_know_a_shuffled_target(movies):
    y = np.random.default_rng(2).permutation(movies[TARGET].to_numpy())
    oof = text_oof()
    out_of_fold = oof.fit_transform(movies["overview"], y).ravel()
    in_sample = oof.transform(movies["overview"]).ravel()
    # A leaky (in-sample) score tracks the noise it was fitted on; the out-of-fold one cannot.
    assert np.corrcoef(in_sample, y)[0, 1] > 0.3
    assert np.corrcoef(out_of_fold, y)[0, 1] < 0.15


# --- determinism -------------------------------------------------------------------------


def test_two_fits_with_the_same_seed_predict_identically(movies, new_movies, v5_params):
    first = v5_cell(v5_params).fit(movies, movies[TARGET]).predict(new_movies)
    second = v5_cell(v5_params).fit(movies, movies[TARGET]).predict(new_movies)
    np.testing.assert_array_equal(first, second)


def test_oof_seed_changes_the_out_of_fold_features(movies):
    y = movies[TARGET].to_numpy()
    first = text_oof(random_state=1).fit_transform(movies["overview"], y)
    second = text_oof(random_state=2).fit_transform(movies["overview"], y)
    assert not np.allclose(first, second)


# --- scikit-learn contract ---------------------------------------------------------------


def test_clone_copies_params_and_drops_fitted_state(movies):
    fitted = text_oof().fit(movies["overview"], movies[TARGET])
    copy = clone(fitted)
    assert copy.get_params()["estimator__alpha"] == 1.0
    assert copy.get_params()["n_splits"] == 4
    assert not hasattr(copy, "estimator_")


def test_set_params_changes_behaviour(movies):
    y = movies[TARGET].to_numpy()
    loose = text_oof().fit(movies["overview"], y).transform(movies["overview"])
    stiff = text_oof().set_params(estimator__alpha=1e6)
    stiff_out = stiff.fit(movies["overview"], y).transform(movies["overview"])
    # A huge ridge penalty shrinks every prediction towards the mean target.
    assert np.std(stiff_out) < 0.01 * np.std(loose)


def test_set_params_reaches_v5_blocks_inside_the_cell(movies, v5_params):
    cell = v5_cell(v5_params)
    cell.set_params(features__encode__overview__estimator__alpha=123.0)
    assert cell.get_params()["features__encode__overview__estimator__alpha"] == 123.0


def test_feature_names_out(movies, v5_params):
    oof = text_oof(feature_name="overview_ridge").fit(movies["overview"], movies[TARGET])
    assert list(oof.get_feature_names_out()) == ["overview_ridge"]
    features = build_feature_pipeline("v5_stacked", v5_params).fit(movies, movies[TARGET])
    names = list(features.get_feature_names_out())
    assert names[:2] == ["overview__ridge", "title__ridge"]
    assert "genres__genre_Drama" in names
    assert {"context__weekday_fri", "context__n_genres", "context__title_has_number"} <= set(names)
    assert {"title_prefix__title_first_1", "title_prefix__title_first_2"} <= set(names)
    assert {"release__release_year", "release__release_language_decade"} <= set(names)
    assert features.transform(movies).shape[1] == len(names)


def test_pickle_round_trip(movies, v5_params):
    cell = v5_cell(v5_params).fit(movies, movies[TARGET])
    restored = pickle.loads(pickle.dumps(cell))
    np.testing.assert_array_equal(restored.predict(movies), cell.predict(movies))


def test_unseen_categories_and_missing_text(movies, v5_params):
    cell = v5_cell(v5_params).fit(movies, movies[TARGET])
    odd = pd.DataFrame(
        {
            "release_date": ["2031-02-30", None],
            "title": ["never seen words", None],
            "overview": ["", None],
            "genre": ["Western, Musical", None],
            "original_language": ["xx", None],
            TARGET: [np.nan, np.nan],
        }
    )
    assert np.isfinite(cell.predict(odd)).all()


def test_fit_without_target_is_an_error(movies):
    with pytest.raises(ValueError, match="target y"):
        text_oof().fit(movies["overview"])
    with pytest.raises(ValueError, match="n_splits"):
        text_oof(n_splits=1).fit(movies["overview"], movies[TARGET])


def test_params_yaml_declares_v5_and_it_builds():
    featurize = load_params(Path("params.yaml"))["featurize"]
    assert "v5_stacked" in featurize["pipelines"]
    assert "v5_stacked" in PIPELINES
    build_feature_pipeline("v5_stacked", featurize)


# --- release context features ------------------------------------------------------------


def test_release_context_features():
    frame = pd.DataFrame(
        {
            "release_date": ["2024-01-03", None],  # a Wednesday; a missing date
            "genre": ["Drama, Comedy,", None],
            "title": ["Part 2: The Return", "Amélie"],
            "overview": ["One. Two... Three", None],
        }
    )
    context = clone(ReleaseContextFeatures()).fit(frame)
    out = pd.DataFrame(context.transform(frame), columns=context.get_feature_names_out())
    assert out.loc[0, "weekday_wed"] == 1.0
    assert out.filter(like="weekday_").sum(axis=1).tolist() == [1.0, 0.0]
    assert out["n_genres"].tolist() == [2.0, 0.0]
    assert out["title_has_number"].tolist() == [1.0, 0.0]
    assert out["title_non_ascii"].tolist() == [0.0, 1.0]
    assert out["title_has_colon"].tolist() == [1.0, 0.0]
    assert out["overview_sentences"].tolist() == [4.0, 0.0]


# --- title prefixes, target-encoded out of fold --------------------------------------------


def test_title_prefixes_are_the_first_words_lower_cased():
    titles = pd.Series(["Star Wars: A New Hope", "STAR TREK", "a", "", None, "Amélie 2"])
    prefixes = clone(TitlePrefixes(word_counts=(1, 2))).fit(titles)
    out = prefixes.transform(titles)
    assert list(out.columns) == list(prefixes.get_feature_names_out())
    assert out["title_first_1"].tolist() == ["star", "star", "", "", "", "amélie"]
    assert out["title_first_2"].tolist() == ["star wars", "star trek", "", "", "", "amélie"]
    prefixes.set_params(word_counts=(3,))
    assert prefixes.transform(titles.iloc[:1]).iloc[0, 0] == "star wars new"
    with pytest.raises(ValueError, match="word_counts"):
        TitlePrefixes(word_counts=(0,)).fit(titles)


def test_title_prefix_encoding_is_out_of_fold(movies, v5_params):
    """Every title unique: fitted in-sample, each prefix would encode its own rating."""
    n = len(movies)
    frame = movies.assign(title=[f"t{i} x{i}" for i in range(n)])
    y = np.random.default_rng(0).normal(6.0, 1.0, n)
    features = build_feature_pipeline("v5_stacked", v5_params)
    block = dict((name, t) for name, t, _ in features[-1].transformers)["title_prefix"]
    out_of_fold = clone(block).fit_transform(frame["title"], y)
    in_sample = clone(block).fit(frame["title"], y).transform(frame["title"])
    assert abs(np.corrcoef(out_of_fold[:, 1], y)[0, 1]) < 0.2
    assert np.corrcoef(in_sample[:, 1], y)[0, 1] > 0.5


def test_title_prefix_encoding_finds_a_franchise(movies, v5_params):
    frame = movies.copy()
    saga = np.arange(len(frame)) % 10 == 0
    frame.loc[saga, "title"] = [f"Saga Chronicles {i}" for i in range(saga.sum())]
    y = np.where(saga, 8.5, 6.0) + np.random.default_rng(1).normal(0, 0.3, len(frame))
    features = build_feature_pipeline("v5_stacked", v5_params)
    block = dict((name, t) for name, t, _ in features[-1].transformers)["title_prefix"]
    encoded = block.fit_transform(frame["title"], y)
    assert encoded[saga, 1].min() > encoded[~saga, 1].max()
    new = block.transform(pd.Series(["Saga Chronicles 99", "Unheard Of"]))
    assert new[0, 1] > 8.0
    assert new[1, 1] == pytest.approx(y.mean())


def test_title_prefix_block_is_optional(v5_params):
    params = {"v5_stacked": {**v5_params["v5_stacked"], "title_prefix_words": []}}
    names = build_feature_pipeline("v5_stacked", params)[-1].transformers
    assert "title_prefix" not in [name for name, _, _ in names]


# --- release year and language x decade, target-encoded out of fold ------------------------


def test_release_keys_are_the_year_and_the_language_decade():
    frame = pd.DataFrame(
        {
            "release_date": ["1957-12-23", "2024-01-03", "2020-02-30", None],
            "original_language": ["ja", "en", "fr", None],
        }
    )
    keys = clone(ReleaseKeys()).fit(frame)
    out = keys.transform(frame)
    assert list(out.columns) == list(keys.get_feature_names_out())
    assert out["release_year"].tolist() == ["1957", "2024", "", ""]
    assert out["release_language_decade"].tolist() == ["ja 1950s", "en 2020s", "fr ?", " ?"]
    keys.set_params(keys=("language_decade",))
    assert keys.transform(frame.iloc[:1]).to_numpy().tolist() == [["ja 1950s"]]
    with pytest.raises(ValueError, match="language_decade"):
        ReleaseKeys(keys=("month",)).fit(frame)


def _release_block(v5_params: dict):
    features = build_feature_pipeline("v5_stacked", v5_params)
    return dict((name, t) for name, t, _ in features[-1].transformers)["release"]


def test_release_key_encoding_is_out_of_fold(movies, v5_params):
    """Every film in a year of its own: fitted in-sample, each year would encode its rating."""
    n = len(movies)
    frame = movies.assign(release_date=[f"{1000 + i}-06-15" for i in range(n)])
    y = np.random.default_rng(0).normal(6.0, 1.0, n)
    columns = ["release_date", "original_language"]
    out_of_fold = clone(_release_block(v5_params)).fit_transform(frame[columns], y)
    in_sample = clone(_release_block(v5_params)).fit(frame[columns], y).transform(frame[columns])
    assert abs(np.corrcoef(out_of_fold[:, 0], y)[0, 1]) < 0.2
    assert np.corrcoef(in_sample[:, 0], y)[0, 1] > 0.5


def test_release_key_encoding_finds_a_good_decade(movies, v5_params):
    frame = movies[["release_date", "original_language"]].copy()
    frame.loc[frame["original_language"] == "ja", "original_language"] = "fr"
    classic = np.arange(len(frame)) % 5 == 0
    frame.loc[classic, "release_date"] = "1957-05-01"
    frame.loc[classic, "original_language"] = "ja"
    y = np.where(classic, 8.5, 6.0) + np.random.default_rng(1).normal(0, 0.3, len(frame))
    block = _release_block(v5_params)
    encoded = block.fit_transform(frame, y)
    assert encoded[classic, 1].min() > encoded[~classic, 1].max()
    new = pd.DataFrame(
        {"release_date": ["1955-01-01", "1955-01-01"], "original_language": ["ja", "xx"]}
    )
    decade = block.transform(new)[:, 1]
    assert decade[0] > 8.0
    assert decade[1] == pytest.approx(y.mean())  # a key never seen: the mean rating


def test_release_block_is_optional_and_checked(v5_params):
    params = {"v5_stacked": {**v5_params["v5_stacked"], "release_keys": []}}
    names = build_feature_pipeline("v5_stacked", params)[-1].transformers
    assert "release" not in [name for name, _, _ in names]
    params = {"v5_stacked": {**v5_params["v5_stacked"], "release_keys": ["year", "month"]}}
    with pytest.raises(Exception, match="unknown release_keys"):
        build_feature_pipeline("v5_stacked", params)

"""OutOfFoldRegressor and the v5_stacked pipeline: out-of-fold correctness, no leakage,
determinism and scikit-learn's estimator contract."""

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Lasso, Ridge
from sklearn.model_selection import KFold, cross_val_predict, cross_validate
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import TargetEncoder

from movie_rating.data.schema import INPUT_FEATURES, TARGET
from movie_rating.features.pipelines import PIPELINES, build_feature_pipeline
from movie_rating.features.stacking import (
    OutOfFoldRegressor,
    ReleaseContextFeatures,
    ReleaseKeys,
    TargetEncodedKeys,
    TitlePrefixes,
    years_or_none,
)
from movie_rating.features.text import TextTfidf
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


def v5_block(v5_params: dict, name: str) -> Any:
    """An (unfitted) block of the v5 pipeline's encode step."""
    features = build_feature_pipeline("v5_stacked", v5_params)
    return {block: transformer for block, transformer, _ in features[-1].blocks}[name]


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


def test_set_params_on_a_v5_block_reaches_the_fitted_cell(movies, v5_params):
    cell = v5_cell(v5_params)
    encode = cell.named_steps["features"].named_steps["encode"]
    overview = {name: block for name, block, _ in encode.blocks}["overview"]
    overview.set_params(estimator__alpha=123.0)
    cell.fit(movies, movies[TARGET])
    fitted = {name: block for name, block, _ in encode.blocks_}["overview"]
    assert fitted.estimator_.alpha == 123.0


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


def test_params_yaml_declares_v5_and_it_builds(repo_root: Path):
    featurize = load_params(repo_root / "params.yaml")["featurize"]
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
    # the pipeline hands it the parsed date (DataTypeFixer): the same features
    parsed = frame.assign(release_date=np.array(["2024-01-03", "NaT"], dtype="datetime64[D]"))
    np.testing.assert_array_equal(context.transform(parsed), out.to_numpy())
    as_columns = {name: frame[name].to_numpy() for name in frame}
    np.testing.assert_array_equal(context.transform(as_columns), out.to_numpy())


# --- title prefixes, target-encoded out of fold --------------------------------------------


def test_title_prefixes_are_the_first_words_lower_cased():
    titles = pd.Series(["Star Wars: A New Hope", "STAR TREK", "a", "", None, "Amélie 2"])
    prefixes = clone(TitlePrefixes(word_counts=(1, 2))).fit(titles)
    out = prefixes.transform(titles)
    assert isinstance(out, np.ndarray)
    assert out.dtype == object
    assert out.shape == (len(titles), 2)
    assert list(prefixes.get_feature_names_out()) == ["title_first_1", "title_first_2"]
    assert out[:, 0].tolist() == ["star", "star", "", "", "", "amélie"]
    assert out[:, 1].tolist() == ["star wars", "star trek", "", "", "", "amélie"]
    np.testing.assert_array_equal(prefixes.transform(titles.to_numpy(dtype=object)), out)
    np.testing.assert_array_equal(prefixes.transform(titles.tolist()), out)
    prefixes.set_params(word_counts=(3,))
    assert prefixes.transform(titles.iloc[:1]).tolist() == [["star wars new"]]
    with pytest.raises(ValueError, match="word_counts"):
        TitlePrefixes(word_counts=(0,)).fit(titles)


def test_title_prefix_encoding_is_out_of_fold(movies, v5_params):
    """Every title unique: fitted in-sample, each prefix would encode its own rating."""
    n = len(movies)
    frame = movies.assign(title=[f"t{i} x{i}" for i in range(n)])
    y = np.random.default_rng(0).normal(6.0, 1.0, n)
    features = build_feature_pipeline("v5_stacked", v5_params)
    block = {name: t for name, t, _ in features[-1].blocks}["title_prefix"]
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
    block = {name: t for name, t, _ in features[-1].blocks}["title_prefix"]
    encoded = block.fit_transform(frame["title"], y)
    assert encoded[saga, 1].min() > encoded[~saga, 1].max()
    new = block.transform(pd.Series(["Saga Chronicles 99", "Unheard Of"]))
    assert new[0, 1] > 8.0
    assert new[1, 1] == pytest.approx(y.mean())


def test_title_prefix_block_is_optional(v5_params):
    params = {"v5_stacked": {**v5_params["v5_stacked"], "title_prefix_words": []}}
    names = build_feature_pipeline("v5_stacked", params)[-1].blocks
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
    assert isinstance(out, np.ndarray)
    assert out.dtype == object
    assert list(keys.get_feature_names_out()) == ["release_year", "release_language_decade"]
    assert out[:, 0].tolist() == ["1957", "2024", "", ""]
    assert out[:, 1].tolist() == ["ja 1950s", "en 2020s", "fr ?", " ?"]
    # the pipeline hands it the parsed date (DataTypeFixer), as a batch of columns
    parsed = {
        "release_date": np.array(["1957-12-23", "2024-01-03", "NaT", "NaT"], dtype="datetime64[D]"),
        "original_language": frame["original_language"].to_numpy(),
    }
    np.testing.assert_array_equal(keys.transform(parsed), out)
    keys.set_params(keys=("language_decade",))
    assert keys.transform(frame.iloc[:1]).tolist() == [["ja 1950s"]]
    with pytest.raises(ValueError, match="language_decade"):
        ReleaseKeys(keys=("month",)).fit(frame)


def _release_block(v5_params: dict):
    return v5_block(v5_params, "release")


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
    names = build_feature_pipeline("v5_stacked", params)[-1].blocks
    assert "release" not in [name for name, _, _ in names]
    params = {"v5_stacked": {**v5_params["v5_stacked"], "release_keys": ["year", "month"]}}
    with pytest.raises(Exception, match="unknown release_keys"):
        build_feature_pipeline("v5_stacked", params)


# --- parity with scikit-learn ------------------------------------------------------------


def _title_keys(titles: Any) -> np.ndarray:
    return TitlePrefixes(word_counts=(1, 2)).transform(titles)


def _unseen_titles(movies: pd.DataFrame) -> pd.Series:
    """Titles of which some share prefixes with the training titles and some share none."""
    return pd.concat(
        [movies["title"].iloc[::7], pd.Series(["Zyzzyva Returns", "", None, "w1 zyzzyva"])],
        ignore_index=True,
    )


@pytest.mark.parametrize("n_splits, seed", [(5, 7), (3, 0)])
def test_target_encoded_keys_equal_target_encoder(movies, n_splits, seed):
    y = movies[TARGET].to_numpy()
    ours = TargetEncodedKeys(
        TitlePrefixes(word_counts=(1, 2)), n_splits=n_splits, random_state=seed
    )
    folds = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    reference = TargetEncoder(target_type="continuous", cv=folds)

    out_of_fold = ours.fit_transform(movies["title"], y)
    np.testing.assert_array_equal(
        out_of_fold, reference.fit_transform(_title_keys(movies["title"]), y)
    )

    new = _unseen_titles(movies)
    keys, seen = _title_keys(new), _title_keys(movies["title"])
    assert keys[-4, 0] not in seen[:, 0] and keys[-4, 1] not in seen[:, 1]  # both unseen
    assert keys[-1, 0] in seen[:, 0] and keys[-1, 1] not in seen[:, 1]  # one of the two
    got = ours.transform(new)
    np.testing.assert_array_equal(got, reference.transform(keys))
    # a key never seen gets the training mean (scikit-learn's target_mean_)
    assert got[-4, 0] == got[-4, 1] == got[-1, 1] == reference.target_mean_
    # and in-sample the fitted encodings are TargetEncoder(...).fit's
    full = TargetEncoder(target_type="continuous").fit(_title_keys(movies["title"]), y)
    np.testing.assert_array_equal(
        ours.transform(movies["title"]), full.transform(_title_keys(movies["title"]))
    )
    assert list(ours.get_feature_names_out()) == ["title_first_1", "title_first_2"]


def test_target_encoded_release_keys_equal_target_encoder(movies):
    y = movies[TARGET].to_numpy()
    columns = ["release_date", "original_language"]
    ours = TargetEncodedKeys(ReleaseKeys(), n_splits=4, random_state=1)
    reference = TargetEncoder(target_type="continuous", cv=KFold(4, shuffle=True, random_state=1))
    keys = ReleaseKeys().transform(movies[columns])
    np.testing.assert_array_equal(
        ours.fit_transform(movies[columns], y), reference.fit_transform(keys, y)
    )
    new = pd.DataFrame(
        {
            "release_date": ["1955-01-01", "2031-02-30", None, movies["release_date"].iloc[0]],
            "original_language": ["xx", "en", "ja", movies["original_language"].iloc[0]],
        }
    )
    np.testing.assert_array_equal(
        ours.transform(new), reference.transform(ReleaseKeys().transform(new))
    )


def test_a_larger_smoothing_pulls_every_encoding_toward_the_mean(movies):
    y = movies[TARGET].to_numpy()
    spread = {}
    for smooth in (1.0, 1000.0):
        encoder = TargetEncodedKeys(TitlePrefixes(), n_splits=3, random_state=0, smooth=smooth)
        encoder.fit(movies["title"], y)
        reference = TargetEncoder(target_type="continuous", smooth=smooth).fit(
            _title_keys(movies["title"]), y
        )
        np.testing.assert_array_equal(
            encoder.transform(movies["title"]), reference.transform(_title_keys(movies["title"]))
        )
        spread[smooth] = np.abs(encoder.transform(movies["title"]) - y.mean()).max()
    assert spread[1000.0] < 0.1 * spread[1.0]


def test_target_encoded_keys_need_the_target(movies):
    with pytest.raises(ValueError, match="target y"):
        TargetEncodedKeys(TitlePrefixes()).fit(movies["title"])


ENCODERS = {
    "tfidf": lambda: TextTfidf(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
    "words_and_characters": lambda: FeatureUnion(
        [
            ("word", TextTfidf(ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
            ("char", TextTfidf(analyzer="char_wb", ngram_range=(2, 4), min_df=2)),
        ]
    ),
}


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_ridge_transform_equals_its_predict(movies, new_movies, encoder):
    y = movies[TARGET].to_numpy()
    oof = OutOfFoldRegressor(ENCODERS[encoder](), Ridge(alpha=3.0), n_splits=5, random_state=7)
    oof.fit(movies["overview"], y)
    for texts in (new_movies["overview"], movies["overview"], new_movies["overview"].iloc[:1]):
        expected = oof.estimator_.predict(oof.encoder_.transform(texts))
        got = oof.transform(texts)
        assert got.shape == (len(texts), 1)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got.ravel(), expected)


def test_ridge_without_encoder_transform_equals_its_predict():
    X, y = numeric_data()
    oof = OutOfFoldRegressor(estimator=Ridge(alpha=2.0), n_splits=4, random_state=0).fit(X, y)
    np.testing.assert_array_equal(oof.transform(X).ravel(), oof.estimator_.predict(X))
    sparse = sp.csr_matrix(X)
    oof = OutOfFoldRegressor(estimator=Ridge(alpha=2.0), n_splits=4, random_state=0).fit(sparse, y)
    np.testing.assert_array_equal(oof.transform(sparse).ravel(), oof.estimator_.predict(sparse))


def test_other_regressors_predict(movies):
    X, y = numeric_data()
    oof = OutOfFoldRegressor(estimator=Lasso(alpha=0.1), n_splits=4, random_state=0).fit(X, y)
    np.testing.assert_array_equal(oof.transform(X).ravel(), oof.estimator_.predict(X))
    # a two-target ridge has 2-D coefficients: it predicts too (and its first column is not it)
    Y = np.column_stack([y, -y])
    two = OutOfFoldRegressor(estimator=Ridge(), n_splits=4, random_state=0).fit(X, Y)
    np.testing.assert_array_equal(two.transform(X).reshape(-1), two.estimator_.predict(X).ravel())


def test_years_or_none():
    dates = ["1957-12-23", "", None, "2021-02-30", np.datetime64("2024-01-03")]
    assert years_or_none(dates) == [1957, None, None, None, 2024]
    parsed = np.array(["1957-12-23", "NaT"], dtype="datetime64[D]")
    assert years_or_none(parsed) == [1957, None]


# --- a batch of one is a batch --------------------------------------------------------------


def test_v5_with_character_ngrams_transforms_rows_alone_as_in_a_batch(
    movies, new_movies, v5_params
):
    """The v5 fixture also runs character n-grams (scikit-learn's own transform)."""
    features = build_feature_pipeline("v5_stacked", v5_params).fit(movies, movies[TARGET])
    batch = new_movies.copy()
    batch.loc[0, "title"] = "Été — “Quoted” Title…"
    batch.loc[1, "overview"] = "東京 w1 w2 masterpiece"
    batch.loc[2, list(INPUT_FEATURES)] = None
    assert len(batch) >= 40
    together = features.transform(batch)
    alone = np.vstack([features.transform(batch.iloc[[i]]) for i in range(len(batch))])
    np.testing.assert_array_equal(together, alone)

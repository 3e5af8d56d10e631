"""The fast path must agree with the pipeline, or not exist."""

import copy
from typing import Any, get_args

import numpy as np
import pandas as pd
import pytest
from serving_fixtures import GENRES, fit_tiny_pipeline, synthetic_movies, varied_movies
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler

from movie_rating.data.schema import TARGET
from movie_rating.features.pipelines import build_feature_pipeline
from movie_rating.features.transformers import StableTfidfVectorizer
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline
from movie_rating.serving import batchpath, fastpath
from movie_rating.serving.fastpath import (
    _UNUSUAL_SPACE,
    BlockKind,
    NotCanonical,
    NotCompilable,
    _stacked_text_block,
    _tfidf,
    column_blocks,
    compile_row_predictor,
    flatten_steps,
    probe_rows,
)


def test_compiled_path_equals_pipeline_predict():
    pipeline = fit_tiny_pipeline()
    fast = compile_row_predictor(pipeline)
    assert fast is not None
    rows = [movie.as_row() for movie in varied_movies(60) if "\u00a0" not in movie.title]
    expected = pipeline.predict(pd.DataFrame(rows))
    np.testing.assert_allclose([fast(row) for row in rows], expected, rtol=0, atol=1e-9)


def test_unusual_rows_are_handed_back_to_the_pipeline():
    fast = compile_row_predictor(fit_tiny_pipeline())
    assert fast is not None
    row = varied_movies(60)[0].as_row()
    with pytest.raises(NotCanonical):
        fast({**row, "title": "non\u00a0breaking"})
    with pytest.raises(NotCanonical):
        fast({**row, "release_date": "2020-1-1"})


def test_unknown_steps_get_no_fast_path():
    pipeline = fit_tiny_pipeline()
    features, model = pipeline.steps
    altered = Pipeline([features, ("scale", MaxAbsScaler()), model])
    train = probe_rows(pipeline, n=30)
    altered.fit(train, np.linspace(1, 9, len(train)))
    assert compile_row_predictor(altered) is None


def test_a_disagreeing_fast_path_is_refused(monkeypatch):
    pipeline = fit_tiny_pipeline()
    model = pipeline[-1]
    # Shift the intercept only for single rows: the probe check must catch the drift.
    original = type(model).predict
    monkeypatch.setattr(
        type(model),
        "predict",
        lambda self, X: original(self, X) + (1e-6 if X.shape[0] == 1 else 0.0),
    )
    assert compile_row_predictor(pipeline) is None


def test_probe_rows_cover_the_vocabulary():
    pipeline = fit_tiny_pipeline()
    probes = probe_rows(pipeline)
    assert len(probes) == 24
    assert probes["genre"].str.len().gt(0).any()
    assert set(probes["original_language"]) >= {"en", "zz"}


# --- v5_stacked: out-of-fold ridge scores of TF-IDF text, release context, boosted trees -----

SMALL_BOOSTERS: dict[str, dict[str, Any]] = {
    "lightgbm": {"n_estimators": 40, "num_leaves": 7, "min_child_samples": 5},
    "xgboost": {"n_estimators": 30, "max_depth": 3},
}
# the tune stage's blend of the two, with a ridge in each LightGBM leaf as params.yaml has it
SMALL_BOOSTERS["blend"] = {
    "members": {
        "lightgbm": SMALL_BOOSTERS["lightgbm"] | {"linear_tree": True, "linear_lambda": 1.0},
        "xgboost": SMALL_BOOSTERS["xgboost"],
    },
    "weights": {"lightgbm": 0.7, "xgboost": 0.3},
}


def fit_tiny_stacked(featurize: dict[str, Any], family: str) -> Pipeline:
    """v5_stacked with the repo's featurize params and a small booster, on 300 made-up rows."""
    train = synthetic_movies(300, seed=1)
    numbered = train.index % 4 == 0  # sequels: the title-number feature must vary
    train.loc[numbered, "title"] = train.loc[numbered, "title"] + " 2"
    estimator = full_pipeline(
        build_feature_pipeline("v5_stacked", featurize),
        build_model(family, SMALL_BOOSTERS[family], 42),
    )
    return estimator.fit(train, train[TARGET].to_numpy())


@pytest.fixture(scope="module", params=sorted(SMALL_BOOSTERS))
def stacked(request: pytest.FixtureRequest, repo_params: dict[str, Any]) -> Pipeline:
    return fit_tiny_stacked(repo_params["featurize"], request.param)


def stacked_rows(n: int = 200) -> list[dict[str, str]]:
    """`varied_movies` with numbers in some titles and up to eight genres."""
    rows = [movie.as_row() for movie in varied_movies(n)]
    for i, row in enumerate(rows):
        if i % 5 == 1:
            row["title"] = f"{row['title']} Part {i}"
        if i % 7 == 3:
            row["genre"] = ", ".join(GENRES[: 1 + i % len(GENRES)])
    return rows


def test_stacked_pipeline_compiles_and_equals_pipeline_predict(stacked: Pipeline):
    fast = compile_row_predictor(stacked)
    assert fast is not None, "v5_stacked fell back to the pipeline"
    rows = stacked_rows(200)
    expected = stacked.predict(pd.DataFrame(rows))
    got, handled = [], []
    for i, row in enumerate(rows):
        try:
            got.append(fast(row))
            handled.append(i)
        except NotCanonical:
            assert _UNUSUAL_SPACE.search(row["title"] + row["overview"] + row["genre"])
    assert len(handled) >= 190
    np.testing.assert_allclose(got, expected[handled], rtol=0, atol=1e-9)


def test_column_blocks_name_each_entry_of_the_encoder(stacked: Pipeline):
    encoder = flatten_steps(stacked)[-2]
    blocks = column_blocks(encoder)
    assert [block.kind for block in blocks] == [
        "stacked_text",
        "stacked_text",
        "title_prefix",
        "release_keys",
        "release_context",
        "genre",
        "one_hot",
        "passthrough",
    ]
    assert sum(block.width for block in blocks) == len(encoder.get_feature_names_out())
    # both compiled paths build every kind
    assert set(fastpath._BLOCKS) == set(get_args(BlockKind)) == set(batchpath._BLOCKS)
    unknown = copy.deepcopy(encoder)
    position = [name for name, *_ in unknown.transformers_].index("genres")
    unknown.transformers_[position] = ("genres", MaxAbsScaler(), "genre")
    with pytest.raises(NotCompilable, match="MaxAbsScaler"):
        column_blocks(unknown)


def test_stacked_text_score_is_the_ridge_on_tfidf_bit_for_bit(stacked: Pipeline):
    encode = stacked.named_steps["features"].named_steps["encode"]
    frame = pd.DataFrame(stacked_rows(120))
    for name in ("overview", "title"):
        oof = encode.named_transformers_[name]
        texts = frame[name].str.strip()
        expected = oof.transform(texts)[:, 0]
        block = _stacked_text_block(oof, name)
        got = [block({name: text})[1][0] for text in texts if not _UNUSUAL_SPACE.search(text)]
        kept = ~texts.str.contains(_UNUSUAL_SPACE.pattern, regex=True).to_numpy()
        np.testing.assert_array_equal(got, expected[kept])


@pytest.mark.parametrize(
    "settings",
    [
        {"ngram_range": (1, 2), "sublinear_tf": True, "min_df": 1},
        {"stop_words": "english"},
        {"analyzer": "char_wb", "ngram_range": (2, 4), "sublinear_tf": True},
        {"use_idf": False, "norm": None},
    ],
)
def test_tfidf_equals_the_vectorizer_bit_for_bit(settings: dict[str, Any]):
    documents = [
        movie.as_row()[column] for movie in varied_movies(80) for column in ("title", "overview")
    ]
    vectorizer = StableTfidfVectorizer(**settings).fit(documents[::2])
    encode = _tfidf(vectorizer)
    for document in [*documents, "", "the the the", "zzz unseen"]:
        expected = vectorizer.transform([document])
        positions, values = encode(document)
        assert positions == expected.indices.tolist()
        assert values == expected.data.tolist()


def test_unusual_stacked_rows_are_handed_back_to_the_pipeline(repo_params: dict[str, Any]):
    pipeline = fit_tiny_stacked(repo_params["featurize"], "lightgbm")
    fast = compile_row_predictor(pipeline)
    assert fast is not None
    row = stacked_rows(30)[25]
    assert isinstance(fast(row), float)
    # A digit outside 0-9: pandas' pyarrow regex and Python's may disagree on `\d`.
    with pytest.raises(NotCanonical):
        fast({**row, "title": "Part \uff13"})
    with pytest.raises(NotCanonical):
        fast({**row, "release_date": "1500-01-01"})


@pytest.mark.parametrize("change", ["binary_tfidf", "lightgbm_prediction_setting"])
def test_changed_stacked_settings_get_no_fast_path(repo_params: dict[str, Any], change: str):
    pipeline = fit_tiny_stacked(repo_params["featurize"], "lightgbm")
    if change == "binary_tfidf":
        oof = pipeline.named_steps["features"].named_steps["encode"].named_transformers_["title"]
        oof.encoder_.transformer_list[0][1].binary = True
    else:
        pipeline.named_steps["model"].set_params(pred_early_stop=True)
    assert compile_row_predictor(pipeline) is None

"""The batch path must agree with the pipeline, or not exist."""

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMRegressor
from serving_fixtures import fit_tiny_pipeline, varied_movies
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler
from test_fastpath import fit_tiny_stacked, stacked_rows

from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.features.stacking import ReleaseContextFeatures
from movie_rating.features.transformers import StableTfidfVectorizer
from movie_rating.serving import batchpath
from movie_rating.serving.batchpath import (
    _code_points,
    _is_token,
    _tfidf,
    _word_counts,
    _WordCounter,
    _WordTable,
    compile_batch_predictor,
    tricky_rows,
)
from movie_rating.serving.fastpath import NotCompilable, probe_rows
from movie_rating.serving.predict import ProductionPredictor

# Characters that trip tokenizers: case mappings that change length or depend on context,
# non-ASCII letters, digits and marks, underscores, and every kind of whitespace.
ODD = [
    "İ", "Σ", "ς", "ß", "ẞ", "é", "É", "ﬁ", "ǅ", "ŉ", "東", "京", "٣", "²", "①", "\u0301", "_",
    "-", "'", ".", ":", "🎬", " ", "  ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85",
    "\xa0", "\u2003", "\u200b", "\u2028", "\u3000",
]  # fmt: skip


def fuzz_texts(words: list[str], n: int = 300, seed: int = 0) -> list[str]:
    """Random texts of vocabulary words (in three casings), odd characters and long runs."""
    rng = np.random.default_rng(seed)
    pieces = [*words, *(w.upper() for w in words), *(w.title() for w in words), *ODD]
    pieces += ["Supercalifragilisticexpialidocious", "a" * 17, "x" * 40, "ab" * 9]
    texts = []
    for _ in range(n):
        chosen = rng.choice(pieces, size=int(rng.integers(0, 40)))
        glue = rng.choice([" ", "", "  ", "\n", "—", "é"], size=len(chosen))
        texts.append("".join(f"{piece}{sep}" for piece, sep in zip(chosen, glue, strict=True)))
    fixed = [
        "",
        " ",
        "the the the",
        "ΟΔΥΣΣΕΥΣ",
        "İİİ istanbul",
        "SUPERCALIFRAGILISTICEXPIALIDOCIOUS Love",
    ]
    return [*fixed, *texts]


def documents() -> list[str]:
    rows = [movie.as_row() for movie in varied_movies(80)]
    return [row[column] for row in rows for column in ("title", "overview")]


@pytest.mark.parametrize(
    "settings",
    [
        {"ngram_range": (1, 2), "sublinear_tf": True, "min_df": 1},
        {"ngram_range": (1, 3), "stop_words": "english"},
        {"ngram_range": (2, 3), "min_df": 1},
        {"lowercase": False, "ngram_range": (1, 2)},
        {"binary": True, "use_idf": False, "norm": None},
        {"max_features": 25, "ngram_range": (1, 2)},
    ],
)
@pytest.mark.parametrize("shared_points", [False, True])
def test_counts_equal_the_vectorizer_bit_for_bit(settings: dict[str, Any], shared_points: bool):
    fitted_on = documents()
    vectorizer = StableTfidfVectorizer(**settings).fit(fitted_on + fuzz_texts([], 40, seed=3))
    assert _WordCounter(vectorizer) is not None  # these settings are vectorised
    docs = fitted_on + fuzz_texts(sorted(vectorizer.vocabulary_))
    if shared_points:  # their own code points, lower-cased by the letter table (no "İ")
        docs = [doc for doc in docs if len(doc.lower()) == len(doc)]
    expected = vectorizer.transform(docs)
    got = _tfidf(vectorizer)(docs, _code_points(docs) if shared_points else None)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data)


def test_unknown_vectorizer_settings_keep_the_vectorizers_transform(monkeypatch):
    vectorizer = StableTfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3)).fit(documents())
    with pytest.raises(NotCompilable):
        _WordCounter(vectorizer)
    docs = documents()
    monkeypatch.setattr(vectorizer, "transform", lambda given: ("transform", given))
    assert _tfidf(vectorizer)(docs, _code_points(docs)) == ("transform", docs)


@pytest.mark.parametrize("lowercase", [True, False])
@pytest.mark.parametrize("specials", ["none", "same_length", "lengthening"])
def test_tokens_from_shared_code_points_are_the_regex_tokens(lowercase: bool, specials: str):
    """Documents lower-cased by the letter table, with those holding capital sigma (lowered
    by context) written over, or all joined anew where "İ" lengthens one."""
    sigmas = "\u03c3\u03c3"
    words = ["love", "war", "été", "istanbul", sigmas, "stanbul", "ﬁnance", "straße", "x" * 40]
    assert all(map(_is_token, words))
    table = _WordTable(words, lowercase=lowercase)
    docs = fuzz_texts(words, seed=5)
    if specials == "none":
        docs = [doc for doc in docs if "\u03a3" not in doc and "İ" not in doc]
    elif specials == "same_length":
        docs = [doc for doc in docs if "İ" not in doc]
        assert any("\u03a3" in doc for doc in docs)
    assert any(not doc.isascii() for doc in docs)
    assert (specials == "lengthening") == any(len(doc.lower()) != len(doc) for doc in docs)
    tokens = table.tokenize(docs, _code_points(docs))
    alone = table.tokenize(docs)
    for field in ("letters", "starts", "lengths", "rows"):
        np.testing.assert_array_equal(getattr(tokens, field), getattr(alone, field))
    pattern = re.compile(r"(?u)\b\w\w+\b")
    expected = [pattern.findall(doc.lower() if lowercase else doc) for doc in docs]
    got: list[list[str]] = [[] for _ in docs]
    for token in range(len(tokens.starts)):
        piece = tokens.piece(token)
        got[int(tokens.rows[token])].append(piece.lower() if lowercase else piece)
    assert got == expected
    # and each token's id is its word's
    ids = table.ids(tokens)
    index = {word: i for i, word in enumerate(words)}
    spelled = [piece for doc in got for piece in doc]
    assert ids.tolist() == [index.get(piece, -1) for piece in spelled]


def test_release_context_flags_read_off_code_points_equal_the_transformer():
    frame = tiny_rows(120)
    texts = fuzz_texts(["love", "war", "2nd", "٣", "²", "x:y", "a.b"], n=len(frame), seed=9)
    frame["title"] = [text[:50] for text in texts[: len(frame)]]
    frame["overview"] = texts[::-1][: len(frame)]
    context = ReleaseContextFeatures().fit(frame)
    columns = ["release_date", "genre", "title", "overview"]
    block = batchpath._release_context_block(context, columns)
    state = {column: frame[column].astype(str) for column in columns}
    np.testing.assert_array_equal(block(state), context.transform(frame[columns].astype(str)))


def test_release_keys_block_equals_the_encoder_on_known_and_unknown_keys(
    repo_params: dict[str, Any],
):
    features = fit_tiny_stacked(repo_params["featurize"], "lightgbm").named_steps["features"]
    release = features.named_steps["encode"].named_transformers_["release"]
    rows = pd.concat([pd.DataFrame(stacked_rows(150)), tricky_rows()], ignore_index=True)
    rows.loc[::9, "original_language"] = "zz"  # a language never seen: its keys are unknown
    frame = features[:-1].transform(rows[list(INPUT_FEATURES)])  # the frame steps
    columns = ["release_date", "original_language"]
    expected = release.transform(frame[columns])
    block = batchpath._release_keys_block(release, columns)
    np.testing.assert_array_equal(block({column: frame[column] for column in columns}), expected)
    unknown = expected == release[-1].target_mean_
    assert unknown.any() and not unknown.all()  # both kinds of key reached the block


def test_word_counts_equal_str_split():
    texts = pd.Series(fuzz_texts(["love", "war", "x"]), dtype=str)
    expected = texts.str.split().str.len().astype("float64").to_numpy()
    np.testing.assert_array_equal(_word_counts(texts.tolist()), expected)


def tiny_rows(n: int = 200) -> pd.DataFrame:
    """Varied movies, tricky rows, and the fuzzed texts as titles and overviews."""
    rows = pd.DataFrame(stacked_rows(n))
    fuzz = fuzz_texts(["love", "war", "space", "night", "detective", "2"], n=len(rows))
    rows["overview"] = [
        f"{a} {b}" for a, b in zip(rows["overview"], fuzz[: len(rows)], strict=True)
    ]
    rows["title"] = [f"{a}{b[:30]}" for a, b in zip(rows["title"], fuzz[::-1], strict=False)]
    return pd.concat([rows, tricky_rows()], ignore_index=True)[list(INPUT_FEATURES)]


def test_tiny_pipeline_batch_path_equals_pipeline_predict():
    pipeline = fit_tiny_pipeline()
    batch = compile_batch_predictor(pipeline)
    assert batch is not None, "the v1 pipeline fell back to pipeline.predict"
    rows = tiny_rows()
    np.testing.assert_allclose(batch(rows), pipeline.predict(rows), rtol=0, atol=1e-9)


@pytest.fixture(scope="module", params=["lightgbm", "xgboost", "blend"])
def stacked(request: pytest.FixtureRequest, repo_params: dict[str, Any]) -> Pipeline:
    return fit_tiny_stacked(repo_params["featurize"], request.param)


def test_stacked_batch_path_equals_pipeline_predict(stacked: Pipeline):
    batch = compile_batch_predictor(stacked)
    assert batch is not None, "v5_stacked fell back to pipeline.predict"
    rows = tiny_rows()
    np.testing.assert_allclose(batch(rows), stacked.predict(rows), rtol=0, atol=1e-9)
    # one row, a shuffled index with extra columns, missing values
    np.testing.assert_allclose(batch(rows.iloc[[7]]), stacked.predict(rows.iloc[[7]]), atol=1e-9)
    shuffled = rows.sample(frac=1.0, random_state=0).assign(extra=1)
    np.testing.assert_allclose(batch(shuffled), stacked.predict(shuffled), rtol=0, atol=1e-9)
    holes = rows.head(20).astype(object)
    holes.iloc[::3, :] = None
    holes.iloc[1::3, 2] = np.nan
    np.testing.assert_allclose(batch(holes), stacked.predict(holes), rtol=0, atol=1e-9)


def test_wide_encodings_reach_lightgbm_as_the_column_transformer_stacks_them(
    repo_params: dict[str, Any], monkeypatch
):
    monkeypatch.setattr(batchpath, "_DENSE_WIDTH", 0)
    pipeline = fit_tiny_stacked(repo_params["featurize"], "lightgbm")
    batch = compile_batch_predictor(pipeline)
    assert batch is not None
    rows = tiny_rows(300)
    np.testing.assert_allclose(batch(rows), pipeline.predict(rows), rtol=0, atol=1e-9)


def test_stacked_char_ngrams_keep_their_vectorizer(repo_params: dict[str, Any]):
    featurize = {**repo_params["featurize"]}
    v5 = {**featurize["v5_stacked"]}
    v5["title"] = {**v5["title"], "char_ngram_range": [2, 4]}
    pipeline = fit_tiny_stacked({**featurize, "v5_stacked": v5}, "lightgbm")
    batch = compile_batch_predictor(pipeline)
    assert batch is not None
    rows = tiny_rows(60)
    np.testing.assert_allclose(batch(rows), pipeline.predict(rows), rtol=0, atol=1e-9)


def test_unknown_steps_get_no_batch_path():
    pipeline = fit_tiny_pipeline()
    features, model = pipeline.steps
    altered = Pipeline([features, ("scale", MaxAbsScaler()), model])
    train = probe_rows(pipeline, n=30)
    altered.fit(train, np.linspace(1, 9, len(train)))
    assert compile_batch_predictor(altered) is None


@pytest.mark.parametrize("change", ["lightgbm_prediction_setting", "one_hot_min_frequency"])
def test_changed_settings_get_no_batch_path(repo_params: dict[str, Any], change: str):
    pipeline = fit_tiny_stacked(repo_params["featurize"], "lightgbm")
    if change == "lightgbm_prediction_setting":
        pipeline.named_steps["model"].set_params(pred_early_stop=True)
    else:
        encode = pipeline.named_steps["features"].named_steps["encode"]
        encode.named_transformers_["categorical"].min_frequency = 2
    assert compile_batch_predictor(pipeline) is None


def test_a_disagreeing_batch_path_is_refused(repo_params: dict[str, Any], monkeypatch):
    pipeline = fit_tiny_stacked(repo_params["featurize"], "lightgbm")
    # The batch path calls the booster; shift what the pipeline's model returns.
    original = LGBMRegressor.predict
    monkeypatch.setattr(LGBMRegressor, "predict", lambda self, X: original(self, X) + 1e-6)
    assert compile_batch_predictor(pipeline) is None


def test_predict_many_uses_the_batch_path(predictor: ProductionPredictor, monkeypatch):
    assert predictor.has_batch_path
    frame = tiny_rows(50)
    expected = predictor.predict_many(frame)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("predict_many ran the pipeline")

    monkeypatch.setattr(predictor.pipeline, "predict", refuse)
    np.testing.assert_array_equal(predictor.predict_many(frame), expected)


def test_predict_many_falls_back_to_the_pipeline(predictor: ProductionPredictor, monkeypatch):
    frame = tiny_rows(50)
    expected = np.clip(predictor.pipeline.predict(frame), 0, 10)

    def fail(frame: pd.DataFrame) -> np.ndarray:
        raise ValueError("unexpected input")

    monkeypatch.setattr(predictor, "_batch", fail)
    np.testing.assert_allclose(predictor.predict_many(frame), expected, rtol=0, atol=1e-9)


def test_batches_split_between_threads_equal_pipeline_predict(
    repo_params: dict[str, Any], monkeypatch
):
    monkeypatch.setattr(batchpath, "_cores", lambda: 2)
    monkeypatch.setattr(batchpath, "_PARALLEL_PART_ROWS", 40)
    pipeline = fit_tiny_stacked(repo_params["featurize"], "lightgbm")
    batch = compile_batch_predictor(pipeline)
    assert batch is not None
    rows = tiny_rows(150)
    expected = pipeline.predict(rows)
    np.testing.assert_allclose(batch(rows), expected, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(
        batch(rows), batch(rows.iloc[:79]).tolist() + batch(rows.iloc[79:]).tolist()
    )

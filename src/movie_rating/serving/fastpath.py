"""A one-row fast path through the fitted production pipeline, for API latency.

Through scikit-learn and pandas, one movie costs ~10-25 ms, almost all of it per-call
DataFrame and validation overhead in the frame-level transformers, the ColumnTransformer and
the vectorizers. This module turns a fitted pipeline into a function over a plain dict for one
row, step by step, reading only the fitted attributes (vocabularies, IDF weights, ridge
coefficients, medians, scaler means, category lists) and calling the fitted model itself.
Arithmetic that feeds a model is done in the same order and precision as scikit-learn does it,
so features are bit-identical, not just close: a tree model thresholds on them.

Drift is guarded three ways: only exact, known step types with known settings compile (any
other pipeline gets no fast path); rows outside the canonical form the fast path was written
for raise `NotCanonical` so the caller uses the pipeline; and `compile_row_predictor` checks the
fast path against `pipeline.predict` on probe rows built from the fitted vocabularies, and
refuses it on any difference above 1e-9.
"""

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any, Final, Literal, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from lightgbm import LGBMRegressor
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor, VotingRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, TargetEncoder

from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.features.stacking import (
    CONTEXT_FLAGS,
    RELEASE_KEYS,
    WEEKDAYS,
    OutOfFoldRegressor,
    ReleaseContextFeatures,
    ReleaseKeys,
    TitlePrefixes,
    is_non_ascii,
    title_prefix,
)
from movie_rating.features.transformers import (
    OTHER_LANGUAGE,
    CategoricalOneHotEncoder,
    ColumnSelector,
    DataTypeFixer,
    GenreMultiLabelEncoder,
    LanguageGrouper,
    LightweightTextEmbedder,
    SelectiveStandardScaler,
    StableTfidfVectorizer,
    YearBinning,
)
from movie_rating.models.families import average_members

logger = logging.getLogger(__name__)

TOLERANCE: Final = 1e-9
Row = dict[str, Any]
RowStep = Callable[[Row], Row]
RowPredictor = Callable[[Mapping[str, str]], float]

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Years any pandas datetime resolution parses; outside them pandas may give NaT (then the
# training median) where `date` parses, so such rows take the pipeline.
_PANDAS_YEARS: Final = range(1678, 2262)
# Whitespace other than the ASCII kinds: pandas' string methods and str.split() may disagree on
# these (pyarrow vs Python definitions), so such rows take the pipeline.
_UNUSUAL_SPACE = re.compile(r"[^\S \t\n\r]")
# Decimal digits other than 0-9: pandas' pyarrow regex and Python's `re` may disagree on `\d`.
_NON_ASCII_DIGIT = re.compile(r"[^\D0-9]")
_ASCII_DIGIT = re.compile(r"[0-9]")
# The vectorizer classes whose transform `_tfidf` reproduces; subclasses must be listed, since
# one may override transform.
TFIDF_TYPES: Final = (TfidfVectorizer, StableTfidfVectorizer)


class NotCanonical(Exception):
    """This row is outside what the fast path handles; predict it through the pipeline."""


class NotCompilable(Exception):
    """The pipeline has a step or setting the fast path does not know."""


def _select(step: ColumnSelector) -> RowStep:
    columns = list(step.columns)
    return lambda row: {column: row[column] for column in columns}


def _parse_date(raw: Any) -> date:
    """A valid ISO date that pandas parses to the same day, else `NotCanonical`."""
    if not isinstance(raw, str) or not _ISO_DATE.fullmatch(raw):
        raise NotCanonical
    try:
        parsed = date.fromisoformat(raw)
    except ValueError:
        raise NotCanonical from None
    if parsed.year not in _PANDAS_YEARS:
        raise NotCanonical
    return parsed


def _fix_types(step: DataTypeFixer) -> RowStep:
    def run(row: Row) -> Row:
        parsed = _parse_date(row[step.date_column])
        out: Row = {"release_year": float(parsed.year), "release_month": float(parsed.month)}
        for column in step.text_columns:
            text = row[column]
            if not isinstance(text, str) or _UNUSUAL_SPACE.search(text):
                raise NotCanonical
            out[column] = text.strip()
        for column in step.length_columns:
            out[f"{column}_words"] = float(len(out[column].split()))
        return out

    return run


def _year_bins(step: YearBinning) -> RowStep:
    edges, labels = list(step.edges), list(step.labels_)

    def run(row: Row) -> Row:
        position = int(np.digitize(np.float64(row[step.column]), edges))
        return {**row, step.output_column: labels[position]}

    return run


def _language(step: LanguageGrouper) -> RowStep:
    known = frozenset(step.languages_)

    def run(row: Row) -> Row:
        value = row[step.column]
        return {**row, step.column: value if value in known else OTHER_LANGUAGE}

    return run


def _scale(step: SelectiveStandardScaler) -> RowStep:
    columns = list(step.scaled_columns_)
    if not all(isinstance(column, str) for column in columns):
        raise NotCompilable("SelectiveStandardScaler fitted on an array")
    mean, scale = np.asarray(step.mean_, dtype=float), np.asarray(step.scale_, dtype=float)

    def run(row: Row) -> Row:
        values = (np.array([row[c] for c in columns], dtype=float) - mean) / scale
        return {**row, **dict(zip(columns, values.tolist(), strict=True))}

    return run


# A block of the ColumnTransformer: row -> (column positions, values) within the block.
Block = Callable[[Row], tuple[Sequence[int], Sequence[float]]]


# One text -> (column positions in increasing order, values) of one fitted vectorizer.
TextEncoder = Callable[[str], tuple[list[int], list[float]]]


def _tfidf(vectorizer: Any) -> TextEncoder:
    """`vectorizer.transform([text])` for one text, ~20x cheaper than the call (~0.4 ms).

    The steps and their order are scikit-learn's (`CountVectorizer._count_vocab`, then
    `TfidfTransformer.transform`, then `inplace_csr_row_normalize_l2`): counts of the fitted
    analyzer's in-vocabulary terms, sorted by column; log(count) + 1 with numpy's log if
    sublinear; times the IDF; divided by the square root of the sum of squares, summed in
    column order. Each is exact IEEE arithmetic, so the values are the same bits.
    """
    if type(vectorizer) not in TFIDF_TYPES or not default_output(vectorizer):
        raise NotCompilable(f"text vectorizer {type(vectorizer).__name__}")
    if (
        vectorizer.input != "content"
        or vectorizer.binary
        or vectorizer.norm not in ("l2", None)
        or np.dtype(vectorizer.dtype) != np.float64
    ):
        raise NotCompilable("TF-IDF vectorizer settings")
    analyze = vectorizer.build_analyzer()
    vocabulary: dict[str, int] = vectorizer.vocabulary_
    idf = np.asarray(vectorizer.idf_, dtype=np.float64) if vectorizer.use_idf else None
    sublinear, l2 = bool(vectorizer.sublinear_tf), vectorizer.norm == "l2"

    def run(text: str) -> tuple[list[int], list[float]]:
        counts: dict[int, int] = {}
        for term in analyze(text):
            position = vocabulary.get(term)
            if position is not None:
                counts[position] = counts.get(position, 0) + 1
        positions = sorted(counts)
        values = np.array([counts[p] for p in positions], dtype=np.float64)
        if sublinear:
            np.log(values, out=values)
            values += 1.0
        if idf is not None:
            values *= idf[np.asarray(positions, dtype=np.intp)]
        if l2:
            squares = 0.0
            for value in values.tolist():
                squares += value * value
            if squares != 0.0:
                values /= math.sqrt(squares)
        return positions, values.tolist()

    return run


def _text_block(step: LightweightTextEmbedder, column: str) -> Block:
    encode = _tfidf(step.vectorizer_)
    return lambda row: encode(row[column])


def _stacked_text_block(step: OutOfFoldRegressor, column: str) -> Block:
    """The one score `OutOfFoldRegressor.transform` gives a new row: the full-fit ridge on the
    encoded text, `X @ coef_ + intercept_`. scipy's CSR product sums value * coefficient over
    the row's columns in increasing order, the FeatureUnion's blocks one after another; so
    does this loop."""
    encoder, ridge = step.encoder_, step.estimator_
    if encoder is None:
        raise NotCompilable("stacked regressor without a text encoder")
    if type(encoder) is FeatureUnion:
        if encoder.transformer_weights or not default_output(encoder):
            raise NotCompilable("feature union with weights or set_output")
        vectorizers = [vectorizer for _, vectorizer in encoder.transformer_list]
    else:
        vectorizers = [encoder]
    encoders: list[tuple[int, TextEncoder]] = []
    width = 0
    for vectorizer in vectorizers:
        encoders.append((width, _tfidf(vectorizer)))
        width += len(vectorizer.vocabulary_)
    if type(ridge) is not Ridge or np.ndim(ridge.coef_) != 1 or len(ridge.coef_) != width:
        raise NotCompilable(f"stacked regressor {type(ridge).__name__}")
    coef = np.asarray(ridge.coef_, dtype=np.float64).tolist()
    intercept = np.float64(ridge.intercept_)
    positions = (0,)

    def run(row: Row) -> tuple[Sequence[int], Sequence[float]]:
        text = row[column]
        total = 0.0
        for start, encode in encoders:
            columns, values = encode(text)
            for position, value in zip(columns, values, strict=True):
                total += value * coef[start + position]
        return positions, (float(total + intercept),)

    return run


def _release_context_block(step: ReleaseContextFeatures, columns: list[str]) -> Block:
    """Weekday one-hot, genre count, title flags and overview full stops, as
    `ReleaseContextFeatures` computes them (the flags with the same Python functions)."""
    needed = {step.date_column, step.genre_column, step.title_column, step.overview_column}
    if not needed <= set(columns):
        raise NotCompilable("release context columns")
    if len(step.separator) != 1:
        raise NotCompilable("release context separator")  # pandas reads a longer one as a regex
    flags = tuple(range(len(WEEKDAYS), len(WEEKDAYS) + len(CONTEXT_FLAGS) + 1))

    def run(row: Row) -> tuple[Sequence[int], Sequence[float]]:
        # A date pandas cannot parse gives no weekday; such rows take the pipeline.
        weekday = _parse_date(row[step.date_column]).weekday()
        title = row[step.title_column]
        if _NON_ASCII_DIGIT.search(title):
            raise NotCanonical
        genres = sum(bool(part.strip()) for part in row[step.genre_column].split(step.separator))
        values = (
            float(genres),
            1.0 if _ASCII_DIGIT.search(title) else 0.0,
            is_non_ascii(title),
            1.0 if ":" in title else 0.0,
            float(row[step.overview_column].count(".")),
        )
        return (weekday, *flags), (1.0, *values)

    return run


def target_encodings(encoder: TargetEncoder, width: int) -> list[dict[Any, float]]:
    """Each output's category -> fitted encoding, as `TargetEncoder.transform` reads them."""
    if encoder.target_type_ != "continuous" or not default_output(encoder):
        raise NotCompilable("target encoder settings")
    lookups = [
        dict(zip(categories.tolist(), encoding.tolist(), strict=True))
        for categories, encoding in zip(encoder.categories_, encoder.encodings_, strict=True)
    ]
    if len(lookups) != width:
        raise NotCompilable("target encoder width")
    return lookups


def _title_prefix_block(step: Pipeline, column: str) -> Block:
    """`TitlePrefixes` then scikit-learn's `TargetEncoder`: the fitted encoding of each prefix,
    the training mean for a prefix never seen."""
    if [type(s) for _, s in step.steps] != [TitlePrefixes, TargetEncoder]:
        raise NotCompilable("title prefix block")
    prefixes, encoder = step[0], step[1]
    counts = list(prefixes.word_counts)
    lookups = target_encodings(encoder, len(counts))
    fallback = float(encoder.target_mean_)
    positions = tuple(range(len(counts)))

    def run(row: Row) -> tuple[Sequence[int], Sequence[float]]:
        title = row[column]
        return positions, [
            lookup.get(title_prefix(title, n), fallback)
            for n, lookup in zip(counts, lookups, strict=True)
        ]

    return run


def _release_keys_block(step: Pipeline, columns: list[str]) -> Block:
    """`ReleaseKeys` then scikit-learn's `TargetEncoder`: the fitted encoding of each key of the
    release year and language, made by the same `RELEASE_KEYS` functions; the training mean
    for a key never seen."""
    if [type(s) for _, s in step.steps] != [ReleaseKeys, TargetEncoder]:
        raise NotCompilable("release keys block")
    keys, encoder = step[0], step[1]
    if not {keys.date_column, keys.language_column} <= set(columns):
        raise NotCompilable("release keys columns")
    makers = [RELEASE_KEYS[key] for key in keys.keys]
    lookups = target_encodings(encoder, len(makers))
    fallback = float(encoder.target_mean_)
    positions = tuple(range(len(makers)))

    def run(row: Row) -> tuple[Sequence[int], Sequence[float]]:
        # A date pandas cannot parse has no year; such rows take the pipeline.
        year = _parse_date(row[keys.date_column]).year
        language = row[keys.language_column]
        return positions, [
            lookup.get(make(year, language), fallback)
            for make, lookup in zip(makers, lookups, strict=True)
        ]

    return run


def _genre_block(step: GenreMultiLabelEncoder, column: str) -> Block:
    index = {genre: position for position, genre in enumerate(step.genres_)}

    def run(row: Row) -> tuple[Sequence[int], Sequence[float]]:
        genres = (g.strip() for g in str(row[column]).split(step.separator))
        positions = sorted({index[g] for g in genres if g in index})
        return positions, [1.0] * len(positions)

    return run


def check_one_hot_encoder(step: CategoricalOneHotEncoder) -> None:
    """Refuse encoders whose transform is more than 1.0 at each known category (both fast
    paths reproduce only that)."""
    encoder = step.encoder_
    if step.min_frequency is not None or encoder.drop is not None:
        raise NotCompilable("one-hot encoder with infrequent categories or drop")
    if encoder.handle_unknown != "ignore" or encoder.max_categories is not None:
        raise NotCompilable("one-hot encoder settings")


def _one_hot_block(step: CategoricalOneHotEncoder, columns: list[str]) -> Block:
    check_one_hot_encoder(step)
    encoder = step.encoder_
    lookups, offset = [], 0
    for categories in encoder.categories_:
        lookups.append((offset, {value: i for i, value in enumerate(categories.tolist())}))
        offset += len(categories)

    def run(row: Row) -> tuple[Sequence[int], Sequence[float]]:
        positions = []
        for column, (start, lookup) in zip(columns, lookups, strict=True):
            found = lookup.get(row[column])
            if found is not None:
                positions.append(start + found)
        return positions, [1.0] * len(positions)

    return run


def _passthrough_block(columns: list[str]) -> Block:
    positions = list(range(len(columns)))
    return lambda row: (positions, [float(row[column]) for column in columns])


def is_passthrough(transformer: Any) -> bool:
    """ "passthrough", or the identity FunctionTransformer a fitted ColumnTransformer puts there."""
    if isinstance(transformer, str):
        return transformer == "passthrough"
    return (
        type(transformer) is FunctionTransformer
        and transformer.func is None
        and default_output(transformer)
    )


def default_output(estimator: Any) -> bool:
    """True unless `set_output` asked this estimator for pandas or polars output."""
    config = getattr(estimator, "_sklearn_output_config", {}) or {}
    return all(value == "default" for value in config.values())


# The kinds of ColumnTransformer entry the compiled paths know; each path builds its own block
# for a kind (`_BLOCKS` here and in `batchpath`).
BlockKind = Literal[
    "text",
    "stacked_text",
    "release_context",
    "title_prefix",
    "release_keys",
    "genre",
    "one_hot",
    "passthrough",
]


class ColumnBlock(NamedTuple):
    """One entry of a fitted ColumnTransformer that outputs columns, as a compiled path sees it."""

    kind: BlockKind
    transformer: Any
    columns: Any  # a column name, or a list of them, as the entry was given
    width: int  # how many output columns it fills


def _block_kind(transformer: Any, columns: Any) -> tuple[BlockKind, int]:
    one, several, of_type = isinstance(columns, str), isinstance(columns, list), type(transformer)
    if one and of_type is LightweightTextEmbedder:
        return "text", len(transformer.vectorizer_.vocabulary_)
    if one and of_type is OutOfFoldRegressor:
        return "stacked_text", 1
    if several and of_type is ReleaseContextFeatures:
        return "release_context", len(WEEKDAYS) + len(CONTEXT_FLAGS) + 1
    if one and of_type is Pipeline:
        return "title_prefix", len(transformer[0].word_counts)
    if several and of_type is Pipeline:
        return "release_keys", len(transformer[0].keys)
    if one and of_type is GenreMultiLabelEncoder:
        return "genre", len(transformer.genres_)
    if several and of_type is CategoricalOneHotEncoder:
        return "one_hot", sum(len(c) for c in transformer.encoder_.categories_)
    if several and is_passthrough(transformer):
        return "passthrough", len(columns)
    raise NotCompilable(f"column block {type(transformer).__name__} on {columns!r}")


def column_blocks(step: ColumnTransformer) -> list[ColumnBlock]:
    """The entries of a fitted ColumnTransformer that output columns, in output order, each
    with the kind of block the compiled paths build for it; `NotCompilable` for an entry of
    any other kind, or when the widths do not add up to the transformer's output."""
    blocks = []
    for _, transformer, columns in step.transformers_:
        if (isinstance(transformer, str) and transformer == "drop") or (
            isinstance(columns, list) and not columns
        ):
            continue
        kind, width = _block_kind(transformer, columns)
        blocks.append(ColumnBlock(kind, transformer, columns, width))
    if sum(block.width for block in blocks) != len(step.get_feature_names_out()):
        raise NotCompilable("column transformer width mismatch")
    return blocks


_BLOCKS: Final[dict[BlockKind, Callable[[Any, Any], Block]]] = {
    "text": _text_block,
    "stacked_text": _stacked_text_block,
    "release_context": _release_context_block,
    "title_prefix": _title_prefix_block,
    "release_keys": _release_keys_block,
    "genre": _genre_block,
    "one_hot": _one_hot_block,
    "passthrough": lambda _, columns: _passthrough_block(columns),
}


def _encode(step: ColumnTransformer) -> Callable[[Row], np.ndarray]:
    blocks: list[tuple[int, Block]] = []
    width = 0
    for entry in column_blocks(step):
        blocks.append((width, _BLOCKS[entry.kind](entry.transformer, entry.columns)))
        width += entry.width

    def run(row: Row) -> np.ndarray:
        dense = np.zeros((1, width), dtype=np.float64)
        for start, block in blocks:
            positions, values = block(row)
            for position, value in zip(positions, values, strict=True):
                dense[0, start + position] = value
        return dense

    return run


_ROW_STEPS: Final[dict[type, Callable[[Any], RowStep]]] = {
    ColumnSelector: _select,
    DataTypeFixer: _fix_types,
    YearBinning: _year_bins,
    LanguageGrouper: _language,
    SelectiveStandardScaler: _scale,
}


def _lightgbm(model: LGBMRegressor) -> Callable[[np.ndarray], float]:
    """`LGBMRegressor.predict` without scikit-learn's input checks (~0.4 ms of ~0.45 on one
    row): the fitted booster on the dense row, with the defaults `predict` passes.

    LightGBM reads a dense zero and a CSR matrix's implicit zero alike (as 0.0, which is
    "missing" only under zero_as_missing, for both), so the dense row gives the CSR row's
    prediction. Prediction-time settings among the estimator's parameters (pred_early_stop
    and the like) would be passed by `predict` and not here: such a model does not compile.
    """
    if any(name.startswith("pred") for name in model.get_params()):
        raise NotCompilable("LightGBM prediction-time settings")
    booster = model.booster_
    return lambda X: float(booster.predict(X, num_threads=1)[0])


def _model_predict(model: Any, sparse_input: bool) -> Callable[[np.ndarray], float]:
    """The model's prediction for one encoded row, given as a dense (1, n) float64 array.

    Other models, XGBoost among them, get the row in the format the ColumnTransformer would
    have produced: XGBoost reads a CSR matrix's implicit zeros as missing but a dense zero as
    0.0, so it must get the CSR row (~0.35 ms on one row). A random forest's `predict`
    dispatches each tree through joblib (~40 us a tree: 8 ms for 200 trees on one row); here
    each fitted tree structure is evaluated on the same float32 values, the results summed in
    the forest's order and divided by their number, as `predict` does.
    """
    if type(model) is LGBMRegressor:
        return _lightgbm(model)
    if type(model) is VotingRegressor:  # a blend: each member its own way, then the average
        members = [_model_predict(member, sparse_input) for member in model.estimators_]
        weights = model.weights
        return lambda X: float(average_members([[m(X)] for m in members], weights)[0])
    if type(model) is RandomForestRegressor and model.n_outputs_ == 1:
        trees = [estimator.tree_ for estimator in model.estimators_]

        def forest(X: np.ndarray) -> float:
            rows = np.ascontiguousarray(X, dtype=np.float32)
            total = np.zeros(1, dtype=np.float64)
            for tree in trees:
                total += tree.predict(rows)[:, 0]
            return float(total[0] / len(trees))

        return forest
    if sparse_input:
        return lambda X: float(np.ravel(model.predict(sp.csr_matrix(X)))[0])
    return lambda X: float(np.ravel(model.predict(X))[0])


def flatten_steps(pipeline: Pipeline) -> list[Any]:
    steps: list[Any] = []
    for _, step in pipeline.steps:
        steps.extend(flatten_steps(step) if isinstance(step, Pipeline) else [step])
    return steps


def _build(pipeline: Pipeline) -> RowPredictor:
    *transforms, model = flatten_steps(pipeline)
    if not transforms or type(transforms[-1]) is not ColumnTransformer:
        raise NotCompilable("the last feature step is not a ColumnTransformer")
    if step_types := [type(s) for s in transforms[:-1] if type(s) not in _ROW_STEPS]:
        raise NotCompilable(f"unknown step types {step_types}")
    if not all(default_output(step) for step in transforms):
        raise NotCompilable("a step has a set_output configuration")
    row_steps = [_ROW_STEPS[type(s)](s) for s in transforms[:-1]]
    encode = _encode(transforms[-1])
    model_predict = _model_predict(model, sparse_input=bool(transforms[-1].sparse_output_))

    def predict(row: Mapping[str, str]) -> float:
        state: Row = dict(row)
        for row_step in row_steps:
            state = row_step(state)
        return model_predict(encode(state))

    return predict


def _vectorizers(transformer: Any) -> list[Any]:
    """The fitted TF-IDF vectorizers inside one column block, if any."""
    if isinstance(transformer, LightweightTextEmbedder):
        return [transformer.vectorizer_]
    if isinstance(transformer, OutOfFoldRegressor):
        encoder = transformer.encoder_
        parts = encoder.transformer_list if isinstance(encoder, FeatureUnion) else [("", encoder)]
        return [part for _, part in parts if isinstance(part, TfidfVectorizer)]
    return []


def probe_rows(pipeline: Pipeline, n: int = 24) -> pd.DataFrame:
    """Varied rows that reach every block: vocabulary terms (numbers among them), known and
    unknown genres and languages, dates across the year bins and weekdays, empty texts."""
    steps = flatten_steps(pipeline)
    terms: list[str] = ["zzyzx", "the", "2"]
    titles: list[str] = ["Ünïcode: Title", "X"]
    genres: list[str] = ["Unknown Genre"]
    languages: list[str] = ["en", "zz"]
    for step in steps:
        if isinstance(step, ColumnTransformer):
            for _, transformer, _ in step.transformers_:
                for vectorizer in _vectorizers(transformer):
                    terms += sorted(vectorizer.vocabulary_)
                if isinstance(transformer, GenreMultiLabelEncoder):
                    genres += list(transformer.genres_)
                if isinstance(transformer, Pipeline) and isinstance(transformer[0], TitlePrefixes):
                    titles += [str(c) for c in transformer[-1].categories_[-1][:n]]
        if isinstance(step, LanguageGrouper):
            languages += list(step.languages_)
    words = np.asarray(terms)  # once: choice() would copy a list of ~50k terms per call
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        picked = rng.choice(genres, size=min(len(genres), i % 6), replace=False)
        title = " ".join(rng.choice(words, size=1 + i % 5)) if i % 7 else titles[i % len(titles)]
        rows.append(
            {
                "release_date": f"{1900 + (i * 7) % 135}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "title": f"{title} {i}" if i % 3 == 1 else title,
                "overview": " ".join(rng.choice(words, size=(i * 3) % 30)) + "." * (i % 3),
                "genre": ", ".join(picked),
                "original_language": str(languages[i % len(languages)]),
            }
        )
    return pd.DataFrame(rows, columns=list(INPUT_FEATURES)).astype(str)


def compile_row_predictor(pipeline: Pipeline) -> RowPredictor | None:
    """A one-row predictor equal to `pipeline.predict`, or None where none can be proven equal.

    The returned function raises `NotCanonical` for rows it does not handle.
    """
    try:
        fast = _build(pipeline)
        probes = probe_rows(pipeline)
        expected = np.ravel(pipeline.predict(probes))
        got = np.array(
            [fast({str(k): v for k, v in row.items()}) for row in probes.to_dict("records")]
        )
    except (NotCompilable, NotCanonical, AttributeError, KeyError, TypeError, ValueError) as err:
        logger.warning("no fast single-row path for this pipeline: %s", err)
        return None
    worst = float(np.max(np.abs(got - expected)))
    if worst > TOLERANCE:
        logger.warning("fast single-row path disagrees with the pipeline by %g; disabled", worst)
        return None
    return fast

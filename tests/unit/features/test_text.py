# ruff: noqa: RUF001  (look-alike characters are what these tests feed the tokenizers)
"""`TextTfidf` is scikit-learn's `TfidfVectorizer` with a faster transform: the same numbers,
bit for bit, for a batch (ASCII documents tokenized on bytes) and for one document (the
vectorizer's own regex)."""

import pickle
import re
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import (
    ENGLISH_STOP_WORDS,
    CountVectorizer,
    TfidfVectorizer,
)

from movie_rating.features import text as text_module
from movie_rating.features.text import AsciiWords, KeyIndex, TextTfidf, word_counts

VOCABULARY = [
    *("robot", "planet", "ghost", "love", "war", "city", "dark", "return", "king", "dream"),
    *("house", "secret", "murder", "village", "detective", "island", "journey", "monster"),
    *("heist", "school", "revenge", "empire", "ocean", "witch"),
]

# Documents that trip tokenizers: typographic punctuation (which alone leaves a document
# ASCII once read as spaces), accents, other scripts, case mappings that depend on context or
# change length (final sigma, dotted capital I), digits, underscores, whitespace other than
# the space, tokens longer than the 16 bytes a short token is packed into, empty documents.
TRICKY = [
    "The detective’s “secret” — a murder… in the village",
    "‘Love’ – war — city… «dark» ‹return› „king“",
    "Été à Paris: the café’s crème brûlée",
    "naïve coöperate façade déjà vu",
    "東京物語 Tokyo Story 1953",
    "ΟΔΥΣΣΕΥΣ returns home; Οδυσσευς ΣΑΣ",
    "İstanbul HATIRASI İİİ istanbul",
    "supercalifragilisticexpialidocious Supercalifragilisticexpialidocious!",
    "abcdefghijklmnop abcdefghijklmnopq abcdefghijklmno sixteen_letters_",
    "snake_case under_score __init__ a_b _",
    "tabs\tand\tspaces  and\x0bvertical\x0cfeeds\rreturns",
    "no\u00a0break\u2003em\u3000ideographic\u2028line",
    "",
    "   ",
    "numbers 2049 and 1984 and 007 2nd ٣٣ ²²",
    "the the the and of an a",
    "Robot robot ROBOT planet-planet ROBOT's",
    "¡Hola! ¿Qué tal? x y z a b c",
    "ﬁnance straße STRASSE ǅemal",
    "🎬 movie night 🍿 robot",
]
LINE_BREAKS = ["first line\nsecond line", "robot\nplanet\r\nghost", "\n", "a\n\nrobot planet\n"]


def _generated(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    pieces = [*VOCABULARY, *(w.title() for w in VOCABULARY), "the", "and", "of", "Été", "café"]
    pieces += ["—", "…", "’s", "2049", "x", "İ", "ς", "東京", "supercalifragilisticexpialidocious"]
    docs = []
    for _ in range(n):
        words = rng.choice(pieces, size=int(rng.integers(0, 14)))
        glue = rng.choice([" ", " ", " ", "  ", "\t", "\n", ", ", "-", "—"], size=len(words))
        docs.append("".join(f"{w}{g}" for w, g in zip(words, glue, strict=True)).strip())
    return docs


CORPUS = TRICKY + LINE_BREAKS + _generated(60, seed=0)  # 84 documents
assert len(CORPUS) >= 64


def assert_same_matrix(got: sp.spmatrix, expected: sp.spmatrix) -> None:
    assert sp.issparse(got)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    got, expected = got.toarray(), expected.toarray()
    differ = np.flatnonzero((got != expected).any(axis=1))
    assert not len(differ), f"rows {differ.tolist()} differ"


def _fit_both(docs: list[str], **params: Any) -> tuple[TextTfidf, TfidfVectorizer]:
    ours, reference = TextTfidf(**params).fit(docs), TfidfVectorizer(**params).fit(docs)
    assert ours.vocabulary_ == reference.vocabulary_
    if ours.use_idf:
        np.testing.assert_array_equal(ours.idf_, reference.idf_)
    return ours, reference


NGRAMS = pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (1, 3), (2, 3)])
STOP_WORDS = pytest.mark.parametrize("stop_words", [None, "english"])
WEIGHTING = pytest.mark.parametrize(
    "weighting",
    [
        {},
        {"sublinear_tf": True},
        {"norm": "l1"},
        {"norm": None},
        {"sublinear_tf": True, "norm": None},
        {"use_idf": False},
        {"smooth_idf": False, "sublinear_tf": True},
        {"binary": True},
        {"binary": True, "use_idf": False, "norm": None},
        {"lowercase": False},
        {"min_df": 2, "max_df": 0.5},
    ],
    ids=repr,
)


@NGRAMS
@STOP_WORDS
@WEIGHTING
def test_batch_transform_equals_scikit_learn(
    ngram_range, stop_words, weighting, byte_tokenizer_calls
):
    ours, reference = _fit_both(CORPUS, ngram_range=ngram_range, stop_words=stop_words, **weighting)
    assert_same_matrix(ours.transform(CORPUS), reference.transform(CORPUS))
    assert byte_tokenizer_calls, "a batch this size is tokenized on bytes"
    # a batch's documents counted in another order count the same
    order = np.random.default_rng(1).permutation(len(CORPUS))
    shuffled = [CORPUS[i] for i in order]
    assert_same_matrix(ours.transform(shuffled), reference.transform(shuffled))


@NGRAMS
@STOP_WORDS
@WEIGHTING
def test_single_documents_equal_scikit_learn(
    ngram_range, stop_words, weighting, byte_tokenizer_calls
):
    docs = CORPUS
    ours, reference = _fit_both(docs, ngram_range=ngram_range, stop_words=stop_words, **weighting)
    expected = reference.transform(docs)
    for i, doc in enumerate(docs):
        assert_same_matrix(ours.transform([doc]), expected[i])
    assert_same_matrix(ours.transform(docs[:31]), expected[:31])  # small batch: the regex too
    assert not byte_tokenizer_calls


def test_every_kind_of_document_reaches_the_batch_tokenizer(byte_tokenizer_calls):
    """Of the batch, the documents read on bytes are the ASCII ones and those whose only
    non-ASCII characters are punctuation (read as spaces); the rest go to the regex."""
    ours = TextTfidf().fit(CORPUS)
    ours.transform(CORPUS)
    ascii_like = [d for d in CORPUS if text_module._PUNCTUATION.sub(" ", d).isascii()]
    assert byte_tokenizer_calls == [len(ascii_like)]
    assert [d for d in ascii_like if not d.isascii()], "punctuation-only documents are included"
    assert len(ascii_like) < len(CORPUS), "and some documents are not"


@pytest.mark.parametrize("where", ["first", "last"])
def test_line_breaks_inside_documents_of_a_batch(where):
    """The byte tokenizer joins a batch's documents with line breaks: one inside a document
    must not move the tokens after it to the next document (nor past the batch)."""
    docs = [doc for doc in CORPUS if "\n" not in doc]
    docs.insert(0 if where == "first" else len(docs), LINE_BREAKS[1])
    ours, reference = _fit_both(docs)
    assert_same_matrix(ours.transform(docs), reference.transform(docs))


@pytest.mark.parametrize(
    "strip_accents",
    [
        "unicode",
        "ascii",
    ],
)
def test_accents_stripped_equal_scikit_learn(strip_accents):
    ours, reference = _fit_both(CORPUS, strip_accents=strip_accents, ngram_range=(1, 2))
    assert_same_matrix(ours.transform(CORPUS), reference.transform(CORPUS))
    assert_same_matrix(ours.transform(CORPUS[:1]), reference.transform(CORPUS[:1]))


@pytest.mark.parametrize("strip_accents", ["unicode", "ascii"])
def test_accents_stripped_from_compatibility_characters_equal_scikit_learn(strip_accents):
    docs = ["Brand™ robot", "brand planet", "Chanel №5 robot"] * 12
    ours, reference = _fit_both(docs, strip_accents=strip_accents)
    assert_same_matrix(ours.transform(docs), reference.transform(docs))


@pytest.mark.parametrize("limit", [3, 12, 30])
@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2)])
def test_max_features_equals_scikit_learn_without_ties_at_the_cut(limit, ngram_range):
    # scikit-learn keeps the terms of highest total count: cut where no two counts tie
    counts = CountVectorizer(ngram_range=ngram_range).fit_transform(CORPUS).sum(axis=0)
    ordered = np.sort(np.asarray(counts).ravel())[::-1]
    cut = next(k for k in range(limit, len(ordered)) if ordered[k - 1] > ordered[k])
    params = {"max_features": cut, "ngram_range": ngram_range, "sublinear_tf": True}
    ours, reference = _fit_both(CORPUS, **params)
    assert len(ours.vocabulary_) == cut
    assert_same_matrix(ours.transform(CORPUS), reference.transform(CORPUS))


def test_max_features_ties_go_to_the_alphabetically_first_terms():
    """scikit-learn breaks these ties with an unstable, CPU-dependent sort."""
    docs = [" ".join(f"w{i:03d}" for i in range(j, j + 5)) for j in range(0, 300, 5)]
    docs += ["zeta common", "alpha common"]  # "common" is the one term seen twice
    kept = TextTfidf(max_features=4).fit(docs).vocabulary_
    assert sorted(kept) == ["alpha", "common", "w000", "w001"]
    unlimited = TextTfidf().fit(docs)
    top = TextTfidf(max_features=len(unlimited.vocabulary_)).fit(docs)
    assert top.vocabulary_ == unlimited.vocabulary_


@pytest.mark.parametrize("analyzer", ["char", "char_wb"])
def test_character_analyzers_equal_scikit_learn(analyzer):
    docs = CORPUS
    ours, reference = _fit_both(docs, analyzer=analyzer, ngram_range=(2, 4), min_df=2)
    assert_same_matrix(ours.transform(docs), reference.transform(docs))
    assert_same_matrix(ours.transform(docs[:1]), reference.transform(docs[:1]))


@pytest.mark.parametrize(
    "ngram_range",
    [(1, 2), (2, 2), (2, 3)],
)
def test_documents_too_short_for_any_term(ngram_range):
    ours, reference = _fit_both(["robot planet ghost", "robot planet"], ngram_range=ngram_range)
    for docs in (["robot"], [""], ["robot", ""], ["robot"] * 40, ["robot planet", "x"]):
        assert_same_matrix(ours.transform(docs), reference.transform(docs))
    empty = ours.transform([])  # (scikit-learn refuses an empty batch)
    assert empty.shape == (0, len(reference.vocabulary_))
    assert empty.nnz == 0


def test_fit_transform_is_fit_then_transform():
    params = {"ngram_range": (1, 2), "sublinear_tf": True}
    ours, reference = TextTfidf(**params), TfidfVectorizer(**params)
    fitted = ours.fit_transform(CORPUS)
    assert_same_matrix(fitted, reference.fit(CORPUS).transform(CORPUS))
    assert_same_matrix(fitted, clone(ours).fit(CORPUS).transform(CORPUS))
    # scikit-learn's own fit_transform normalizes rows whose columns are not yet sorted, so
    # it can differ from its transform in the last bit
    np.testing.assert_allclose(
        fitted.toarray(), reference.fit_transform(CORPUS).toarray(), rtol=1e-15, atol=1e-15
    )


def test_missing_documents_are_empty_and_one_column_shapes_are_accepted():
    ours = TextTfidf().fit(["robot planet", "ghost planet", None])
    expected = ours.transform(["robot planet", ""] * 20)
    for shaped in (
        np.array([["robot planet"], [None]] * 20, dtype=object),
        np.array(["robot planet", np.nan] * 20, dtype=object),
    ):
        assert_same_matrix(ours.transform(shaped), expected)
    with pytest.raises(ValueError, match="one column"):
        ours.transform(np.array([["robot", "planet"]], dtype=object))


def test_output_is_canonical_csr():
    ours = TextTfidf(ngram_range=(1, 2)).fit(CORPUS)
    for docs in (CORPUS, CORPUS[:1]):
        out = ours.transform(docs)
        assert out.format == "csr"
        assert out.indices.dtype == np.int32
        assert out.has_sorted_indices
        assert (out.data != 0).all()


def test_unfitted_transform_raises():
    with pytest.raises(NotFittedError):
        TextTfidf().transform(["robot"])


def test_set_params_then_fit_behaves_as_the_new_params():
    docs = CORPUS
    ours = TextTfidf().fit(docs)
    ours.transform(docs[:1])
    ours.transform(docs)
    for params in ({"lowercase": False}, {"ngram_range": (1, 2), "stop_words": "english"}):
        ours.set_params(**params).fit(docs)
        reference = TfidfVectorizer(**ours.get_params()).fit(docs)
        assert ours.vocabulary_ == reference.vocabulary_
        assert_same_matrix(ours.transform(docs), reference.transform(docs))
        assert_same_matrix(ours.transform(docs[:3]), reference.transform(docs[:3]))


def test_pickle_round_trip():
    ours = TextTfidf(ngram_range=(1, 2), stop_words="english").fit(CORPUS)
    ours.transform(CORPUS[:1])  # whatever transform caches must survive pickling
    restored = pickle.loads(pickle.dumps(ours))
    assert_same_matrix(restored.transform(CORPUS), ours.transform(CORPUS))
    assert_same_matrix(restored.transform(CORPUS[:1]), ours.transform(CORPUS[:1]))


def test_two_fits_pickle_to_the_same_bytes():
    """scikit-learn caches `id(stop_words)`, a memory address: dvc.lock would change."""
    first = TextTfidf(stop_words=["robot", "the"], ngram_range=(1, 2)).fit(CORPUS)
    second = TextTfidf(stop_words=["robot", "the"], ngram_range=(1, 2)).fit(list(CORPUS))
    assert pickle.dumps(first) == pickle.dumps(second)


class _InOrder(frozenset):
    """A set of stop words that iterates in the order given: as a frozenset of strings does
    in another process (its order follows the strings' hashes, seeded per process)."""

    def __new__(cls, words: list[str]) -> "_InOrder":
        made = super().__new__(cls, words)
        made.order = list(words)
        return made

    def __iter__(self) -> Any:
        return iter(self.order)


def test_the_pickle_does_not_depend_on_the_stop_words_iteration_order(monkeypatch):
    words = sorted(ENGLISH_STOP_WORDS)
    pickles = []
    for order in (words, words[::-1]):
        monkeypatch.setattr(TextTfidf, "get_stop_words", lambda self, o=order: _InOrder(o))
        fitted = TextTfidf(stop_words="english", ngram_range=(1, 2)).fit(CORPUS)
        pickles.append(pickle.dumps(fitted))
        assert_same_matrix(
            fitted.transform(CORPUS),
            TfidfVectorizer(stop_words="english", ngram_range=(1, 2)).fit(CORPUS).transform(CORPUS),
        )
    assert pickles[0] == pickles[1]


# --- properties ----------------------------------------------------------------------------

ASCII_PIECES = [*VOCABULARY, *(w.upper() for w in VOCABULARY), "the", "and", "a", "x", "_", "__"]
ASCII_PIECES += ["2049", "007", "supercalifragilisticexpialidocious", "abcdefghijklmnopq"]
GLUE = [" ", "", "  ", "\t", "\r", "\n", ".", ",", "'", "-", ":", "!", "—", "’", "…", "é", "\u00a0"]

ascii_biased_text = st.lists(
    st.tuples(st.sampled_from(ASCII_PIECES), st.sampled_from(GLUE)), max_size=20
).map(lambda pairs: "".join(piece + glue for piece, glue in pairs))
any_text = st.text(max_size=40)
documents = st.lists(st.one_of(ascii_biased_text, any_text), min_size=40, max_size=70)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=documents, lowercase=st.booleans())
def test_transform_equals_scikit_learn_on_random_text(docs, lowercase):
    fitted_on = [*docs[: len(docs) // 2], "robot planet ghost"]  # never an empty vocabulary
    params = {"ngram_range": (1, 2), "lowercase": lowercase}
    ours, reference = TextTfidf(**params).fit(fitted_on), TfidfVectorizer(**params).fit(fitted_on)
    assert ours.vocabulary_ == reference.vocabulary_
    assert_same_matrix(ours.transform(docs), reference.transform(docs))
    assert_same_matrix(ours.transform(docs[:1]), reference.transform(docs[:1]))


TOKEN = re.compile(r"(?u)\b\w\w+\b")


@settings(max_examples=50, deadline=None)
@given(
    docs=st.lists(
        st.one_of(ascii_biased_text, st.text(st.characters(max_codepoint=127))),
        max_size=40,
    ),
    lowercase=st.booleans(),
)
def test_byte_tokens_are_the_regex_tokens(docs, lowercase):
    """On ASCII documents: the same tokens, in order, with each word's id (-1 unknown)."""
    docs = [doc.encode("ascii", "ignore").decode() for doc in docs]
    words = {w: i for i, w in enumerate([*VOCABULARY, "supercalifragilisticexpialidocious", "x_"])}
    ids, rows = AsciiWords(words).ids(docs, lowercase)
    tokens = [
        (row, token)
        for row, doc in enumerate(docs)
        for token in TOKEN.findall(doc.lower() if lowercase else doc)
    ]
    assert rows.tolist() == [row for row, _ in tokens]
    assert ids.tolist() == [words.get(token, -1) for _, token in tokens]


@pytest.mark.parametrize("n_queries", [3, 2000])  # binary search, then the hash table
@pytest.mark.parametrize("large", [False, True])  # keys beyond int64 (hashes of words)
def test_key_index_finds_each_key_and_nothing_else(n_queries, large):
    rng = np.random.default_rng(0)
    offset = 2**63 if large else 0
    keys = [offset + int(k) for k in rng.choice(10**9, size=300, replace=False)]
    index = KeyIndex(keys)
    dtype = np.uint64 if large else np.int64
    pool = np.array(keys + [offset + 10**9 + i for i in range(300)], dtype=dtype)
    queries = rng.choice(pool, size=n_queries)
    where = {key: position for position, key in enumerate(keys)}
    assert index.positions(queries).tolist() == [where.get(int(q), -1) for q in queries]
    with pytest.raises(ValueError, match="distinct"):
        KeyIndex([1, 2, 1])


# ASCII (with its control characters, some of them spaces to `str.split`), Unicode spaces
# and letters outside ASCII
_WORDY_TEXT = st.text(
    st.one_of(
        st.characters(max_codepoint=127),
        st.sampled_from(["\xa0", "\x85", "\u2003", "\u3000", "é", "ß", "日"]),
    ),
    max_size=30,
)


@given(texts=st.lists(_WORDY_TEXT, max_size=80))
def test_word_counts_are_split_counts(texts):
    """Batches of 32 texts or more are counted on bytes, smaller ones by `split`."""
    expected = [float(len(text.split())) for text in texts]
    assert word_counts(texts).tolist() == expected
    assert word_counts(texts * 40).tolist() == expected * 40  # a batch, surely


def test_ascii_classes_are_pythons_on_every_ascii_byte():
    """The byte classes the batch kernels compute equal `str.lower`, `\\w` and `str.isspace`
    on each of the 128 ASCII characters."""
    codes = np.arange(128, dtype=np.uint8)
    characters = [chr(code) for code in range(128)]
    assert text_module._ascii_lower(codes).tolist() == [ord(c.lower()) for c in characters]
    word = [re.fullmatch(r"\w", c) is not None for c in characters]
    assert text_module._ascii_word(codes).tolist() == word
    assert text_module._ascii_space(codes).tolist() == [c.isspace() for c in characters]

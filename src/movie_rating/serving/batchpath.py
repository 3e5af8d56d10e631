"""A many-row fast path through the fitted production pipeline, for batch throughput.

`pipeline.predict` on the test split spends ~70% of its time in scikit-learn's
`CountVectorizer._count_vocab`: a Python loop that runs the regex tokenizer, builds every
n-gram string and looks it up in the vocabulary dict, one document at a time. This module
compiles a fitted pipeline into a column-at-a-time function over a whole DataFrame:

* Frame-level steps and the small column blocks run as the pipeline runs them, on columns
  instead of DataFrames: the same pandas calls and Python functions where they are cheap, an
  exact equivalent where they are not (`str.split()` word counts from a per-code-point table
  read off `str.split` itself; the title's `str.contains(r"\\d")`, non-ASCII and colon flags
  and the overview's full-stop count from its code points, `\\d` from a table read off `re`;
  genre strings parsed once per distinct string).
* TF-IDF counting is vectorised (`_WordCounter`): tokens are the maximal runs of `\\w`
  characters, from a per-code-point table read off Python's own `re`; each token gets an exact
  word id (`_WordTable`), n-grams exact keys over word ids, and the count matrix is the one
  `_count_vocab` builds (same shape, dtype, sorted indices, counts). Everything after the
  counts is scikit-learn's own code: `TfidfTransformer.transform` with the vectorizer's
  settings and `idf_`, the FeatureUnion's `hstack`, the ridge's `predict`. The title-prefix
  target encoding reuses the tokenizer: a prefix is the first tokens of the title. The
  release year and language x decade keys are made by the transformer's own functions, once
  per distinct (year, language) pair of the batch.
* LightGBM scores the batch on a dense array with its trees compiled to native code
  (`compiled_trees`, bit-identical to the booster's `predict`), or with the booster itself if
  they do not compile; each row is summed by one thread, in tree order, so the thread count
  never changes a prediction. Other models get the ColumnTransformer's own `hstack` of the
  blocks.
* A batch of at least 1,024 rows per core is cut into one contiguous part per core, each run
  through all of the above in its own thread (numpy, pandas' hash tables and the compiled
  trees release the GIL). Every prediction depends on its own row alone, so the parts change
  no value. A text column's Python strings and their code points (`_points`) are made once per
  part and shared by the steps: word counts, context flags and tokenizers read the same array.
  A tokenizer lower-cases by its letter table (each code point gets the letter of its
  `str.lower`, read off `str.lower`), no string lowered, but for documents with a capital sigma
  (lowered by context: lowered as strings, their letters written over) and batches with an
  "İ" (lowered to two code points: the text is lowered and joined anew).

On the test split repeated 7x (13,622 rows), 2-core machine in a quiet minute: 51-57k rows/s
(best of 21-25; median 36-40k) against 45-50k (median 34-38k) for the previous version in the
same process (before the last two changes, which cut the CPU further: the machine was busy
after, where this version was 5-24% faster in best rows/s); ~0.44 s of CPU per batch on both
cores, against ~0.47 s. The trees take ~0.1 s of a ~0.25 s batch, the features (the
overview's TF-IDF counting first) the rest; see benchmarks/README.md.

Exactness is guarded as in `fastpath`: only exact, known step types with known settings
compile (`NotCompilable` otherwise); vectorizers with settings the tokenizer does not reproduce
keep their own `transform`; and `compile_batch_predictor` checks the compiled function against
`pipeline.predict` on probe rows and tricky rows (non-ASCII text, case mappings that change
length, odd whitespace, long tokens, bad dates, unknown categories, missing values) and
refuses it on any difference above 1e-9. Predictions are bit-identical in practice.
"""

import functools
import itertools
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any, Final, NamedTuple, cast

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn
from lightgbm import LGBMRegressor
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import VotingRegressor
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import TargetEncoder
from sklearn.utils import check_array

from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.features.stacking import (
    RELEASE_KEYS,
    TITLE_WORD,
    WEEKDAYS,
    OutOfFoldRegressor,
    ReleaseContextFeatures,
    ReleaseKeys,
    TitlePrefixes,
    count_non_blank,
    is_non_ascii,
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
    YearBinning,
    parse_release_dates,
)
from movie_rating.models.families import average_members
from movie_rating.serving.compiled_trees import compile_lightgbm
from movie_rating.serving.fastpath import (
    TFIDF_TYPES,
    TOLERANCE,
    BlockKind,
    NotCompilable,
    check_one_hot_encoder,
    column_blocks,
    default_output,
    flatten_steps,
    probe_rows,
    target_encodings,
)
from movie_rating.serving.threads import ThreadPool

logger = logging.getLogger(__name__)

BatchPredictor = Callable[[pd.DataFrame], np.ndarray]
# The columns between steps: text as pandas Series (as the pipeline holds them), numbers and
# labels as numpy arrays.
State = dict[str, Any]
FrameStep = Callable[[State], State]
# One block of the ColumnTransformer: the state -> what the block's transformer returns.
Block = Callable[[State], Any]

# What `astype(str)` turns text into (pandas 3: pyarrow-backed strings, NaN for missing).
_TEXT_DTYPE: Final = pd.Series(["x"], dtype=object).astype(str).dtype
# The state's key of the batch's text columns as Python strings (`_documents`).
_DOCUMENTS: Final = "\x00documents"
# The state's key of those lists' code points (`_points`).
_POINTS: Final = "\x00points"
# Prefix of the state's keys of parsed release dates (`_release_dates`).
_DATES: Final = "\x00dates:"
_DEFAULT_TOKEN_PATTERN: Final = r"(?u)\b\w\w+\b"
_WORD_RUN = re.compile(r"(?u)\w+")
_DIGIT_RUN = re.compile(r"\d+")
_ASCII_UPPER = re.compile("[A-Z]")
_MAX_NGRAM: Final = 4
# Bytes of the exact key of a short token: its characters' alphabet positions, zero-padded.
_KEY_BYTES: Final = 16
_MIX: Final = np.uint64(0x9E3779B97F4A7C15)
# Smallest batch LightGBM predicts with more than one thread: below, waking the threads
# costs more than it saves (and far more when another process holds the other core).
_THREADED_ROWS: Final = 256
# Smallest part of a batch worth its own thread (the part pays each step's fixed cost).
_PARALLEL_PART_ROWS: Final = 1024
# Widest encoding handed to LightGBM as a dense array (1,946 rows x 1,024 columns: 16 MB).
_DENSE_WIDTH: Final = 1024


@functools.cache
def _character_classes() -> tuple[np.ndarray, np.ndarray, bool, np.ndarray]:
    """Per code point: is it `\\w` for Python's `re` (Unicode), is it a separator for
    `str.split()`; whether `str.lower` never yields A-Z (so an ASCII text's `lower()` is
    exactly A-Z -> a-z on its own, and A-Z can be folded into a-z after any other text was
    lowered).

    Read off `re`, `str.split` and `str.lower` themselves, over every code point at once
    (~0.2-0.3 s, once per process), so token and word boundaries are by definition the ones
    `CountVectorizer`'s regex and pandas' `str.split()` see, in whatever Unicode version this
    Python has. (`str.lower` maps each character on its own, but for the final-sigma rule,
    which yields a sigma.) Last, per code point: is it `\\d` for `re` (Unicode decimal
    digits); pandas' `str.contains(r"\\d")` matches as `re` does (it leaves `\\d` on
    non-ASCII text to `re`, and RE2's ASCII `\\d` agrees with it on ASCII text).
    """
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    is_word = np.zeros(len(everything), dtype=bool)
    for match in _WORD_RUN.finditer(everything):
        is_word[match.start() : match.end()] = True
    is_space = np.ones(len(everything), dtype=bool)
    position = 0
    for piece in everything.split():
        start = everything.index(piece, position)
        is_space[start : start + len(piece)] = False
        position = start + len(piece)
    is_digit = np.zeros(len(everything), dtype=bool)
    for match in _DIGIT_RUN.finditer(everything):
        is_digit[match.start() : match.end()] = True
    is_word.flags.writeable = False
    is_space.flags.writeable = False
    is_digit.flags.writeable = False
    return is_word, is_space, _ASCII_UPPER.search(everything.lower()) is None, is_digit


@functools.cache
def _lower_map() -> tuple[np.ndarray, np.ndarray]:
    """Per code point: its `str.lower()` where that is one code point whatever surrounds it
    (else itself); and the code points where it is not: those `str.lower` maps to more than
    one ("İ"), and capital sigma, whose lower case depends on what follows (the only
    context-dependent mapping in CPython's `str.lower`). A text without the latter is
    lower-cased one code point at a time: `text.lower()[i] == text[i].lower()`.

    Read off `str.lower` itself (~0.1-0.2 s, once per process).
    """
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    lowered = [char.lower() for char in everything]
    single = "".join(
        low if len(low) == 1 else char for char, low in zip(everything, lowered, strict=True)
    )
    mapped = np.frombuffer(single.encode("utf-32-le", "surrogatepass"), dtype="<u4").copy()
    special = sorted({i for i, low in enumerate(lowered) if len(low) != 1} | {0x3A3})
    mapped.flags.writeable = False
    return mapped, np.array(special, dtype=np.uint32)


def _code_points(docs: list[str]) -> tuple[str, np.ndarray, np.ndarray]:
    """The documents joined by "\\n" (a separator that is neither `\\w` nor `\\S`, so no token or
    word spans two documents), that text as an array of code points, and where each document
    starts in it.

    Array positions are Python string indices: UTF-32 has one unit per code point, and
    "surrogatepass" keeps a lone surrogate one unit too.
    """
    joined = "\n".join(docs)
    points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    starts = np.zeros(len(docs), dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=starts[1:])
    return joined, points, starts


def _per_document(found: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """How many of the flagged code points (`found`, over the joined text) each document holds
    (documents start at `starts`; a separator is never flagged)."""
    where = np.flatnonzero(found)
    return np.diff(np.searchsorted(where, starts), append=len(where))


def _word_counts(
    docs: list[str], coded: tuple[str, np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """`text.str.split().str.len().astype("float64")` for `docs = text.tolist()` (as
    `DataTypeFixer`), ~10x faster; `coded` is `_code_points(docs)` where already made.

    pandas splits each string with Python's `str.split()`, whose words are the maximal runs
    of characters that are not `str.isspace()`; a word starts at a non-space character that
    is first in its document or follows a space.
    """
    if not docs:
        return np.zeros(0, dtype=np.float64)
    _, points, starts = coded if coded is not None else _code_points(docs)
    is_space = _character_classes()[1]
    space = np.ones(len(points) + 1, dtype=bool)  # a space before the text
    np.take(is_space, points, out=space[1:])
    # word starts, in text order
    return _per_document(space[:-1] & ~space[1:], starts).astype(np.float64)


# `_code_points(docs)`: the joined text, its code points, where each document starts.
Coded = tuple[str, np.ndarray, np.ndarray]


class _Tokens(NamedTuple):
    """The tokens of a batch of documents, in document order."""

    docs: list[str]  # the documents, as given
    lowered: dict[int, str]  # the documents tokenized lower-cased, by position
    doc_starts: np.ndarray  # where each document starts in the joined text
    letters: np.ndarray  # per character of the joined text: its letter, then padding
    starts: np.ndarray  # where each token starts in the joined text
    lengths: np.ndarray
    rows: np.ndarray  # each token's document
    n_docs: int
    lower_pieces: bool  # whether the documents not in `lowered` were lower-cased by letter

    def piece(self, token: int) -> str:
        """The token's text, from the document it was read from."""
        row = int(self.rows[token])
        start = int(self.starts[token]) - int(self.doc_starts[row])
        doc = self.lowered.get(row, self.docs[row])
        piece = doc[start : start + int(self.lengths[token])]
        return piece.lower() if self.lower_pieces and row not in self.lowered else piece


class _WordTable:
    """Tokens of documents, and their exact ids in a fixed list of words.

    Tokens are the matches of `(?u)\\b\\w\\w+\\b` (on documents lower-cased with `str.lower`
    first, if `lowercase`, as the vectorizer does): a match of that pattern is exactly a
    maximal run of two or more `\\w` characters, since a match can only start where a run
    starts (`\\b`) and `\\w\\w+` then takes the whole run. Lower-casing is mostly in the
    letter table (`lower_letter`: the letter of each code point's `str.lower`, exact where
    `str.lower` maps code points one to one and without context, see `_lower_map`); documents
    where it does not are lowered as strings (`tokenize`).

    Ids are exact, not hashed: every character has a letter, 0 for a non-`\\w` character, 1..
    for the characters of the words, the largest value for any other `\\w` character. A short
    token's key is its letters zero-padded to 16 bytes: injective (no letter inside a token is
    0), and no word's key holds the largest letter. A 64-bit mix of the key finds the candidate
    word, whose key is then compared in full. Tokens longer than a key are looked up by their
    text in a dict.
    """

    def __init__(self, words: Sequence[str], lowercase: bool) -> None:
        if len(set(words)) != len(words) or not all(_WORD_RUN.fullmatch(w) for w in words):
            raise NotCompilable("word table")
        is_word, _, lower_keeps_ascii_upper_out, _ = _character_classes()
        self.lowercase = lowercase
        self.fold_ascii = lowercase and lower_keeps_ascii_upper_out
        if self.fold_ascii:  # no lower-cased token holds A-Z: words with them never match
            words = ["" if _ASCII_UPPER.search(word) else word for word in words]
        alphabet = sorted({char for word in words for char in word})
        self.letter_dtype = np.dtype("<u1" if len(alphabet) < 2**8 - 1 else "<u2")
        if len(alphabet) >= 2**16 - 1:
            raise NotCompilable("alphabet too large")
        self.key_chars = _KEY_BYTES // self.letter_dtype.itemsize
        stray = np.iinfo(self.letter_dtype).max
        self.letter = np.where(is_word, stray, 0).astype(self.letter_dtype)
        self.letter[[ord(char) for char in alphabet]] = np.arange(1, len(alphabet) + 1)
        if self.fold_ascii:
            self.letter[ord("A") : ord("Z") + 1] = self.letter[ord("a") : ord("z") + 1]
        self.letter.flags.writeable = False
        # the letter of each code point's lower case (see `_lower_map`)
        self.lower_letter = self.letter[_lower_map()[0]] if self.fold_ascii else self.letter
        # masks keeping the first `length` letters of a key's low and high 8 bytes
        kept_bits = 8 * self.letter_dtype.itemsize * np.arange(self.key_chars + 1)
        self.low_mask = _ones(np.minimum(kept_bits, 64))
        self.high_mask = _ones(np.clip(kept_bits - 64, 0, 64))

        short = [(i, word) for i, word in enumerate(words) if 0 < len(word) <= self.key_chars]
        self.long_words = {word: i for i, word in enumerate(words) if len(word) > self.key_chars}
        spelled = self._scan([word for _, word in short])
        if len(spelled.starts) != len(short):
            raise NotCompilable("a word is not one token")
        low, high = self._keys(spelled)
        ids = np.array([i for i, _ in short], dtype=np.int64)
        narrow = spelled.lengths * self.letter_dtype.itemsize <= 8
        self.narrow = (_ExactIndex(low[narrow]), ids[narrow])
        self.narrow_ids = np.append(ids[narrow], -1)
        self.wide = (_ExactIndex(low[~narrow], high[~narrow]), ids[~narrow])

    def tokenize(self, docs: list[str], coded: Coded | None = None) -> _Tokens:
        """The tokens of `docs`; `coded` is `_code_points(docs)` where already made."""
        if not self.lowercase:
            return self._scan(docs, coded)
        if not self.fold_ascii:
            lowered = dict(enumerate(doc.lower() for doc in docs))
            return self._scan(docs, _code_points(list(lowered.values())), lowered)
        # Documents are lower-cased a code point at a time, by the letter table, but for those
        # holding a code point `str.lower` maps otherwise (`_lower_map`), lowered as strings.
        coded = coded if coded is not None else _code_points(docs)
        _, points, doc_starts = coded
        where = np.flatnonzero(np.isin(points, _lower_map()[1]))
        special = np.unique(np.searchsorted(doc_starts, where, side="right") - 1).tolist()
        lowered = {i: docs[i].lower() for i in special}
        if all(len(text) == len(docs[i]) for i, text in lowered.items()):
            return self._scan(docs, coded, lowered, patch=True, letter=self.lower_letter)
        # (`str.lower` lengthens "İ": positions move, so the text is joined anew)
        lowered = {i: doc.lower() for i, doc in enumerate(docs) if not doc.isascii()}
        text = [lowered.get(i, doc) for i, doc in enumerate(docs)]
        return self._scan(docs, _code_points(text), lowered)

    def _scan(
        self,
        docs: list[str],
        coded: Coded | None = None,
        lowered: dict[int, str] | None = None,
        patch: bool = False,
        letter: np.ndarray | None = None,
    ) -> _Tokens:
        """The tokens of `docs` with `lowered[i]` in place of `docs[i]`, from `coded`: the
        code points of the documents as tokenized, or (`patch`) of `docs` themselves, each
        lowered document being as long as its original: its letters are then written over the
        original's, at the same positions, so the letters are those of the lowered text.
        `letter` (`lower_letter`: documents lower-cased a code point at a time) in place of
        `self.letter`."""
        lowered = lowered if lowered is not None else {}
        _, points, doc_starts = coded if coded is not None else _code_points(docs)
        letters = np.zeros(len(points) + 2 * self.key_chars, dtype=self.letter_dtype)
        table = letter if letter is not None else self.letter
        np.take(table, points, out=letters[1 : len(points) + 1])
        if patch and lowered:
            changed = np.fromiter(lowered, dtype=np.int64, count=len(lowered))
            _, new_points, new_starts = _code_points(list(lowered.values()))
            # each character of the lowered documents (and the "\n" after each but the last,
            # which lands on the "\n" after its original) at its original's position
            owner = np.repeat(
                np.arange(len(changed)), np.diff(new_starts, append=len(new_points) + 1)
            )
            target = (
                np.arange(len(new_points))
                + (doc_starts[changed] - new_starts)[owner[: len(new_points)]]
            )
            letters[1 + target] = self.letter[new_points]
        # letters[0] and the padding are 0: every run of word characters has two edges
        word = letters != 0
        bounds = np.flatnonzero(word[1:] != word[:-1])
        starts, lengths = bounds[0::2], bounds[1::2] - bounds[0::2]
        keep = lengths >= 2
        starts, lengths = starts[keep], lengths[keep]
        # tokens are in text order: document d holds tokens first[d] to first[d + 1] - 1
        first = np.searchsorted(starts, doc_starts)
        per_doc = np.diff(first, append=len(starts))
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), per_doc)
        return _Tokens(
            docs,
            lowered,
            doc_starts,
            letters[1:],
            starts,
            lengths,
            rows,
            len(docs),
            letter is not None,
        )

    def _keys(self, tokens: _Tokens) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) 8-byte halves of each token's key (meaningful for short tokens)."""
        size = self.letter_dtype.itemsize
        raw = tokens.letters.view(np.uint8)
        # every 8 bytes from every byte offset, as little-endian integers (a view)
        windows = np.ndarray((len(raw) - 7,), dtype="<u8", buffer=raw, strides=(1,))
        offsets = tokens.starts * size
        lengths = np.minimum(tokens.lengths, self.key_chars)
        low = windows[offsets] & self.low_mask[lengths]
        high = np.zeros(len(offsets), dtype=np.uint64)
        wide = np.flatnonzero(lengths * size > 8)
        high[wide] = windows[offsets[wide] + 8] & self.high_mask[lengths[wide]]
        return low, high

    def ids(self, tokens: _Tokens) -> np.ndarray:
        """Each token's position in `words`, -1 for a token that is none of them."""
        low, high = self._keys(tokens)
        size = tokens.lengths * self.letter_dtype.itemsize
        # Every token's low word is looked up (one pass, no gathers), a hit kept for narrow
        # tokens only: a wider token's low word is its first 8 bytes, the key of a narrow word
        # it merely starts with.
        found = self.narrow[0].lookup(low)
        found[size > 8] = -1
        ids: np.ndarray = self.narrow_ids[found]  # -1 reads the appended -1
        wide = np.flatnonzero((size > 8) & (tokens.lengths <= self.key_chars))
        found = self.wide[0].lookup(low[wide], high[wide])
        hit = found >= 0
        ids[wide[hit]] = self.wide[1][found[hit]]
        if self.long_words:
            for token in np.flatnonzero(tokens.lengths > self.key_chars).tolist():
                piece = tokens.piece(token)
                if self.fold_ascii and piece.isascii():  # from a document left as it was
                    piece = piece.lower()
                ids[token] = self.long_words.get(piece, -1)
        return ids


def _ones(bits: np.ndarray) -> np.ndarray:
    """uint64 values with the lowest `bits` bits set (0 <= bits <= 64)."""
    shift = np.minimum(bits, 63).astype(np.uint64)
    ones = (np.uint64(1) << shift) - np.uint64(1)
    return np.where(bits >= 64, np.uint64(2**64 - 1), ones).astype(np.uint64)


def _gram_keys(ids: np.ndarray, rows: np.ndarray, n: int, base: int) -> tuple[np.ndarray, ...]:
    """Keys (word ids in base `base`) of the n-grams of consecutive known tokens of one
    document, and the index of each n-gram's first token."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    valid = rows[:count] == rows[n - 1 :]
    keys = np.zeros(count, dtype=np.int64)
    for offset in range(n):
        part = ids[offset : offset + count]
        valid &= part >= 0
        keys = keys * base + part
    where = np.flatnonzero(valid)
    return keys[where], where


def _ngram_key(ids: Sequence[int], base: int) -> int:
    key = 0
    for word in ids:
        key = key * base + word
    return key


class _WordCounter:
    """`CountVectorizer._count_vocab(docs, fixed_vocab=True)` for a word-analyzer vectorizer
    with the default token pattern, as whole-array operations.

    The analyzer, per document: `str.lower`, the `(?u)\\b\\w\\w+\\b` tokens
    (`_WordTable.tokenize`), stop words dropped, then the n-grams for n in `ngram_range` joined
    by " ". Every vocabulary term is n such tokens joined by " ", so each is a key over word ids
    (`_WordTable`, with the stop words among the words), looked up among the vocabulary's
    keys.
    """

    def __init__(self, vectorizer: Any) -> None:
        self._check_settings(vectorizer)
        self.lowercase = bool(vectorizer.lowercase)
        self.binary = bool(vectorizer.binary)
        self.dtype = vectorizer.dtype
        self.min_n = int(vectorizer.ngram_range[0])
        vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.width = len(vocabulary)
        stop = vectorizer.get_stop_words()
        stop_words = frozenset(stop) if stop is not None else frozenset()
        self.has_stop_words = stop is not None

        terms = [(term.split(" "), column) for term, column in vocabulary.items()]
        max_n = int(vectorizer.ngram_range[1])
        for parts, _ in terms:
            if not self.min_n <= len(parts) <= max_n or not all(map(_is_token, parts)):
                raise NotCompilable(f"vocabulary term {' '.join(parts)!r}")
        words = sorted(
            {part for parts, _ in terms for part in parts}
            | {word for word in stop_words if _is_token(word)}
        )
        self.table = _WordTable(words, self.lowercase)
        self.base = max(len(words), 1)
        if self.base**max_n >= 2**62:
            raise NotCompilable("vocabulary too large for integer n-gram keys")
        word_id = {word: i for i, word in enumerate(words)}
        self.is_stop = np.array([word in stop_words for word in words], dtype=bool)

        # (one more entry, -1, which an unknown token's id -1 reads)
        self.unigram_column = np.full(len(words) + 1, -1, dtype=np.int64)
        grams: dict[int, tuple[list[int], list[int]]] = {}
        for parts, column in terms:
            ids = [word_id[part] for part in parts]
            if len(ids) == 1:
                self.unigram_column[ids[0]] = column
            else:
                keys, columns = grams.setdefault(len(ids), ([], []))
                keys.append(_ngram_key(ids, self.base))
                columns.append(column)
        self.gram_index = {
            n: (_ExactIndex(np.array(keys, dtype=np.uint64)), np.array(columns, dtype=np.int64))
            for n, (keys, columns) in sorted(grams.items())
        }

    @staticmethod
    def _check_settings(vectorizer: Any) -> None:
        if type(vectorizer) not in TFIDF_TYPES or not default_output(vectorizer):
            raise NotCompilable(f"text vectorizer {type(vectorizer).__name__}")
        if (
            vectorizer.input != "content"
            or vectorizer.analyzer != "word"
            or vectorizer.preprocessor is not None
            or vectorizer.tokenizer is not None
            or vectorizer.strip_accents is not None
            or vectorizer.token_pattern != _DEFAULT_TOKEN_PATTERN
            or not 1 <= vectorizer.ngram_range[0] <= vectorizer.ngram_range[1] <= _MAX_NGRAM
        ):
            raise NotCompilable("text vectorizer settings")

    def __call__(self, docs: list[str], coded: Coded | None = None) -> sp.csr_array:
        """The count matrix `_count_vocab` returns for `docs` (`binary` applied as `transform`
        applies it); `coded` is `_code_points(docs)` where already made."""
        tokens = self.table.tokenize(docs, coded)
        ids, rows = self.table.ids(tokens), tokens.rows
        if self.has_stop_words:
            kept = ids < 0
            kept[~kept] = ~self.is_stop[ids[~kept]]
            ids, rows = ids[kept], rows[kept]
        found_rows, found_columns = [], []
        if self.min_n == 1:
            columns = self.unigram_column[ids]
            known = np.flatnonzero(columns >= 0)
            found_rows.append(rows[known])
            found_columns.append(columns[known])
        for n, (index, gram_columns) in self.gram_index.items():
            keys, first = _gram_keys(ids, rows, n, self.base)
            position = index.lookup(keys)
            hit = position >= 0
            found_rows.append(rows[first[hit]])
            found_columns.append(gram_columns[position[hit]])
        return self._matrix(found_rows, found_columns, len(docs))

    def _matrix(
        self, found_rows: list[np.ndarray], found_columns: list[np.ndarray], n_docs: int
    ) -> sp.csr_array:
        """CSR of counts per (document, column), columns sorted within each row, as
        `_count_vocab` builds it: int32 indices, `dtype` values, no explicit zeros."""
        # row * width + column, in int32 where it fits (a faster sort)
        small = n_docs * self.width < 2**31
        cells = np.zeros(0, dtype=np.int32 if small else np.int64)
        if found_rows:
            cells = np.concatenate(found_rows).astype(cells.dtype) * cells.dtype.type(self.width)
            cells += np.concatenate(found_columns).astype(cells.dtype)
        cells.sort()
        first = np.ones(len(cells), dtype=bool)
        first[1:] = cells[1:] != cells[:-1]
        where = np.flatnonzero(first)
        counts = np.diff(np.append(where, len(cells)))
        unique: np.ndarray = cells[where]
        # row d's cells are those in [d * width, (d + 1) * width): found by bisection, not by
        # dividing every cell
        row_starts = np.arange(n_docs + 1, dtype=cells.dtype) * cells.dtype.type(self.width)
        indptr = np.searchsorted(unique, row_starts).astype(np.int64)
        columns = unique - np.repeat(row_starts[:-1], np.diff(indptr))
        index_dtype = np.int32 if indptr[-1] <= np.iinfo(np.int32).max else np.int64
        matrix = sp.csr_array(
            (counts, columns.astype(index_dtype), indptr.astype(index_dtype)),
            shape=(n_docs, self.width),
            dtype=self.dtype,
        )
        if self.binary:
            matrix.data.fill(1)
        return matrix


def _is_token(part: str) -> bool:
    return len(part) >= 2 and _WORD_RUN.fullmatch(part) is not None


class _ExactIndex:
    """The position of each query key among fixed distinct keys, -1 where absent.

    A key is one or two 64-bit words. One word is looked up as it is in pandas' int64 hash
    table (exact). Two words are looked up by a 64-bit mix of them, and the candidate's words
    are then compared with the query's, so a collision can cost a miss check, never a wrong
    answer (and mixes are checked distinct when the index is built).
    """

    def __init__(self, *keys: np.ndarray) -> None:
        self.keys = [np.asarray(key).astype(np.uint64) for key in keys]
        self.index = pd.Index(_mix(self.keys).view(np.int64))
        if not self.index.is_unique:
            raise NotCompilable("colliding keys")

    def lookup(self, *keys: np.ndarray) -> np.ndarray:
        columns = [np.asarray(key).astype(np.uint64, copy=False) for key in keys]
        found = self.index.get_indexer(cast(Any, _mix(columns).view(np.int64)))
        if len(columns) > 1:
            hit = np.flatnonzero(found >= 0)
            same = np.ones(len(hit), dtype=bool)
            for stored, column in zip(self.keys, columns, strict=True):
                same &= stored[found[hit]] == column[hit]
            found[hit[~same]] = -1
        return found


def _mix(columns: Sequence[np.ndarray]) -> np.ndarray:
    """One word as it is; more words folded into one with splitmix64's finalizer."""
    if len(columns) == 1:
        return columns[0]
    mixed = columns[0].copy()
    for column in columns[1:]:
        mixed *= _MIX
        mixed ^= column
    mixed ^= mixed >> np.uint64(30)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(27)
    mixed *= np.uint64(0x94D049BB133111EB)
    mixed ^= mixed >> np.uint64(31)
    return mixed


# A text encoding of documents, given their code points where already made.
TextEncoder = Callable[[list[str], Coded | None], Any]


def _weighting(vectorizer: Any) -> TfidfTransformer:
    """The TF-IDF weighting a fitted vectorizer applies to its counts, rebuilt from its public
    settings and `idf_` (`TfidfVectorizer.transform` is `TfidfTransformer.transform` of the
    count matrix)."""
    weighting = TfidfTransformer(
        norm=vectorizer.norm,
        use_idf=vectorizer.use_idf,
        smooth_idf=vectorizer.smooth_idf,
        sublinear_tf=vectorizer.sublinear_tf,
    )
    weighting.n_features_in_ = len(vectorizer.vocabulary_)
    if vectorizer.use_idf:
        weighting.idf_ = vectorizer.idf_
    return weighting


def _tfidf(vectorizer: Any) -> TextEncoder:
    """`vectorizer.transform(docs)`: the vectorised counts through the vectorizer's weighting
    (`_weighting`), or the vectorizer itself for settings `_WordCounter` does not know (a
    TF-IDF vectorizer reads a list of documents as it reads the column)."""
    if type(vectorizer) not in TFIDF_TYPES:
        raise NotCompilable(f"text encoder {type(vectorizer).__name__}")
    try:
        count = _WordCounter(vectorizer)
    except NotCompilable as reason:
        logger.info("batch path keeps %s.transform: %s", type(vectorizer).__name__, reason)

        def transform(docs: list[str], coded: Coded | None = None) -> Any:
            return vectorizer.transform(docs)

        return transform
    weigh = _weighting(vectorizer).transform

    def encode(docs: list[str], coded: Coded | None = None) -> Any:
        return weigh(count(docs, coded), copy=False)

    return encode


def _documents(state: State, column: str, fill: bool = True) -> list[str]:
    """The column as Python strings (`fillna("").astype(str)` first, as the transformers do,
    unless not `fill`), converted once per batch: several steps and blocks read the same text.
    An entry holds the column it was made from and is used only while the state still holds
    that very object, so a step that replaces the column can never be served stale text."""
    cache: dict[tuple[str, bool], tuple[Any, list[str]]] = state.setdefault(_DOCUMENTS, {})
    values = state[column]
    cached = cache.get((column, fill))
    if cached is not None and cached[0] is values:
        return cached[1]
    series = _series(values)
    if fill and _is_text(series):  # its own filled form: share the unfilled list
        docs = _documents(state, column, fill=False)
    else:
        docs = (_text(series) if fill else series).tolist()
    cache[column, fill] = (values, docs)
    return docs


def _points(state: State, docs: list[str]) -> tuple[str, np.ndarray, np.ndarray]:
    """`_code_points(docs)`, made once per list of documents: the word counts, the release
    context and the tokenizer read the same text. Keyed by the list itself (held by the
    entry, so its id is never reused while the entry lives)."""
    cache: dict[int, tuple[list[str], tuple[str, np.ndarray, np.ndarray]]] = state.setdefault(
        _POINTS, {}
    )
    cached = cache.get(id(docs))
    if cached is not None and cached[0] is docs:
        return cached[1]
    coded = _code_points(docs)
    cache[id(docs)] = (docs, coded)
    return coded


def _release_dates(state: State, column: str) -> pd.Series:
    """`parse_release_dates(column)`, as `ReleaseContextFeatures` and `ReleaseKeys` read it,
    once per batch: both blocks read the same dates. An entry is used only while the state
    still holds the column it was parsed from (as in `_documents`)."""
    values = state[column]
    cached = state.get(_DATES + column)
    if cached is not None and cached[0] is values:
        return cached[1]
    dates = parse_release_dates(_series(values))
    state[_DATES + column] = (values, dates)
    return dates


def _series(values: Any) -> pd.Series:
    return values if isinstance(values, pd.Series) else pd.Series(values)


def _is_text(values: pd.Series) -> bool:
    """Whether `values.fillna("").astype(str)` is `values` itself: already pandas' default
    string dtype (which `astype(str)` gives), and nothing missing (DataTypeFixer's output)."""
    return values.dtype == _TEXT_DTYPE and not values.hasnans


def _text(values: Any) -> pd.Series:
    """`values.fillna("").astype(str)`, as the transformers write it, skipped where a no-op."""
    values = _series(values)
    return values if _is_text(values) else values.fillna("").astype(str)


def _union(encoder: Any) -> TextEncoder:
    """`FeatureUnion.transform` of text vectorizers (or one vectorizer) on documents."""
    if type(encoder) is not FeatureUnion:
        return _tfidf(encoder)
    if encoder.transformer_weights or not default_output(encoder):
        raise NotCompilable("feature union with weights or set_output")
    parts = [_tfidf(part) for _, part in encoder.transformer_list if part not in ("drop", None)]
    if not parts:
        raise NotCompilable("empty feature union")

    def run(docs: list[str], coded: Coded | None) -> Any:
        blocks = [part(docs, coded) for part in parts]
        if any(sp.issparse(block) for block in blocks):
            return sp.hstack(blocks).tocsr()
        return np.hstack(blocks)

    return run


def _stacked_text_block(step: OutOfFoldRegressor, column: str) -> Block:
    """`OutOfFoldRegressor.transform`: the full-fit regressor's own `predict` on the encoding."""
    if step.encoder_ is None:
        raise NotCompilable("stacked regressor without a text encoder")
    encode, regressor = _union(step.encoder_), step.estimator_

    def run(state: State) -> np.ndarray:
        docs = _documents(state, column, fill=False)
        predicted = regressor.predict(encode(docs, _points(state, docs)))
        return np.asarray(predicted, dtype=np.float64).reshape(-1, 1)

    return run


def _text_block(step: LightweightTextEmbedder, column: str) -> Block:
    encode = _tfidf(step.vectorizer_)

    def run(state: State) -> Any:
        docs = _documents(state, column)
        return encode(docs, _points(state, docs))

    return run


_CONTEXT_NAMES: Final = (
    *(f"weekday_{day}" for day in WEEKDAYS),
    "n_genres",
    "title_has_number",
    "title_non_ascii",
    "title_has_colon",
    "overview_sentences",
)


def _release_context_block(step: ReleaseContextFeatures, columns: list[str]) -> Block:
    """`ReleaseContextFeatures.transform`: the same pandas calls for dates and genres (the
    genre count once per distinct genre string), the title and overview flags from code
    points. Only the outputs listed in `_CONTEXT_NAMES` compile: a new flag must be added here
    too."""
    needed = {step.date_column, step.genre_column, step.title_column, step.overview_column}
    if not needed <= set(columns):
        raise NotCompilable("release context columns")
    if tuple(step.get_feature_names_out()) != _CONTEXT_NAMES:
        raise NotCompilable("release context outputs")
    # the flag read off code points below is `not text.isascii()`
    if [is_non_ascii(text) for text in ("", "plain", "é", "\x7f", "\x80")] != [0, 0, 1, 0, 1]:
        raise NotCompilable("release context non-ASCII flag")

    def run(state: State) -> np.ndarray:
        weekday = _release_dates(state, step.date_column).dt.day_of_week.to_numpy()
        one_hot = (weekday[:, None] == np.arange(len(WEEKDAYS))[None, :]).astype(np.float64)
        genres = _text(state[step.genre_column])
        codes, distinct = pd.factorize(genres)
        per_distinct = pd.Series(distinct).str.split(step.separator).map(count_non_blank)
        n_genres = per_distinct.to_numpy(dtype=np.float64)[codes]
        # Per title: `str.contains(r"\d")`, `is_non_ascii`, `":" in text`; per overview:
        # `text.count(".")` (one-character patterns: a count of code points), all read off the
        # code points the word counts already made, outside the GIL.
        titles = _points(state, _documents(state, step.title_column))
        overviews = _points(state, _documents(state, step.overview_column))
        title_points, title_starts = titles[1], titles[2]
        has_number = _per_document(_character_classes()[3][title_points], title_starts) > 0
        non_ascii = _per_document(title_points >= 0x80, title_starts) > 0
        has_colon = _per_document(title_points == ord(":"), title_starts) > 0
        sentences = _per_document(overviews[1] == ord("."), overviews[2])
        return np.column_stack(
            [
                one_hot,
                n_genres,
                has_number.astype(np.float64),
                non_ascii.astype(np.float64),
                has_colon.astype(np.float64),
                sentences.astype(np.float64),
            ]
        )

    return run


def _title_prefix_block(step: Pipeline, column: str) -> Block:
    """`TitlePrefixes` then scikit-learn's `TargetEncoder.transform`: each prefix's fitted
    encoding, the target mean for one never seen.

    `title_prefix(title, n)` joins the first n `(?u)\\b\\w\\w+\\b` tokens of the lower-cased
    title, so a category is k <= n tokens joined by " " ("" for none) and is found by its key
    over word ids, as an n-gram is; a category of any other form is never produced, so never
    matched.
    """
    if [type(s) for _, s in step.steps] != [TitlePrefixes, TargetEncoder]:
        raise NotCompilable("title prefix block")
    if not default_output(step):
        raise NotCompilable("title prefix block with set_output")
    prefixes, encoder = step[0], step[1]
    if TITLE_WORD.pattern != _DEFAULT_TOKEN_PATTERN or TITLE_WORD.flags != re.UNICODE:
        raise NotCompilable("title prefix tokens")
    if encoder.target_type_ != "continuous" or not all(map(default_output, (prefixes, encoder))):
        raise NotCompilable("target encoder settings")
    counts = [int(n) for n in prefixes.word_counts]
    if len(encoder.categories_) != len(counts) or len(encoder.encodings_) != len(counts):
        raise NotCompilable("target encoder width")
    if not all(isinstance(c, str) for cats in encoder.categories_ for c in cats):
        raise NotCompilable("target encoder with non-text categories")
    words = sorted(
        {
            part
            for categories in encoder.categories_
            for category in categories
            for part in category.split(" ")
            if _is_token(part)
        }
    )
    table, base = _WordTable(words, lowercase=True), max(len(words), 1)
    if base ** max(counts) >= 2**62:
        raise NotCompilable("too many prefix words for integer keys")
    word_id = {word: i for i, word in enumerate(words)}
    mean = np.float64(encoder.target_mean_)
    # per output: k -> (index of the keys of k-token categories, their encodings)
    lookups: list[dict[int, tuple[_ExactIndex, np.ndarray]]] = []
    for n, categories, encoding in zip(
        counts, encoder.categories_, encoder.encodings_, strict=True
    ):
        by_length: dict[int, tuple[list[int], list[float]]] = {}
        for category, value in zip(categories.tolist(), np.asarray(encoding).tolist(), strict=True):
            parts = category.split(" ") if category else []
            if len(parts) <= n and all(map(_is_token, parts)):
                keys, values = by_length.setdefault(len(parts), ([], []))
                keys.append(_ngram_key([word_id[part] for part in parts], base))
                values.append(value)
        lookups.append(
            {
                k: (
                    _ExactIndex(np.array(keys, dtype=np.uint64)),
                    np.array(values, dtype=np.float64),
                )
                for k, (keys, values) in by_length.items()
            }
        )

    def run(state: State) -> np.ndarray:
        docs = _documents(state, column)
        tokens = table.tokenize(docs, _points(state, docs))
        ids = table.ids(tokens)
        per_title = np.bincount(tokens.rows, minlength=tokens.n_docs)
        first = np.zeros(tokens.n_docs, dtype=np.int64)
        np.cumsum(per_title[:-1], out=first[1:])
        out = np.empty((tokens.n_docs, len(counts)), dtype=np.float64)
        for output, (n, lookup) in enumerate(zip(counts, lookups, strict=True)):
            taken = np.minimum(per_title, n)
            values = np.full(tokens.n_docs, mean)
            for k, (index, encodings) in lookup.items():
                titles_k = np.flatnonzero(taken == k)
                keys = np.zeros(len(titles_k), dtype=np.int64)
                known = np.ones(len(titles_k), dtype=bool)
                for j in range(k):
                    part = ids[first[titles_k] + j]
                    known &= part >= 0
                    keys = keys * base + part
                position = index.lookup(keys)
                hit = known & (position >= 0)
                values[titles_k[hit]] = encodings[position[hit]]
            out[:, output] = values
        return out

    return run


def _release_keys_block(step: Pipeline, columns: list[str]) -> Block:
    """`ReleaseKeys` then scikit-learn's `TargetEncoder.transform`: each key made by the same
    `RELEASE_KEYS` function, once per distinct (year, language) pair of the batch, and its
    fitted encoding; the target mean for a key never seen."""
    if [type(s) for _, s in step.steps] != [ReleaseKeys, TargetEncoder]:
        raise NotCompilable("release keys block")
    keys, encoder = step[0], step[1]
    if not {keys.date_column, keys.language_column} <= set(columns):
        raise NotCompilable("release keys columns")
    if not default_output(step) or not default_output(keys):
        raise NotCompilable("release keys block with set_output")
    makers = [RELEASE_KEYS[key] for key in keys.keys]
    lookups = target_encodings(encoder, len(makers))
    mean = float(encoder.target_mean_)

    def run(state: State) -> np.ndarray:
        # `release_years` and `fillna("").astype(str)`, as the transformer reads its columns;
        # a year code of -1 is no year
        year_codes, years = pd.factorize(_release_dates(state, keys.date_column).dt.year)
        language_codes, languages = pd.factorize(_text(state[keys.language_column]))
        pair_codes, pairs = pd.factorize((year_codes + 1) * len(languages) + language_codes)
        year_of = [None, *(int(year) for year in years.tolist())]
        language_of = [str(language) for language in languages.tolist()]
        width = max(len(language_of), 1)
        per_pair = [
            [
                lookup.get(make(year_of[pair // width], language_of[pair % width]), mean)
                for make, lookup in zip(makers, lookups, strict=True)
            ]
            for pair in pairs.tolist()
        ]
        return np.array(per_pair, dtype=np.float64).reshape(-1, len(makers))[pair_codes]

    return run


def _genre_block(step: GenreMultiLabelEncoder, column: str) -> Block:
    """`GenreMultiLabelEncoder.transform` (1.0 at each known genre; as a dense array, which
    stacks to the same matrix), parsed once per distinct genre string."""
    index = {genre: position for position, genre in enumerate(step.genres_)}
    width = len(step.genres_)

    def run(state: State) -> np.ndarray:
        # `fillna("")` then `str(text)` in `_split`: the same strings as `_text`
        codes, distinct = pd.factorize(_text(state[column]))
        parsed = step.split_genres(pd.Series(distinct, dtype=object))
        known = [[index[g] for g in genres if g in index] for genres in parsed]
        rows = np.zeros((len(parsed), width), dtype=np.float64)
        lengths = np.fromiter(map(len, known), dtype=np.int64, count=len(known))
        positions = np.fromiter(itertools.chain.from_iterable(known), dtype=np.int64)
        rows[np.repeat(np.arange(len(known)), lengths), positions] = 1.0
        return rows[codes]

    return run


def _one_hot_block(step: CategoricalOneHotEncoder, columns: list[str]) -> Block:
    """`OneHotEncoder.transform` with handle_unknown="ignore": 1.0 at each known category."""
    check_one_hot_encoder(step)
    encoder = step.encoder_
    if not default_output(encoder) or np.dtype(encoder.dtype) != np.float64:
        raise NotCompilable("one-hot encoder output")
    if not all(isinstance(value, str) for cats in encoder.categories_ for value in cats):
        raise NotCompilable("one-hot encoder with non-text categories")
    lookups, offsets, width = [], [], 0
    for categories in encoder.categories_:
        lookups.append(pd.Index(np.asarray(categories, dtype=object)))
        offsets.append(width)
        width += len(categories)

    def run(state: State) -> sp.csr_matrix:
        found = np.column_stack(
            [
                lookup.get_indexer(np.asarray(state[column], dtype=object))
                for column, lookup in zip(columns, lookups, strict=True)
            ]
        )
        known = found >= 0
        indices = (found + np.asarray(offsets))[known].astype(np.int32)
        indptr = np.zeros(len(found) + 1, dtype=np.int64)
        np.cumsum(known.sum(axis=1), out=indptr[1:])
        data = np.ones(len(indices), dtype=np.float64)
        return sp.csr_matrix((data, indices, indptr), shape=(len(found), width))

    return run


def _passthrough_block(columns: list[str]) -> Block:
    return lambda state: np.column_stack(
        [np.asarray(state[column], dtype=np.float64) for column in columns]
    )


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


def _encode(step: ColumnTransformer, dense: bool) -> Callable[[State], Any]:
    """`ColumnTransformer.transform`: each block's output, stacked as `_hstack` stacks them,
    or (`dense`) the same values written into one dense float64 array."""
    if step.transformer_weights or not default_output(step):
        raise NotCompilable("column transformer with weights or set_output")
    blocks: list[tuple[int, int, Block]] = []
    width = 0
    for entry in column_blocks(step):
        block = _BLOCKS[entry.kind](entry.transformer, entry.columns)
        blocks.append((width, width + entry.width, block))
        width += entry.width
    sparse_output = bool(step.sparse_output_)

    def run(state: State) -> Any:
        state = {
            **state,
            _DOCUMENTS: dict(state.get(_DOCUMENTS, {})),
            _POINTS: dict(state.get(_POINTS, {})),
        }
        outputs = [block(state) for _, _, block in blocks]
        if sparse_output:
            converted = [
                check_array(X, accept_sparse=True, ensure_all_finite=False) for X in outputs
            ]
            return sp.hstack(converted).tocsr()
        return np.hstack([X.toarray() if sp.issparse(X) else X for X in outputs])

    def run_dense(state: State) -> np.ndarray:
        state = {
            **state,
            _DOCUMENTS: dict(state.get(_DOCUMENTS, {})),
            _POINTS: dict(state.get(_POINTS, {})),
        }
        out: np.ndarray | None = None
        for start, stop, block in blocks:
            X = block(state)
            if out is None:
                out = np.zeros((X.shape[0], width), dtype=np.float64)
            out[:, start:stop] = X.toarray() if sp.issparse(X) else X
        if out is None:
            raise NotCompilable("no column blocks")
        return out

    return run_dense if dense else run


# --- frame-level steps, on columns ---------------------------------------------------------


def _select(step: ColumnSelector) -> FrameStep:
    columns = list(step.columns)
    return lambda state: {column: state[column] for column in columns}


def _fix_types(step: DataTypeFixer) -> FrameStep:
    """`DataTypeFixer.transform`: the same pandas calls, word counts from `_word_counts`."""

    def run(state: State) -> State:
        dates = parse_release_dates(_series(state[step.date_column]))
        out: State = {
            "release_year": dates.dt.year.astype("float64").fillna(step.year_fill_).to_numpy(),
            "release_month": dates.dt.month.astype("float64").fillna(step.month_fill_).to_numpy(),
        }
        for column in step.text_columns:
            out[column] = _text(state[column]).str.strip()
        for column in step.length_columns:
            # (the list is cached in `out` for the text blocks, which read the same text)
            docs = _documents(out, column, fill=False)
            out[f"{column}_words"] = _word_counts(docs, _points(out, docs))
        return out

    return run


def _year_bins(step: YearBinning) -> FrameStep:
    edges, labels = list(step.edges), np.asarray(step.labels_, dtype=object)

    def run(state: State) -> State:
        positions = np.digitize(np.asarray(state[step.column], dtype=float), edges)
        return {**state, step.output_column: labels[positions]}

    return run


def _language(step: LanguageGrouper) -> FrameStep:
    def run(state: State) -> State:
        values = _series(state[step.column])
        known = values.isin(step.languages_)
        return {**state, step.column: values.where(known, OTHER_LANGUAGE)}

    return run


def _scale(step: SelectiveStandardScaler) -> FrameStep:
    columns = list(step.scaled_columns_)
    if not all(isinstance(column, str) for column in columns):
        raise NotCompilable("SelectiveStandardScaler fitted on an array")

    def run(state: State) -> State:
        values = np.column_stack([np.asarray(state[c], dtype=float) for c in columns])
        scaled = (values - step.mean_) / step.scale_
        return {**state, **{c: scaled[:, i] for i, c in enumerate(columns)}}

    return run


_FRAME_STEPS: Final[dict[type, Callable[[Any], FrameStep]]] = {
    ColumnSelector: _select,
    DataTypeFixer: _fix_types,
    YearBinning: _year_bins,
    LanguageGrouper: _language,
    SelectiveStandardScaler: _scale,
}


def _model_predict(
    model: Any, cores: int, sparse_output: bool
) -> tuple[Callable[[Any, int], np.ndarray], bool]:
    """The model's predictions for the encoded batch with up to a given number of threads,
    and whether it takes a dense array.

    LightGBM: the fitted booster compiled to native code (`compiled_trees`: bit-identical to
    `booster.predict`, ~5-8x faster) for a dense encoding; for a sparse one, or when it does
    not compile, the booster, as `LGBMRegressor.predict` calls it but for `num_threads`.
    Either way each row is scored by one thread summing its trees in order, so the thread
    count changes no prediction; and on a dense array: LightGBM reads a dense zero and a CSR
    matrix's missing entry alike (as 0.0, and values within 1e-35 of zero as zero either way),
    so the dense rows give the CSR rows' predictions, without building the CSR matrix.
    Prediction-time settings among the estimator's parameters would be passed by `predict` and
    not here: such a model does not compile. Other models: their own `predict`, on what the
    ColumnTransformer would give them (`sparse_output`: a CSR matrix), as XGBoost reads a CSR
    matrix's missing entries as missing, not 0.0. A blend (`VotingRegressor`): its members'
    predictions, each on the encoding it takes, averaged as `VotingRegressor.predict` does.
    """
    if type(model) is LGBMRegressor:
        if any("pred" in name for name in model.get_params()):
            raise NotCompilable("LightGBM prediction-time settings")
        booster = model.booster_
        forest = compile_lightgbm(booster, threads=cores)

        def lightgbm(X: Any, threads: int) -> np.ndarray:
            if forest is not None and not sp.issparse(X):  # wider encodings stay sparse
                return forest.predict(X, threads)
            threads = threads if X.shape[0] >= _THREADED_ROWS else 1
            return np.asarray(booster.predict(X, num_threads=threads))

        return lightgbm, True
    if type(model) is VotingRegressor:  # a blend: each member its own way, then the average
        members = [_model_predict(member, cores, sparse_output) for member in model.estimators_]
        weights = model.weights

        def blend(X: Any, threads: int) -> np.ndarray:
            # a member that needs the ColumnTransformer's CSR matrix gets it from the dense
            # array the others take (as the one-row path does: checked at load)
            as_csr = sp.csr_matrix(X) if sparse_output and not sp.issparse(X) else X
            predicted = [m(X if dense else as_csr, threads) for m, dense in members]
            return average_members([np.ravel(p) for p in predicted], weights)

        return blend, any(dense for _, dense in members)
    return (lambda X, _: np.asarray(model.predict(X))), False


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _build(pipeline: Pipeline) -> BatchPredictor:
    *transforms, model = flatten_steps(pipeline)
    if not transforms or type(transforms[-1]) is not ColumnTransformer:
        raise NotCompilable("the last feature step is not a ColumnTransformer")
    if step_types := [type(s) for s in transforms[:-1] if type(s) not in _FRAME_STEPS]:
        raise NotCompilable(f"unknown step types {step_types}")
    if not all(default_output(step) for step in transforms):
        raise NotCompilable("a step has a set_output configuration")
    frame_steps = [_FRAME_STEPS[type(s)](s) for s in transforms[:-1]]
    cores = _cores()
    encoder = transforms[-1]
    predict, dense = _model_predict(model, cores, bool(encoder.sparse_output_))
    encode = _encode(encoder, dense and len(encoder.get_feature_names_out()) <= _DENSE_WIDTH)

    def run_part(frame: pd.DataFrame, threads: int) -> np.ndarray:
        frame = frame.reset_index(drop=True)
        state: State = {str(column): frame[column] for column in frame.columns}
        # (scikit-learn's config is per thread: set in the thread that runs the part)
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            for step in frame_steps:
                state = step(state)
            return np.ravel(predict(encode(state), threads))

    if cores == 1:
        return lambda frame: run_part(frame, 1)
    pool = ThreadPool(cores, "batchpath")

    def run(frame: pd.DataFrame) -> np.ndarray:
        """Big batches in one contiguous part per core, one thread each: every output row
        depends on its input row alone, so the split changes no value; most of the work
        (numpy, pandas' hash tables, the compiled trees) runs without the GIL."""
        if len(frame) < cores * _PARALLEL_PART_ROWS:
            return run_part(frame, cores)
        bounds = np.linspace(0, len(frame), cores + 1).round().astype(int).tolist()
        parts = [frame.iloc[a:b] for a, b in itertools.pairwise(bounds)]
        return np.concatenate(pool.map(run_part, parts, repeat(1)))

    return run


def tricky_rows() -> pd.DataFrame:
    """Rows that stress the text and date handling: non-ASCII letters and digits, case
    mappings that change length or depend on context (İ, final sigma), every kind of
    whitespace, tokens longer than a short key, empty and missing values, bad dates,
    unknown genres and languages."""
    texts = [
        "",
        "   ",
        "Ünïcödé — 東京物語 été à Paris",
        "İstanbul İİ ΟΔΥΣΣΕΥΣ ΣΣ Σ σς",
        "tabs\tand\nnewlines\r\n and \x0bvertical\x0cfeed",
        "odd\u00a0space\u2003em\u3000ideographic\u200bzero\u2028line\x1cfile\x85next",
        "digits ٣ ² ① 2nd 3rd 10th 1917 foo_bar __ _x x_",
        "Supercalifragilisticexpialidocious antidisestablishmentarianism",
        "THE LOVE of WAR and the war of love, again & again... the end",
        "ﬁnance Straße ǅ ﬀ ŉ",  # case mappings that expand or keep titlecase
        "emoji 🎬🍿 movie 🎬 night",
        "a b c d e f g h i j k l m n o p",
    ]
    dates = ["2020-02-30", "", "1500-01-01", "20200101", " 2021-03-04 ", "2019-7-4", "n/a"]
    genres = [
        " , Drama,,",
        "Sci-Fi",
        "",
        "Drama, Comedy, Drama",
        " Action ,\tThriller",
        "\u00a0Drama",
    ]
    languages = ["zz", "EN", " en ", "", "fr", "xx"]
    rows = []
    for i, text in enumerate(texts):
        rows.append(
            {
                "release_date": dates[i % len(dates)],
                "title": texts[(i + 3) % len(texts)][:40],
                "overview": text,
                "genre": genres[i % len(genres)],
                "original_language": languages[i % len(languages)],
            }
        )
    return pd.DataFrame(rows, columns=list(INPUT_FEATURES)).astype(str)


def _verification_rows(pipeline: Pipeline) -> pd.DataFrame:
    probes = probe_rows(pipeline)
    # Upper-cased and doubled vocabulary text: lower-casing and repeated terms (counts > 1).
    shouted = probes.assign(
        title=probes["title"].str.upper(),
        overview=(probes["overview"] + " " + probes["overview"].str.title()),
    )
    return pd.concat([probes, shouted, tricky_rows()], ignore_index=True)


def compile_batch_predictor(pipeline: Pipeline) -> BatchPredictor | None:
    """A batch predictor equal to `pipeline.predict`, or None where none can be proven equal.

    The returned function takes a DataFrame with (at least) the input columns and returns the
    pipeline's predictions, unclipped. It may raise where the pipeline would. It is checked on
    the verification rows as one batch, row by row in a batch big enough for LightGBM's
    threads and in one big enough to be split between threads, one row alone, with missing
    values, and with "İ" replaced (`str.lower` lengthens it, so with it the tokenizers join
    the lower-cased text anew instead of lower-casing by their letter tables).
    """
    try:
        batch = _build(pipeline)
        rows = _verification_rows(pipeline)
        copies = -(-_THREADED_ROWS // len(rows))
        big = pd.concat([rows] * copies, ignore_index=True)
        missing = rows.head(3).astype(object)
        missing.iloc[1] = None
        # A batch where no "İ" makes the tokenizers join the lower-cased text anew: the rows'
        # other text then lower-cased by the letter tables.
        undotted = rows.replace("İ", "Ì", regex=True)
        checks = [rows, big, rows.iloc[[len(rows) - 1]], missing, undotted]
        pairs = [(batch(frame), np.ravel(pipeline.predict(frame))) for frame in checks]
        # A batch split between threads, against the pipeline's predictions for its rows
        # (every row's prediction is its own: repeated rows, repeated predictions).
        copies = -(-_cores() * _PARALLEL_PART_ROWS // len(rows))
        huge = pd.concat([rows] * copies, ignore_index=True)
        pairs.append((batch(huge), np.tile(pairs[0][1], copies)))
    except (NotCompilable, AttributeError, KeyError, TypeError, ValueError) as err:
        logger.warning("no batch path for this pipeline: %s", err)
        return None
    if any(got.shape != expected.shape for got, expected in pairs):
        logger.warning("batch path returns the wrong shape; disabled")
        return None
    worst = max(float(np.max(np.abs(got - expected))) for got, expected in pairs)
    if not worst <= TOLERANCE:  # also refuses NaN
        logger.warning("batch path disagrees with the pipeline by %g; disabled", worst)
        return None
    return batch

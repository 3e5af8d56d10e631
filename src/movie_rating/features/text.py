"""TF-IDF of a text column: scikit-learn's `TfidfVectorizer`, with a transform that counts a
whole batch at once.

scikit-learn's `transform` runs a Python loop per document that builds every n-gram as a
string and looks it up in the vocabulary (`CountVectorizer._count_vocab`): ~70% of the whole
pipeline's time on a batch, ~0.3 ms for one movie. `TextTfidf` fits exactly as scikit-learn
does (its vocabulary, pruning and IDF), and transforms with the vectorizer's own preprocessor
and tokenizer, then does the rest on arrays: tokens become word ids, an n-gram becomes one
integer key over word ids, looked up among the vocabulary's keys, and the counts are weighted
as `TfidfTransformer.transform` weights them. A batch of under 32 documents (one movie) is
counted with the same word ids and keys in dicts instead, where numpy's per-call costs
outweigh the lookups. Training and serving run this one class (`fit_transform` is `fit`
then `transform`), so there is nothing to keep in sync; unit tests check both batch sizes
against scikit-learn's own `transform`.

Ties among equally frequent terms under `max_features` go to the alphabetically first, not to
numpy's unstable argsort (whose order depends on the CPU's SIMD sort: two machines kept
different words), and the vectorizer pickles to the same bytes on every fit (scikit-learn
caches `id(stop_words)`, a memory address), so `dvc.lock` reproduces.
"""

import re
from collections import Counter
from itertools import chain, compress, repeat
from typing import Any, Final, NamedTuple, Self, cast

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from movie_rating.features.base import check_fitted
from movie_rating.features.columns import single_column

_STOP: Final = -2  # the id of a stop word: dropped before n-grams, as scikit-learn does
DEFAULT_TOKEN_PATTERN: Final = r"(?u)\b\w\w+\b"
# Batches of at least this many documents are tokenized (and their words counted) on bytes and
# their terms counted on arrays; one movie by the regex (and `str.split`), its terms counted
# in dicts (numpy's ~30 calls on a few dozen tokens cost more than the lookups).
_ARRAY_BATCH: Final = 32


class TextTfidf(TfidfVectorizer):
    """`TfidfVectorizer` whose `transform` counts a batch of words on arrays.

    Takes every parameter of `TfidfVectorizer`. Input: one text column (a list, 1-D array,
    Series or one-column frame); missing values are "". Character analyzers ("char",
    "char_wb") keep scikit-learn's `transform`, at scikit-learn's speed.

    Attributes (besides `TfidfVectorizer`'s)
    ----------------------------------------
    word_ids_ : dict of str to int
        Each word of the vocabulary's terms (and each stop word, as -2) to its id.
    unigram_columns_ : ndarray of int64
        Column of each word as a one-word term, -1 where it is none; one more entry, -1.
    ngram_keys_ : dict of int to (ndarray, ndarray)
        For n >= 2: the sorted integer keys of the n-word terms, and their columns.
    """

    def fit(self, raw_documents: Any, y: Any = None) -> Self:
        self.__dict__.pop("_built_analysis", None)  # the settings may have changed
        self.__dict__.pop("_built_lookups", None)
        super().fit(single_column(raw_documents, type(self).__name__))
        if self.analyzer != "word":  # no array kernel for character n-grams
            self.word_ids_: dict[str, int] = {}
            self.ascii_words_: AsciiWords | None = None
            return self
        self.width_ = len(self.vocabulary_)
        terms = [(term.split(" "), column) for term, column in self.vocabulary_.items()]
        words = sorted({word for parts, _ in terms for word in parts})
        self.word_ids_ = {word: i for i, word in enumerate(words)}
        stop = self.get_stop_words()
        # sorted: a frozenset's order depends on the process's hash seed, the pickle must not
        stop_words = [word for word in sorted(stop or ()) if word not in self.word_ids_]
        self.word_ids_.update(dict.fromkeys(stop_words, _STOP))
        base = max(len(words), 1)
        if base ** self.ngram_range[1] >= 2**63:
            raise ValueError("vocabulary too large for integer n-gram keys")
        self.unigram_columns_ = np.full(len(words) + 1, -1, dtype=np.int64)
        grams: dict[int, list[tuple[int, int]]] = {}
        for parts, column in terms:
            ids = [self.word_ids_[part] for part in parts]
            if len(ids) == 1:
                self.unigram_columns_[ids[0]] = column
            else:
                grams.setdefault(len(ids), []).append((_key(ids, base), column))
        self.ngram_keys_ = {
            n: (KeyIndex([k for k, _ in pairs]), np.array([c for _, c in pairs], dtype=np.int64))
            for n, pairs in sorted(grams.items())
        }
        # (accent stripping would see the punctuation a batch reads as spaces)
        default_words = (
            self.preprocessor is None
            and self.tokenizer is None
            and self.token_pattern == DEFAULT_TOKEN_PATTERN
            and self.strip_accents is None
        )
        self.ascii_words_ = AsciiWords(self.word_ids_) if default_words else None
        return self

    def fit_transform(self, raw_documents: Any, y: Any = None) -> sp.csr_matrix:
        return self.fit(raw_documents).transform(raw_documents)

    def transform(self, raw_documents: Any) -> sp.csr_matrix:
        check_fitted(self, "word_ids_")
        if self.analyzer != "word":  # scikit-learn's own loop over character n-grams
            documents = single_column(raw_documents, type(self).__name__)
            return sp.csr_matrix(super().transform(documents))
        return self.weights(raw_documents).tocsr()

    def weights(self, raw_documents: Any) -> "TermWeights":
        """`transform`'s matrix as its stored entries, before scipy builds the matrix: the
        weighting is `TfidfTransformer.transform`'s (log(count) + 1 if sublinear, times the
        IDF, divided by the row's norm summed in column order)."""
        documents = single_column(raw_documents, type(self).__name__)
        rows, columns, counts = self.count(documents)
        values = np.ones(len(counts)) if self.binary else counts.astype(self.dtype)
        if self.sublinear_tf:
            np.log(values, out=values)
            values += 1.0
        if self.use_idf:
            values *= self.idf_[columns]
        if self.norm in ("l1", "l2"):
            sizes = np.abs(values) if self.norm == "l1" else values * values
            norms = np.bincount(rows, weights=sizes, minlength=len(documents))
            values /= (np.sqrt(norms) if self.norm == "l2" else norms)[rows]
        return TermWeights(rows, columns.astype(np.int32), values, (len(documents), self.width_))

    def count(self, documents: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The term counts of the documents (`CountVectorizer.transform`) as the document,
        column and count of each (document, term) pair found, sorted by document, then column."""
        if len(documents) < _ARRAY_BATCH:
            return self._count_few(documents)
        ids, rows = self._word_ids(documents)
        if self.stop_words is not None:
            kept = ids != _STOP
            ids, rows = ids[kept], rows[kept]
        min_n = self.ngram_range[0]
        # every token starts a unigram, and an n-gram where n known words in a row follow
        owners, columns = ([rows], [self.unigram_columns_[ids]]) if min_n == 1 else ([], [])
        known = ids >= 0
        base = max(len(self.unigram_columns_) - 1, 1)
        for n, (keys, key_columns) in self.ngram_keys_.items():
            first = len(ids) - n + 1
            if n < min_n or first <= 0:
                continue
            valid = (rows[:first] == rows[n - 1 :]) & known[:first]
            key = ids[:first]
            for offset in range(1, n):
                valid &= known[offset : offset + first]
                key = key * base + ids[offset : offset + first]
            position = keys.positions(np.where(valid, key, -1))  # keys are >= 0
            owners.append(rows[:first])
            columns.append(np.where(position >= 0, key_columns[position], -1))
        empty = [np.zeros(0, dtype=np.int64)]
        found = np.concatenate(columns or empty)
        hit = found >= 0
        cells = np.concatenate(owners or empty)[hit] * self.width_ + found[hit]
        if len(documents) * self.width_ < 2**31:  # int32 sorts faster
            cells = cells.astype(np.int32)
        # (a stable sort: the cells come in runs sorted by document, which it merges)
        cells = np.sort(cells, kind="stable")
        # where each run of equal cells starts, and where the last one ends
        edges = np.ones(len(cells) + 1, dtype=bool)
        np.not_equal(cells[1:], cells[:-1], out=edges[1:-1])
        bounds = np.flatnonzero(edges)
        starts = bounds[:-1]
        rows, columns_found = np.divmod(cells[starts], self.width_)
        return rows, columns_found, bounds[1:] - starts

    def _count_few(self, documents: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`count` of a few documents, in Python: each term's column looked up in dicts."""
        preprocess, tokenize = self._analysis()
        unigram_columns, ngram_columns = self._lookups()
        base = max(len(unigram_columns) - 1, 1)
        min_n = self.ngram_range[0]
        word_id = self.word_ids_.get
        rows: list[int] = []
        columns: list[int] = []
        counts: list[int] = []
        longest = max(ngram_columns, default=1)
        for row, document in enumerate(documents):
            ids = [word_id(token, -1) for token in tokenize(preprocess(document))]
            if self.stop_words is not None:
                ids = [i for i in ids if i != _STOP]
            found = [unigram_columns[i] for i in ids] if min_n == 1 else []  # (-1 -> -1)
            # the key (`_key`) of the n words from each position, -1 unless all are known: the
            # n-1 words' key and the next word (one key fewer each step: not `strict`)
            keys = ids
            for n in range(2, longest + 1):
                following = zip(keys, ids[n - 1 :], strict=False)
                keys = [k * base + i if k >= 0 and i >= 0 else -1 for k, i in following]
                if n >= min_n and n in ngram_columns:
                    column_of = ngram_columns[n]
                    found += [column_of.get(key, -1) for key in keys if key >= 0]
            tally = Counter(found)
            tally.pop(-1, None)
            terms = sorted(tally.items())
            rows += [row] * len(terms)
            columns += [column for column, _ in terms]
            counts += [count for _, count in terms]
        return np.array(rows, np.int64), np.array(columns, np.int64), np.array(counts, np.int64)

    def _lookups(self) -> tuple[list[int], dict[int, dict[int, int]]]:
        """`unigram_columns_` as a list and each n's n-gram key -> column, built once."""
        built = self.__dict__.get("_built_lookups")
        if built is None:
            ngrams: dict[int, dict[int, int]] = {
                n: dict(zip(keys.keys(), columns.tolist(), strict=True))
                for n, (keys, columns) in self.ngram_keys_.items()
            }
            built = self._built_lookups = (self.unigram_columns_.tolist(), ngrams)
        return built

    def _analysis(self) -> tuple[Any, Any]:
        """The vectorizer's own preprocessor and tokenizer, built once."""
        built = self.__dict__.get("_built_analysis")
        if built is None:
            built = self._built_analysis = (self.build_preprocessor(), self.build_tokenizer())
        return built

    def _word_ids(self, documents: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each token's word id (-1: no vocabulary word, -2: a stop word) and document, the
        tokens of each document in order. ASCII documents of a batch are tokenized on their
        bytes (`AsciiWords`), the others by the vectorizer's own preprocessor and tokenizer."""
        ascii_words = self.ascii_words_
        if ascii_words is None:
            return self._regex_ids(documents, list(range(len(documents))))
        # (punctuation outside ASCII is neither a word character nor lowers to one: as a
        # space it separates the same tokens)
        plain = [d if d.isascii() else _PUNCTUATION.sub(" ", d) for d in documents]
        by_bytes = [i for i, d in enumerate(plain) if d.isascii()]
        ids, rows = self._regex_ids(documents, [i for i, d in enumerate(plain) if not d.isascii()])
        byte_ids, byte_rows = ascii_words.ids([plain[i] for i in by_bytes], self.lowercase)
        byte_rows = np.asarray(by_bytes, dtype=np.int64)[byte_rows]
        return np.concatenate([byte_ids, ids]), np.concatenate([byte_rows, rows])

    def _regex_ids(self, documents: list[str], which: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """`_word_ids` of the documents at `which`, by the vectorizer's own analysis."""
        preprocess, tokenize = self._analysis()
        tokens = [tokenize(preprocess(documents[i])) for i in which]
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        rows = np.repeat(np.asarray(which, dtype=np.int64), lengths)
        flat = list(chain.from_iterable(tokens))
        ids = np.fromiter(map(self.word_ids_.get, flat, repeat(-1)), np.int64, len(flat))
        return ids, rows

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_stop_words_id", None)
        state.pop("_built_analysis", None)  # rebuilt on first use
        state.pop("_built_lookups", None)
        return state

    def _limit_features(
        self,
        X: sp.csr_matrix,
        vocabulary: dict[str, int],
        high: float | None = None,
        low: float | None = None,
        limit: int | None = None,
    ) -> Any:
        pruned = super()._limit_features(X, vocabulary, high, low, None)
        if limit is None:
            return pruned
        counts = pruned[0] if isinstance(pruned, tuple) else pruned
        if counts.shape[1] <= limit:
            return pruned
        # Columns are in alphabetical order here, so a stable sort breaks ties alphabetically.
        frequencies = np.asarray(counts.sum(axis=0)).ravel()
        kept = np.sort(np.argsort(-frequencies, kind="stable")[:limit])
        new_index = {int(old): new for new, old in enumerate(kept)}
        for term, old in list(vocabulary.items()):
            if int(old) in new_index:
                vocabulary[term] = new_index[int(old)]
            else:
                del vocabulary[term]
        limited = counts[:, kept]
        return (limited, set()) if isinstance(pruned, tuple) else limited


def _key(ids: list[int], base: int) -> int:
    key = 0
    for word in ids:
        key = key * base + word
    return key


class KeyIndex:
    """The position of each query among fixed distinct integer keys, -1 where absent, looked
    up in a hash table: pandas' for many queries, a dict for a few (one movie), where a call
    into pandas costs more than the lookups. (A binary search would touch ~15 cache lines a
    query: slower than either once the keys are out of cache, as they are between requests.)"""

    _DICT_QUERIES: Final = 512

    def __init__(self, keys: list[int]) -> None:
        dtype = np.int64 if all(key < 2**63 for key in keys) else np.uint64
        self.hashed = pd.Index(np.array(keys, dtype=dtype))
        if not self.hashed.is_unique:
            raise ValueError("keys must be distinct")

    def __len__(self) -> int:
        return len(self.hashed)

    def keys(self) -> list[int]:
        return cast(list[int], self.hashed.tolist())

    def __getstate__(self) -> dict[str, Any]:
        return {"hashed": self.hashed}  # the dict is rebuilt on first use

    def positions(self, queries: np.ndarray) -> np.ndarray:
        if len(queries) > self._DICT_QUERIES:
            keys = queries.astype(cast(np.dtype, self.hashed.dtype))
            return self.hashed.get_indexer(cast(Any, keys))
        lookup = self.__dict__.get("_lookup")
        if lookup is None:
            lookup = self._lookup = {key: i for i, key in enumerate(self.keys())}
        found = map(lookup.get, queries.tolist(), repeat(-1))
        return np.fromiter(found, dtype=np.intp, count=len(queries))


class TermWeights(NamedTuple):
    """A batch's TF-IDF matrix as its stored entries, row by row (columns sorted in a row)."""

    rows: np.ndarray
    columns: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]

    def tocsr(self) -> sp.csr_matrix:
        """The matrix: float64 values, int32 indices, no stored zeros."""
        indptr = np.zeros(self.shape[0] + 1, dtype=np.int32)
        np.cumsum(np.bincount(self.rows, minlength=self.shape[0]), out=indptr[1:])
        return sp.csr_matrix((self.values, self.columns, indptr), shape=self.shape)

    def __matmul__(self, vector: np.ndarray) -> np.ndarray:
        """`tocsr() @ vector` without the matrix: each row's products summed in column order,
        as scipy's CSR product sums them (a unit test compares the bits)."""
        products = self.values * vector[self.columns]
        return np.bincount(self.rows, weights=products, minlength=self.shape[0]).astype(float)


# The ASCII classes below are computed with numpy's comparisons, a few vectorised passes that
# let a batch's other thread run (`bytes.translate` or indexing a table with every byte hold
# the interpreter lock or run slower). `x - a < n` on uint8 (wrapping) is `a <= x < a + n`.
_BYTE: Final = np.uint8


def _ascii_lower(text: np.ndarray) -> np.ndarray:
    """`str.lower` of ASCII bytes: exactly A-Z -> a-z (bit 5 set)."""
    upper = (text - _BYTE(ord("A"))) < 26
    return text | (upper.view(np.uint8) << 5)


def _ascii_word(text: np.ndarray) -> np.ndarray:
    r"""Where ASCII bytes are `\w`: exactly [0-9A-Za-z_] (bit 5 set maps A-Z onto a-z)."""
    letter = ((text | _BYTE(0x20)) - _BYTE(ord("a"))) < 26
    return letter | ((text - _BYTE(ord("0"))) < 10) | (text == ord("_"))


def _ascii_space(text: np.ndarray) -> np.ndarray:
    r"""Where ASCII bytes are what `str.split()` splits on (`str.isspace`): \t \n \v \f \r
    (9-13), the separators \x1c-\x1f and the space (28-32)."""
    return ((text - _BYTE(9)) < 5) | ((text - _BYTE(28)) < 5)


_KEY_BYTES: Final = 16
# The low `8 * n` bits of a word, for n = 0..8 bytes.
_MASKS: Final = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [2**64 - 1], dtype=np.uint64)
_WORD = re.compile(r"\w")
# Non-ASCII characters that are not word characters and do not lower-case to one (typographic
# quotes, dashes, ellipses, no-break spaces...): read as spaces, they separate the same tokens.
_PUNCTUATION: Final = re.compile(
    "["
    + re.escape(
        "".join(
            chr(code)
            for code in range(0x80, 0x3000)
            if not _WORD.match(chr(code)) and not _WORD.search(chr(code).lower())
        )
    )
    + "]"
)


def word_counts(texts: list[str]) -> np.ndarray:
    """`len(text.split())` of each text, as float64. In a batch, the ASCII texts are counted
    together on their bytes: a word ends at a non-space byte before a space or at a text's
    end. `split` builds every word as a string while holding the interpreter lock, which
    the batch's other thread then waits for; numpy's passes do not hold it. A unit test
    compares the two on random text."""
    if len(texts) < _ARRAY_BATCH:
        return np.array([len(text.split()) for text in texts], dtype=np.float64)
    counts = np.empty(len(texts), dtype=np.float64)
    ascii_texts = [text.isascii() for text in texts]
    others = [i for i, plain in enumerate(ascii_texts) if not plain]
    counts[others] = [len(texts[i].split()) for i in others]
    chosen = list(compress(texts, ascii_texts))
    if chosen:
        # a space before the texts and after each: every word ends (a non-space byte before
        # a space) inside its own text
        data = (" " + " ".join(chosen) + " ").encode("ascii")
        space = _ascii_space(np.frombuffer(data, dtype=np.uint8))
        ends = np.flatnonzero(space[1:] > space[:-1])
        after = np.cumsum(np.fromiter(map(len, chosen), np.int64, len(chosen)) + 1)
        counts[np.array(ascii_texts)] = np.diff(np.searchsorted(ends, after), prepend=0)
    return counts


def _mix(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Two 64-bit words folded into one (splitmix64's finalizer); only a candidate's index."""
    mixed = low * np.uint64(0x9E3779B97F4A7C15) ^ high
    mixed ^= mixed >> np.uint64(30)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(27)
    mixed *= np.uint64(0x94D049BB133111EB)
    return mixed ^ (mixed >> np.uint64(31))


class AsciiWords:
    """The default tokenizer's tokens of ASCII documents, and their word ids, on bytes.

    On ASCII text the token pattern `(?u)\\b\\w\\w+\\b` matches exactly the maximal runs of
    two or more [0-9A-Za-z_] characters, and `str.lower` maps exactly A-Z to a-z, so the
    tokens are found with two 256-entry tables and the run boundaries of the bytes, in
    document order, as the regex finds them (a unit test compares the two on random text).
    A token of up to 16 bytes is its bytes zero-padded to two 64-bit words, which identify it
    exactly (no token holds a zero byte); a word is found by a hash of the two words and then
    compared in full. Longer tokens are looked up by their text.
    """

    def __init__(self, word_ids: dict[str, int]) -> None:
        short = [(w, i) for w, i in word_ids.items() if w.isascii() and len(w) <= _KEY_BYTES]
        self.long_words = {w: i for w, i in word_ids.items() if w.isascii() and len(w) > _KEY_BYTES}
        buffer = np.zeros((len(short), _KEY_BYTES), dtype=np.uint8)
        for row, (word, _) in enumerate(short):
            buffer[row, : len(word)] = np.frombuffer(word.encode("ascii"), dtype=np.uint8)
        pairs = buffer.view("<u8")
        self.low, self.high = pairs[:, 0].copy(), pairs[:, 1].copy()
        self.index = KeyIndex(_mix(self.low, self.high).tolist())
        self.word_ids = np.array([i for _, i in short], dtype=np.int64)

    def ids(self, documents: list[str], lowercase: bool) -> tuple[np.ndarray, np.ndarray]:
        """Each token's word id (-1 where none) and the index of its document."""
        # each document, then a line break (no word character), then zero bytes, so that
        # every token's 16 bytes can be read
        joined = "\n".join([*documents, "\0" * _KEY_BYTES]).encode("ascii")
        text = np.frombuffer(joined, dtype=np.uint8)
        if lowercase:
            text = _ascii_lower(text)
        word = _ascii_word(text)
        # runs of word characters start and end where `word` changes, alternately
        changes = np.flatnonzero(word[1:] != word[:-1]) + 1
        if word[0]:
            changes = np.concatenate([[0], changes])
        starts, lengths = changes[0::2], changes[1::2] - changes[0::2]
        keep = lengths >= 2
        starts, lengths = starts[keep], lengths[keep]
        # the tokens before each document's line break
        breaks = np.cumsum(np.fromiter(map(len, documents), np.int64, len(documents)) + 1) - 1
        per_document = np.diff(np.searchsorted(starts, breaks), prepend=0)
        rows = np.repeat(np.arange(len(documents)), per_document)
        # every 8 bytes from every offset, as a little-endian word (a view, no copy)
        words = np.ndarray((len(text) - 7,), dtype="<u8", buffer=text, strides=(1,))
        kept = np.minimum(lengths, _KEY_BYTES)
        low = words[starts] & _MASKS[np.minimum(kept, 8)]
        high = words[starts + 8] & _MASKS[np.maximum(kept - 8, 0)]
        where = self.index.positions(_mix(low, high))
        found = np.maximum(where, 0)
        hit = (where >= 0) & (lengths <= _KEY_BYTES)
        hit &= (self.low[found] == low) & (self.high[found] == high)
        ids = np.where(hit, self.word_ids[found], -1)
        for token in np.flatnonzero(lengths > _KEY_BYTES).tolist():
            start = int(starts[token])
            word_text = text[start : start + int(lengths[token])].tobytes().decode("ascii")
            ids[token] = self.long_words.get(word_text, -1)
        return ids, rows

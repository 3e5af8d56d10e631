"""The last feature step: each block's transformer on its columns, outputs side by side.

scikit-learn's `ColumnTransformer` does this on DataFrames: per call it validates the frame's
columns, slices a DataFrame per block and stacks the outputs with `scipy.sparse.hstack`, about
1 ms of fixed cost, three times what this whole model may take for one movie. `ColumnBlocks`
keeps its interface (`(name, transformer, columns)` entries, "passthrough", each block's
`fit_transform` when fitted, `<block>__<feature>` names, `sparse_threshold`) on a batch of
named columns (`features.columns`), and writes the matrix `ColumnTransformer` writes: the
same CSR matrix when the output is sparse, the same array when it is dense.
"""

from collections.abc import Sequence
from typing import Any, Final, Self

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone

from movie_rating.features.base import FeatureTransformer
from movie_rating.features.columns import Columns, as_columns, check_columns, n_rows

PASSTHROUGH: Final = "passthrough"
# Up to this many output columns, a sparse stack is built as one dense array (a few
# microseconds) and compressed once; wider ones through scipy's sparse stacking (same matrix,
# less memory).
_DENSE_STACK_WIDTH: Final = 4096

Block = tuple[str, Any, str | Sequence[str]]


class ColumnBlocks(FeatureTransformer):
    """Apply each block's transformer to its columns and stack the outputs as one matrix.

    Parameters
    ----------
    blocks : sequence of (name, transformer or "passthrough", columns)
        ``columns`` is one column name (the transformer gets that 1-D array) or a list of
        them (it gets a batch of those columns). "passthrough" stacks numeric columns as
        they are.
    sparse_threshold : float, default 0.3
        As `ColumnTransformer`'s: when a block's output is sparse, the stack is a CSR matrix
        if its density when fitted (stored entries over all) is below this, else an array;
        0 always stacks an array.

    Attributes
    ----------
    blocks_ : list of (name, fitted transformer or "passthrough", columns)
    widths_ : list of int
        Output columns of each block.
    sparse_output_ : bool
        Whether `transform` returns a CSR matrix (else a float64 array).
    """

    def __init__(self, blocks: Sequence[Block] = (), sparse_threshold: float = 0.3) -> None:
        self.blocks = blocks
        self.sparse_threshold = sparse_threshold

    def fit(self, X: Any, y: Any = None) -> Self:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: Any, y: Any = None) -> sp.csr_matrix | np.ndarray:
        """Each block's `fit_transform` (so out-of-fold blocks give their out-of-fold values)."""
        columns = as_columns(X, type(self).__name__)
        names = [name for name, _, _ in self.blocks]
        if len(set(names)) != len(names) or any("__" in name for name in names):
            raise ValueError(f"block names must be distinct and free of '__', got {names}")
        self.blocks_: list[Block] = []
        outputs = []
        for name, transformer, selection in self.blocks:
            selected = _select(columns, selection, type(self).__name__)
            if transformer == PASSTHROUGH:
                fitted, output = PASSTHROUGH, _passthrough(selected)
            else:
                fitted = clone(transformer)
                output = fitted.fit_transform(selected, y)
            self.blocks_.append((name, fitted, selection))
            outputs.append(output)
        self.widths_ = [output.shape[1] for output in outputs]
        self.sparse_output_ = _density(outputs) < self.sparse_threshold
        self.feature_names_in_ = np.asarray(list(columns), dtype=object)
        self.n_features_in_ = len(columns)
        return _stack(outputs, n_rows(columns), self.sparse_output_)

    def transform(self, X: Any) -> sp.csr_matrix | np.ndarray:
        self._check_fitted()
        columns = as_columns(X, type(self).__name__)
        outputs = []
        for _, transformer, selection in self.blocks_:
            selected = _select(columns, selection, type(self).__name__)
            outputs.append(
                _passthrough(selected)
                if transformer == PASSTHROUGH
                else transformer.transform(selected)
            )
        return _stack(outputs, n_rows(columns), self.sparse_output_)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A `ColumnBlocks` pickled before `sparse_threshold` existed (an exported model of an
        earlier version, in the registry) stacks CSR, as it did when it was fitted."""
        state.setdefault("sparse_threshold", 1.0)
        if "blocks_" in state:
            state.setdefault("sparse_output_", True)
        super().__setstate__(state)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters as `ColumnTransformer` exposes them: `<block>` for a block's
        transformer, `<block>__<parameter>` for its settings (`set_params` takes both)."""
        params = super().get_params(deep=False)
        if deep:
            for name, transformer, _ in self.blocks:
                params[name] = transformer
                if hasattr(transformer, "get_params"):
                    inner = transformer.get_params(deep=True)
                    params.update({f"{name}__{key}": value for key, value in inner.items()})
        return params

    def set_params(self, **params: Any) -> Self:
        if "blocks" in params:
            self.blocks = params.pop("blocks")
        names = {name for name, _, _ in self.blocks}
        replaced = {name: params.pop(name) for name in list(params) if name in names}
        if replaced:
            self.blocks = [(n, replaced.get(n, t), c) for n, t, c in self.blocks]
        return super().set_params(**params)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        self._check_fitted()
        names: list[str] = []
        for name, transformer, selection in self.blocks_:
            inner = (
                ([selection] if isinstance(selection, str) else list(selection))
                if transformer == PASSTHROUGH
                else transformer.get_feature_names_out()
            )
            names += [f"{name}__{feature}" for feature in inner]
        return np.asarray(names, dtype=object)


def _select(columns: Columns, selection: str | Sequence[str], who: str) -> Any:
    if isinstance(selection, str):
        check_columns(columns, [selection], who)
        return columns[selection]
    check_columns(columns, selection, who)
    return {name: columns[name] for name in selection}


def _passthrough(selected: Any) -> np.ndarray:
    arrays = [selected] if isinstance(selected, np.ndarray) else list(selected.values())
    return np.array(arrays, dtype=np.float64).T


def _density(outputs: list[Any]) -> float:
    """`ColumnTransformer`'s density of the stack: 1 unless a block is sparse, else stored
    entries (all of a dense block's) over all entries."""
    if not any(sp.issparse(output) for output in outputs):
        return 1.0
    stored = sum(output.nnz if sp.issparse(output) else output.size for output in outputs)
    return stored / max(sum(output.shape[0] * output.shape[1] for output in outputs), 1)


def _stack(outputs: list[Any], rows: int, sparse: bool) -> sp.csr_matrix | np.ndarray:
    """The outputs side by side, float64: an array, or if `sparse` CSR with int32 indices,
    columns sorted within each row, no stored zeros (what `scipy.sparse.hstack(...).tocsr()`
    gives these blocks)."""
    width = sum(output.shape[1] for output in outputs)
    if sparse and width > _DENSE_STACK_WIDTH:
        blocks = [sp.csr_matrix(output, dtype=np.float64) for output in outputs]
        stacked = sp.hstack(blocks, format="csr", dtype=np.float64)
        stacked.eliminate_zeros()
        return stacked
    dense = np.concatenate(
        [output.toarray() if sp.issparse(output) else output for output in outputs]
        or [np.zeros((rows, 0))],
        axis=1,
        dtype=np.float64,
    )
    if not sparse:
        return dense
    where_rows, where_columns = np.nonzero(dense)
    indptr = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(np.bincount(where_rows, minlength=rows), out=indptr[1:])
    return sp.csr_matrix(
        (dense[where_rows, where_columns], where_columns.astype(np.int32), indptr),
        shape=(rows, width),
    )

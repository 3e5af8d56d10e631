"""LightGBM forests compiled to machine code with llvmlite, bit-identical to `Booster.predict`.

LightGBM's own `predict` on a dense array spends most of its time per row outside the trees
(each row is copied into a sparse row, then into a dense buffer, then walked by an interpreter
over node arrays). Here the forest becomes native code whose branches are the splits. On the
exported 800-tree model and 13.6k encoded rows: 72-81k rows/s on one thread, 128-138k on two,
against LightGBM's 16k and 26-27k (benchmarks/README.md).

Why not lleaves 1.3.0 (an LLVM compiler for LightGBM models): it needs llvmlite < 0.45, took
34-94 s to compile this forest here, and sums each block of 34 trees before adding it to the
rest, so its predictions differ from LightGBM's in the last bits (2e-14 on the test rows).
treelite's GTIL is exact but slower than LightGBM here (5-10k rows/s); tl2cgen needs a C
compiler at load. What this module does, and why it is exact:

* The sum is LightGBM's: one accumulator per row, starting at 0.0, each tree's output added in
  tree order (`GBDT::PredictRaw`). Trees are cache-blocked (every row through trees 0-31, then
  through 32-63, ...) by storing the accumulator between blocks, which changes no rounding.
* A split is LightGBM's `NumericalDecision`: for missing type None a NaN is read as 0.0; for
  Zero, a zero or NaN takes the default direction; for NaN, a NaN does; otherwise
  `value <= threshold`. Thresholds and leaf values are the booster's doubles (`dump_model`
  writes 17 significant digits, which read back exactly) written into the IR as their bits.
* LightGBM's dense-array reader drops values with |x| <= 1e-35f (`kZeroThreshold`, a float),
  so they reach the trees as 0.0; `predict` zeroes them too.
* Only what this covers compiles (`NotCompilable` otherwise): numerical splits, one output per
  iteration, an identity objective (no sqrt target, no averaging, no linear trees).

`compile_lightgbm` then checks the compiled forest against `booster.predict` on probe rows that
put every feature at every threshold, its neighbouring doubles, 0.0, -0.0, +-1e-36, NaN and
+-inf, and returns None (the caller keeps LightGBM) on any difference at all, or when llvmlite
cannot be imported.

Compiling needs no C compiler, only llvmlite's bundled LLVM, once per process and model: the IR
is written as text (llvmlite's IR builder took ~5 s over this forest's ~16k splits) and compiled
without optimisation (-O1 and up, or LLVM's IR passes, took 5-30 s for 20-40% faster code):
0.6-0.9 s for the exported model, ~1.1-1.3 s with the probe check. No cache file is needed.
"""

import ctypes
import logging
import math
import os
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import numpy as np

logger = logging.getLogger(__name__)
T = TypeVar("T")

# LightGBM's kZeroThreshold: its dense reader treats |x| <= this as an absent (zero) value.
# It is the float 1e-35f (1.0000000180025095e-35 as a double), not the double 1e-35.
ZERO_THRESHOLD: Final = float(np.float32(1e-35))
# Trees per cache block: their code stays in L2 while a chunk of rows goes through them.
_TREES_PER_BLOCK: Final = 32
# Rows per call into the compiled code: 256 rows x 68 features x 8 B = 136 KB, in L2.
_ROWS_PER_CHUNK: Final = 256
# Identity objectives: LightGBM's prediction is the raw sum of the trees.
_IDENTITY_OBJECTIVES: Final = frozenset(
    {"regression", "regression_l1", "huber", "fair", "quantile", "mape"}
)


class ThreadPool:
    """A thread pool made on first use in each process: a pool's threads do not survive a
    fork, and a forked copy of a started pool would wait on them forever."""

    def __init__(self, workers: int, name: str) -> None:
        self.workers, self.name = workers, name
        self._pid: int | None = None
        self._pool: ThreadPoolExecutor | None = None

    def map(self, function: Callable[..., T], *iterables: Iterable[Any]) -> list[T]:
        if self._pool is None or self._pid != os.getpid():
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=self.name)
            self._pid = os.getpid()
        return list(self._pool.map(function, *iterables))


class NotCompilable(ValueError):
    """The booster uses something the compiled forest does not reproduce exactly."""


@dataclass(frozen=True)
class _Split:
    feature: int
    threshold: float
    default_left: bool
    missing: str  # "None", "Zero" or "NaN"


def _trees(dump: dict[str, Any]) -> list[dict[str, Any]]:
    """The dumped trees, after checking the model is one LightGBM scores as their plain sum."""
    if dump.get("num_class") != 1 or dump.get("num_tree_per_iteration") != 1:
        raise NotCompilable("more than one output per iteration")
    if dump.get("average_output"):
        raise NotCompilable("averaged output (random forest mode)")
    objective = str(dump.get("objective", "")).split()
    if not objective or objective[0] not in _IDENTITY_OBJECTIVES or "sqrt" in objective[1:]:
        raise NotCompilable(f"objective {dump.get('objective')!r}")
    trees = list(dump["tree_info"])
    if not trees:
        raise NotCompilable("no trees")
    return trees


def _split(node: dict[str, Any], n_features: int) -> _Split:
    if node.get("decision_type") != "<=" or "leaf_coeff" in node:
        raise NotCompilable(f"split {node.get('decision_type')!r}")
    missing = node.get("missing_type")
    if missing not in ("None", "Zero", "NaN"):
        raise NotCompilable(f"missing type {missing!r}")
    feature = int(node["split_feature"])
    if not 0 <= feature < n_features:
        raise NotCompilable("split feature out of range")
    return _Split(feature, float(node["threshold"]), bool(node["default_left"]), str(missing))


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    if "split_index" in node:
        yield from _walk(node["left_child"])
        yield from _walk(node["right_child"])


class CompiledForest:
    """A LightGBM booster's trees as native code. `predict(X)` equals `booster.predict(X)` for a
    float64 array X with the booster's number of columns."""

    def __init__(self, booster: Any, threads: int = 1, dump: dict[str, Any] | None = None) -> None:
        # Imported here: llvmlite is optional at run time (the caller falls back to LightGBM).
        import llvmlite
        import llvmlite.binding as llvm
        from llvmlite import ir

        dump = booster.dump_model() if dump is None else dump  # (~0.3 s: share it)
        self.n_features = int(dump["max_feature_idx"]) + 1
        trees = _trees(dump)
        self.n_trees = len(trees)
        self.threads = max(1, threads)
        if tuple(int(p) for p in llvmlite.__version__.split(".")[:2]) < (0, 45):
            llvm.initialize()  # automatic (and deprecated) from 0.45 on
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        start = time.perf_counter()
        # how this llvmlite spells a pointer to double ("double*" before LLVM's opaque pointers)
        pointer = str(ir.DoubleType().as_pointer())
        module = llvm.parse_assembly(self._module(trees, pointer))
        module.verify()
        target = llvm.Target.from_default_triple()
        # No optimisation: -O1 and up (code generator or IR passes) spend 5-30 s on ~20k
        # branches for 20-40% faster code; -O0 compiles in under a second.
        machine = target.create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=_host_features(llvm), opt=0
        )
        # kept: the engine owns the machine code the function pointer points into
        self._engine = llvm.create_mcjit_compiler(module, machine)
        self._engine.finalize_object()
        self._engine.run_static_constructors()
        address = self._engine.get_function_address("forest")
        # ctypes releases the GIL for the call: row chunks run in parallel threads.
        self._forest = ctypes.CFUNCTYPE(
            None,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int64,
        )(address)
        self.compile_seconds = time.perf_counter() - start
        self._pool = ThreadPool(self.threads, "compiled-trees") if self.threads > 1 else None

    def _module(self, trees: list[dict[str, Any]], pointer: str) -> str:
        """The forest as LLVM IR text: written directly, as llvmlite's IR builder takes seconds
        over ~20k nodes. `forest(x, out, n)` adds each tree's output for rows 0..n-1 of x to
        out, tree by tree in order; it calls one function per block of trees, each a loop over
        the rows with its trees' code inline, and out holds the running sum between blocks."""
        lines: list[str] = []
        blocks = [trees[i : i + _TREES_PER_BLOCK] for i in range(0, len(trees), _TREES_PER_BLOCK)]
        for index, block in enumerate(blocks):
            lines += self._block(index, block, pointer)
        lines += [f"define void @forest({pointer} %x, {pointer} %out, i64 %n) {{", "entry:"]
        lines += [
            f"  call void @block{i}({pointer} %x, {pointer} %out, i64 %n)"
            for i in range(len(blocks))
        ]
        lines += ["  ret void", "}"]
        return "\n".join(lines)

    def _block(self, index: int, trees: list[dict[str, Any]], pointer: str) -> list[str]:
        lines = [
            f"define internal void @block{index}({pointer} %x, {pointer} %out, i64 %n) {{",
            "entry:",
            "  br label %head",
            "head:",
            "  %r = phi i64 [ 0, %entry ], [ %next, %tail ]",
            "  %more = icmp slt i64 %r, %n",
            "  br i1 %more, label %body, label %exit",
            "body:",
            f"  %offset = mul i64 %r, {self.n_features}",
            f"  %row = getelementptr double, {pointer} %x, i64 %offset",
            f"  %slot = getelementptr double, {pointer} %out, i64 %r",
            f"  %sum0 = load double, {pointer} %slot",
            "  br label %t0n0",
        ]
        for t, tree in enumerate(trees):
            leaves: list[tuple[str, str]] = []  # (block, value)
            self._node(tree["tree_structure"], f"t{t}", "n0", pointer, lines, leaves)
            lines.append(f"t{t}end:")
            incoming = ", ".join(f"[ {value}, %{block} ]" for block, value in leaves)
            lines.append(f"  %t{t}value = phi double {incoming}")
            # the sum so far plus this tree: LightGBM's order of additions
            lines.append(f"  %sum{t + 1} = fadd double %sum{t}, %t{t}value")
            lines.append(f"  br label %{f't{t + 1}n0' if t + 1 < len(trees) else 'tail'}")
        lines += [
            "tail:",
            f"  store double %sum{len(trees)}, {pointer} %slot",
            "  %next = add i64 %r, 1",
            "  br label %head",
            "exit:",
            "  ret void",
            "}",
        ]
        return lines

    def _node(
        self,
        node: dict[str, Any],
        tree: str,
        name: str,
        pointer: str,
        lines: list[str],
        leaves: list[tuple[str, str]],
    ) -> None:
        """A split's block. A leaf child needs no block of its own: the split jumps to the
        tree's end with its value (two leaf children: a select of the two), which roughly halves
        the blocks to compile."""
        label = f"{tree}{name}"
        lines.append(f"{label}:")
        if _is_leaf(node):  # a tree without splits (LightGBM keeps them): a constant
            leaves.append((label, _leaf(node)))
            lines.append(f"  br label %{tree}end")
            return
        split = _split(node, self.n_features)
        value, threshold = f"%{label}v", _double(split.threshold)
        lines.append(f"  %{label}p = getelementptr double, {pointer} %row, i64 {split.feature}")
        lines.append(f"  {value} = load double, {pointer} %{label}p")
        if split.missing == "None":
            # NaN is read as 0.0: it goes where 0.0 goes (unordered <= is true for NaN)
            compare = "ule" if split.threshold >= 0.0 else "ole"
            lines.append(f"  %{label}c = fcmp {compare} double {value}, {threshold}")
        else:
            # Zero: 0.0 or NaN is missing (values within 1e-35f of zero were zeroed before the
            # call); NaN: only NaN is
            test = "ueq" if split.missing == "Zero" else "uno"
            lines.append(f"  %{label}m = fcmp {test} double {value}, 0.0")
            lines.append(f"  %{label}b = fcmp ole double {value}, {threshold}")
            default = "true" if split.default_left else "false"
            lines.append(f"  %{label}c = select i1 %{label}m, i1 {default}, i1 %{label}b")
        left, right = node["left_child"], node["right_child"]
        if _is_leaf(left) and _is_leaf(right):
            pair = f"double {_leaf(left)}, double {_leaf(right)}"
            lines.append(f"  %{label}s = select i1 %{label}c, {pair}")
            lines.append(f"  br label %{tree}end")
            leaves.append((label, f"%{label}s"))
            return
        targets = []
        for child, side in ((left, "l"), (right, "r")):
            if _is_leaf(child):
                leaves.append((label, _leaf(child)))
                targets.append(f"%{tree}end")
            else:
                targets.append(f"%{tree}{name}{side}")
        lines.append(f"  br i1 %{label}c, label {targets[0]}, label {targets[1]}")
        for child, side in ((left, "l"), (right, "r")):
            if not _is_leaf(child):
                self._node(child, tree, name + side, pointer, lines, leaves)

    def predict(self, X: np.ndarray, threads: int | None = None) -> np.ndarray:
        """`booster.predict(X)` for a 2-D array, with up to `threads` threads (default: the
        constructor's): the same doubles whatever the count, as each row is summed by one
        call, in tree order."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected an array of shape (n, {self.n_features}), got {X.shape}")
        # a new array, C-ordered: the compiled code reads each row as n_features doubles
        X = np.ascontiguousarray(np.where(np.abs(X) <= ZERO_THRESHOLD, 0.0, X))
        out = np.zeros(len(X), dtype=np.float64)
        starts = range(0, len(X), _ROWS_PER_CHUNK)
        threads = self.threads if threads is None else min(threads, self.threads)
        if self._pool is None or threads == 1 or len(X) < 2 * _ROWS_PER_CHUNK:
            for start in starts:
                self._run(X, out, start)
        else:
            self._pool.map(lambda start: self._run(X, out, start), starts)
        return out

    def _run(self, X: np.ndarray, out: np.ndarray, start: int) -> None:
        stop = min(start + _ROWS_PER_CHUNK, len(X))
        self._forest(
            X.ctypes.data + start * X.strides[0],
            out.ctypes.data + start * out.strides[0],
            stop - start,
        )


def _is_leaf(node: dict[str, Any]) -> bool:
    return "split_index" not in node


def _leaf(node: dict[str, Any]) -> str:
    return _double(float(node["leaf_value"]))


def _double(value: float) -> str:
    """An exact LLVM double constant: its 64 bits in hex."""
    return f"0x{struct.unpack('<Q', struct.pack('<d', value))[0]:016X}"


def _host_features(llvm: Any) -> str:
    try:
        return str(llvm.get_host_cpu_features().flatten())
    except RuntimeError:  # LLVM cannot always read them (some VMs): generic code then
        return ""


def probe_matrix(
    booster: Any, rows: int = 512, seed: int = 0, dump: dict[str, Any] | None = None
) -> np.ndarray:
    """Rows whose features sit on the edges of the booster's splits: every threshold, the
    doubles either side of it, and 0.0, -0.0, +-1e-36, NaN, +-inf, in random combinations, so
    every branch and every missing-value rule is taken somewhere."""
    dump = booster.dump_model() if dump is None else dump
    n_features = int(dump["max_feature_idx"]) + 1
    special = [0.0, -0.0, 1e-36, -1e-36, math.nan, math.inf, -math.inf, 1.0, -1.0]
    candidates: list[set[float]] = [set() for _ in range(n_features)]
    for tree in dump["tree_info"]:
        for node in _walk(tree["tree_structure"]):
            if "split_index" in node and "threshold" in node:
                t = float(node["threshold"])
                feature = int(node["split_feature"])
                candidates[feature].update(
                    (t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf))
                )
    generator = np.random.default_rng(seed)
    X = np.empty((rows, n_features), dtype=np.float64)
    for feature, values in enumerate(candidates):
        pool = np.array(sorted(values) + special, dtype=np.float64)
        X[:, feature] = generator.choice(pool, size=rows)
    return X


def compile_lightgbm(booster: Any, threads: int = 1) -> CompiledForest | None:
    """The booster compiled (`CompiledForest`), or None, with a logged warning, when llvmlite is
    missing, the booster does not compile, or the compiled forest differs from
    `booster.predict` on the probe rows in any bit."""
    try:
        dump = booster.dump_model()
        forest = CompiledForest(booster, threads, dump)
        X = probe_matrix(booster, dump=dump)
        got = forest.predict(X)
        expected = np.asarray(booster.predict(X, num_threads=1), dtype=np.float64)
    except ImportError as error:
        logger.warning("llvmlite is not installed; LightGBM predicts: %s", error)
        return None
    except (NotCompilable, RuntimeError, KeyError, TypeError, ValueError) as error:
        logger.warning("LightGBM model not compiled; LightGBM predicts: %s", error)
        return None
    if got.shape != expected.shape or not np.array_equal(got, expected, equal_nan=True):
        worst = np.max(np.abs(got - expected)) if got.shape == expected.shape else math.nan
        logger.warning("compiled trees differ from LightGBM by %g; LightGBM predicts", worst)
        return None
    logger.info(
        "LightGBM model compiled",
        extra={"trees": forest.n_trees, "compile_seconds": round(forest.compile_seconds, 3)},
    )
    return forest

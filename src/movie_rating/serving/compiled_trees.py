"""LightGBM forests compiled to machine code with llvmlite, bit-identical to `Booster.predict`.

LightGBM's own `predict` spends most of its time per row outside the trees (each row is copied
into a sparse row, then a dense buffer, then walked by an interpreter over node arrays); here
the forest becomes native code whose branches are the splits, ~3x LightGBM's speed. It exists
because the model uses linear leaves (`linear_tree`, chosen by CV), which every maintained
compiler (lleaves, treelite/tl2cgen, ONNX) silently mis-predicts; `benchmarks/README.md` has
the measurements. Why it is exact:

* The sum is LightGBM's: one accumulator per row, starting at 0.0, each tree's output added in
  tree order (`GBDT::PredictRaw`). Trees are cache-blocked (every row through trees 0-31, then
  through 32-63, ...) by storing the accumulator between blocks, which changes no rounding.
* A split is LightGBM's `NumericalDecision`: for missing type None a NaN is read as 0.0; for
  Zero, a zero or NaN takes the default direction; for NaN, a NaN does; otherwise
  `value <= threshold`. Thresholds and leaf values are the booster's doubles (`dump_model`
  writes 17 significant digits, which read back exactly) written into the IR as their bits;
  but `dump_model` writes thresholds beyond +-1e300 (inf, for a split that sends only NaN one
  way) as +-1e300, so those trees' thresholds are read from the model text.
* A linear leaf is `Tree::Predict`'s: its constant plus each coefficient times its feature, in
  the leaf's order, each product rounded before it is added (`fmul` then `fadd`, which LLVM
  does not fuse into a multiply-add under llvmlite's default target options), or its plain
  leaf value if any of those features is NaN. +-inf is plain IEEE arithmetic on both sides.
* LightGBM's dense-array reader drops values with |x| <= 1e-35f (`kZeroThreshold`), so they
  reach the trees as 0.0, in splits and linear leaves alike; `predict` zeroes them too.
* Only what this covers compiles (`NotCompilable` otherwise): numerical splits, one output per
  iteration, an identity objective.

`compile_lightgbm` checks the compiled forest against `booster.predict` on probe rows that put
every feature at every threshold, its neighbouring doubles, 0.0, -0.0, +-1e-36, NaN and +-inf
(with linear leaves, also rows that compute their sums and rows that make them fall back:
`probe_matrix`), and refuses it (`NotCompilable`) on any difference at all. Compiling needs no
C compiler, only llvmlite's bundled LLVM, at load; the IR is written as text. The machine code
is kept in an `ObjectCache` (as numba keeps its own), so the next load of the same booster on
the same machine skips the compiler; cached code is probed like new code, and recompiled if it
differs. Code compiled for the cache is optimised (the code generator's -O1): on the exported
model's 800 trees, 10 s to compile once instead of 0.8 s, for trees that run ~1/3 faster at
every load after (on 973 rows, 8.5 against 12.4 us a row, same run). Without a cache, or with
one that cannot be written, each load compiles at -O0.
"""

import contextlib
import ctypes
import hashlib
import itertools
import logging
import math
import os
import stat
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import llvmlite
import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from platformdirs import user_cache_path

from movie_rating.outputs import write_bytes
from movie_rating.serving.threads import ThreadPool

logger = logging.getLogger(__name__)

# LightGBM's kZeroThreshold: its dense reader treats |x| <= this as an absent (zero) value.
# It is the float 1e-35f (1.0000000180025095e-35 as a double), not the double 1e-35.
ZERO_THRESHOLD: Final = float(np.float32(1e-35))
# `dump_model` writes thresholds through LightGBM's `AvoidInf`: one at or beyond +-1e300 (an inf,
# the upper bound of a feature's last bin, when a split sends only NaN one way) reads as +-1e300.
_CLAMPED: Final = 1e300
# Trees per cache block: their code stays in L2 while a thread's rows go through them.
_TREES_PER_BLOCK: Final = 32
# Linear leaves' terms per block, which ends sooner with them: on 800 trees of 20 leaves and ~70
# terms each, blocks of ~9 trees compiled 10-20% faster than blocks of 32 and ran 15-25% faster.
_TERMS_PER_BLOCK: Final = 640
# A thread's rows go through the forest in one call, so that each block of trees runs over all
# of them while its code is in the CPU's caches: calls of 256 rows each fetched the forest's
# code again every 256 rows (13 us a row at 13,622 rows in one thread, against 7 in one call;
# 4.5 at 110,000 rows, more than the L3 cache holds: the rows stream, the code did not).
# Threads share a batch from this many rows each.
_ROWS_PER_THREAD: Final = 256
# The cache directory's variable: unset, the user's cache directory; set empty, no cache.
CACHE_VARIABLE: Final = "MOVIE_RATING_CACHE_DIR"
# Compiled forests kept in the cache (one model is two: its ratings and its difficulty).
_CACHED_FORESTS: Final = 8
# Identity objectives: LightGBM's prediction is the raw sum of the trees.
_IDENTITY_OBJECTIVES: Final = frozenset(
    {"regression", "regression_l1", "huber", "fair", "quantile", "mape"}
)


class NotCompilable(ValueError):
    """The booster uses something the compiled forest does not reproduce exactly."""


@dataclass(frozen=True)
class _Split:
    feature: int
    threshold: float
    default_left: bool
    missing: str  # "None", "Zero" or "NaN"


@dataclass(frozen=True)
class _TreeIR:
    """One tree's IR as `CompiledForest._node` writes it."""

    name: str  # its blocks' prefix ("t3")
    pointer: str  # how llvmlite spells a pointer to double
    exact: list[float] | None  # its thresholds by split index, when its dump clamped one
    lines: list[str]  # the block function's lines, which the tree's are appended to
    leaves: list[tuple[str, str]]  # (block, value): what the phi at the tree's end picks from


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


def _split(node: dict[str, Any], n_features: int, exact: list[float] | None) -> _Split:
    """A split, its threshold from `exact` (the tree's thresholds by split index, as
    `_exact_thresholds` reads them) when given."""
    if node.get("decision_type") != "<=":
        raise NotCompilable(f"split {node.get('decision_type')!r}")
    missing = node.get("missing_type")
    if missing not in ("None", "Zero", "NaN"):
        raise NotCompilable(f"missing type {missing!r}")
    feature = int(node["split_feature"])
    if not 0 <= feature < n_features:
        raise NotCompilable("split feature out of range")
    threshold = float(node["threshold"])
    if exact is not None:
        dumped, threshold = threshold, exact[int(node["split_index"])]
        if max(-_CLAMPED, min(threshold, _CLAMPED)) != dumped:
            raise NotCompilable("a threshold differs between the model text and its dump")
    return _Split(feature, threshold, bool(node["default_left"]), str(missing))


def _exact_thresholds(text: str, trees: list[dict[str, Any]]) -> dict[int, list[float]]:
    """The thresholds (by split index) of each tree whose dump clamped one to +-1e300, read from
    the model text, which writes them in full (an inf as inf)."""
    clamped = {
        int(tree["tree_index"])
        for tree in trees
        for node in _walk(tree["tree_structure"])
        if node.get("decision_type") == "<=" and abs(float(node["threshold"])) >= _CLAMPED
    }
    if not clamped:
        return {}
    exact: dict[int, list[float]] = {}
    index = -1
    for line in text.splitlines():
        if line.startswith("Tree="):
            index = int(line.removeprefix("Tree="))
        elif line.startswith("threshold=") and index in clamped:
            exact[index] = [float(value) for value in line.removeprefix("threshold=").split()]
    if clamped - exact.keys():
        raise NotCompilable("clamped thresholds missing from the model text")
    return exact


def _blocks(trees: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The trees in cache blocks of `_TREES_PER_BLOCK`, or fewer when their linear leaves have
    more than `_TERMS_PER_BLOCK` terms."""
    blocks: list[list[dict[str, Any]]] = [[]]
    terms = 0
    for tree in trees:
        size = sum(len(node.get("leaf_features", ())) for node in _walk(tree["tree_structure"]))
        if len(blocks[-1]) == _TREES_PER_BLOCK or (blocks[-1] and terms + size > _TERMS_PER_BLOCK):
            blocks.append([])
            terms = 0
        blocks[-1].append(tree)
        terms += size
    return blocks


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    if "split_index" in node:
        yield from _walk(node["left_child"])
        yield from _walk(node["right_child"])


class CompiledForest:
    """A LightGBM booster's trees as native code. `predict(X)` equals `booster.predict(X)` for a
    float64 array X with the booster's number of columns."""

    def __init__(
        self,
        booster: Any,
        threads: int = 1,
        cache: "ObjectCache | None" = None,
        text: str | None = None,
    ) -> None:
        """`text`: the booster's `model_to_string()`, if the caller has it."""
        if tuple(int(p) for p in llvmlite.__version__.split(".")[:2]) < (0, 45):
            llvm.initialize()  # automatic (and deprecated) from 0.45 on
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        start = time.perf_counter()
        self.n_features = booster.num_feature()
        self.threads = max(1, threads)
        text = booster.model_to_string() if text is None else text
        self.n_trees = text.count("\nTree=")
        key = cache.key(text) if cache is not None else ""
        code = cache.read(key) if cache is not None else None
        self.cached = code is not None
        # -O1 (the code generator's; -O2 gave the same code, and LLVM's IR passes are not
        # run) for code that is cached, compiled once: see the module's docstring.
        self.optimised = self.cached or (cache is not None and cache.writable())
        machine = llvm.Target.from_default_triple().create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=_host_features(llvm), opt=int(self.optimised)
        )
        if code is None:
            trees = _trees(booster.dump_model())
            self._exact = _exact_thresholds(text, trees)
            # how this llvmlite spells a pointer to double ("double*" before opaque pointers)
            pointer = str(ir.DoubleType().as_pointer())
            module = llvm.parse_assembly(self._module(trees, pointer))
            module.verify()
            code = machine.emit_object(module)
            if cache is not None and self.optimised:
                cache.write(key, code)
        # kept: the engine owns the machine code the function pointer points into
        self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
        self._engine.add_object_file(llvm.ObjectFileRef.from_data(code))
        self._engine.finalize_object()
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
        blocks = _blocks(trees)
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
            exact = self._exact.get(int(tree["tree_index"]))
            code = _TreeIR(f"t{t}", pointer, exact, lines, [])
            self._node(tree["tree_structure"], code, "n0", {})
            lines.append(f"t{t}end:")
            incoming = ", ".join(f"[ {value}, %{block} ]" for block, value in code.leaves)
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

    def _node(self, node: dict[str, Any], tree: _TreeIR, name: str, loaded: dict[int, str]) -> None:
        """A split's block, or a linear leaf's. A constant leaf child needs no block of its own:
        the split jumps to the tree's end with its value (two constant leaf children: a select
        of the two), which roughly halves the blocks to compile. `loaded` holds the features
        the splits above loaded (feature: value), which a linear leaf reuses."""
        label, pointer, lines, leaves = f"{tree.name}{name}", tree.pointer, tree.lines, tree.leaves
        lines.append(f"{label}:")
        if _is_leaf(node):  # a linear leaf, or a tree without splits (LightGBM keeps them)
            if _is_constant(node):
                leaves.append((label, _leaf(node)))
            else:
                leaves.append((label, self._linear(node, label, pointer, lines, loaded)))
            lines.append(f"  br label %{tree.name}end")
            return
        split = _split(node, self.n_features, tree.exact)
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
        if _is_constant(left) and _is_constant(right):
            pair = f"double {_leaf(left)}, double {_leaf(right)}"
            lines.append(f"  %{label}s = select i1 %{label}c, {pair}")
            lines.append(f"  br label %{tree.name}end")
            leaves.append((label, f"%{label}s"))
            return
        targets = []
        for child, side in ((left, "l"), (right, "r")):
            if _is_constant(child):
                leaves.append((label, _leaf(child)))
                targets.append(f"%{tree.name}end")
            else:
                targets.append(f"%{label}{side}")
        lines.append(f"  br i1 %{label}c, label {targets[0]}, label {targets[1]}")
        for child, side in ((left, "l"), (right, "r")):
            if not _is_constant(child):
                self._node(child, tree, name + side, loaded | {split.feature: value})

    def _linear(
        self,
        node: dict[str, Any],
        label: str,
        pointer: str,
        lines: list[str],
        loaded: dict[int, str],
    ) -> str:
        """A linear leaf's output (LightGBM's `Tree::Predict`): its constant plus each
        coefficient times its feature, in the leaf's order, then the leaf's plain value instead
        if any of those features is NaN. Each product is rounded before it is added: `fmul` and
        `fadd` without fast-math flags, which LLVM does not fuse into a multiply-add. LightGBM
        stops at the first NaN; here every term is computed and a select picks the value, which
        is the same double (the other terms change nothing when the value is picked)."""
        total, values = _double(float(node["leaf_const"])), []
        for i, (feature, coefficient) in enumerate(_terms(node, self.n_features)):
            # mostly split features above the leaf, whose loads dominate its block (a third of
            # the IR to parse and compile, when each leaf loaded its own)
            x = loaded.get(feature)
            if x is None:
                x = f"%{label}x{i}"
                lines.append(
                    f"  %{label}q{i} = getelementptr double, {pointer} %row, i64 {feature}"
                )
                lines.append(f"  {x} = load double, {pointer} %{label}q{i}")
            # `output += coeff * value`, LightGBM's operands in LightGBM's order
            lines.append(f"  %{label}k{i} = fmul double {_double(coefficient)}, {x}")
            lines.append(f"  %{label}a{i} = fadd double {total}, %{label}k{i}")
            total = f"%{label}a{i}"
            values.append(x)
        # one unordered compare tests two features for NaN; their results are or-ed
        nan = ""
        for j in range(0, len(values), 2):
            pair = values[j : j + 2] if j + 1 < len(values) else [values[j], values[j]]
            lines.append(f"  %{label}u{j} = fcmp uno double {pair[0]}, {pair[1]}")
            if nan:
                lines.append(f"  %{label}o{j} = or i1 {nan}, %{label}u{j}")
            nan = f"%{label}o{j}" if nan else f"%{label}u{j}"
        fallback = _double(float(node["leaf_value"]))
        lines.append(f"  %{label}s = select i1 {nan}, double {fallback}, double {total}")
        return f"%{label}s"

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
        threads = self.threads if threads is None else min(threads, self.threads)
        shares = min(threads, len(X) // _ROWS_PER_THREAD)
        if self._pool is None or shares <= 1:
            self._run(X, out, 0, len(X))
        else:
            bounds = np.linspace(0, len(X), shares + 1).round().astype(int).tolist()
            self._pool.map(lambda share: self._run(X, out, *share), itertools.pairwise(bounds))
        return out

    def _run(self, X: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
        self._forest(
            X.ctypes.data + start * X.strides[0],
            out.ctypes.data + start * out.strides[0],
            stop - start,
        )


def _is_leaf(node: dict[str, Any]) -> bool:
    return "split_index" not in node


def _is_constant(node: dict[str, Any]) -> bool:
    """A leaf whose output is one double: an ordinary leaf, or a linear leaf without terms."""
    return _is_leaf(node) and not node.get("leaf_features")


def _leaf(node: dict[str, Any]) -> str:
    """A constant leaf's output: a linear leaf without terms outputs its constant term (LightGBM
    keeps it next to the leaf value; they need not be equal)."""
    return _double(float(node["leaf_const" if "leaf_const" in node else "leaf_value"]))


def _terms(node: dict[str, Any], n_features: int) -> list[tuple[int, float]]:
    """A linear leaf's (feature, coefficient) pairs, in LightGBM's order."""
    features, coefficients = node["leaf_features"], node["leaf_coeff"]
    if len(features) != len(coefficients):
        raise NotCompilable("linear leaf whose features and coefficients differ in number")
    terms = [(int(f), float(c)) for f, c in zip(features, coefficients, strict=True)]
    if not all(0 <= feature < n_features for feature, _ in terms):
        raise NotCompilable("linear leaf feature out of range")
    return terms


def _double(value: float) -> str:
    """An exact LLVM double constant: its 64 bits in hex."""
    return f"0x{struct.unpack('<Q', struct.pack('<d', value))[0]:016X}"


def _host_features(llvm: Any) -> str:
    try:
        return str(llvm.get_host_cpu_features().flatten())
    except RuntimeError:  # LLVM cannot always read them (some VMs): generic code then
        return ""


def probe_matrix(
    booster: Any, rows: int = 512, seed: int = 0, text: str | None = None
) -> np.ndarray:
    """Rows whose features sit on the edges of the booster's splits: every threshold, the
    doubles either side of it, and 0.0, -0.0, +-1e-36, NaN, +-inf, in random combinations, so
    every branch and every missing-value rule is taken somewhere. The thresholds are read from
    the model text (`text`, the booster's `model_to_string()`), which writes them in full, and
    also taken as `dump_model` clamps them (to +-1e300).

    A model with linear leaves gets 2 x `rows` more rows, drawn from the same values but +-inf
    and NaN. In the first `rows` of them, leaves compute their sums (above, an inf or a NaN
    among many features mostly makes the total inf or NaN, or sends a leaf to its plain value);
    in the last, a quarter of the values are then made NaN, so that leaves fall back to their
    plain value (above, NaN is rare in the features leaves multiply: split features, with many
    thresholds to draw from). Each feature a linear leaf multiplies also takes 16 random doubles
    across its thresholds' range (in [-2, 2] for a feature no split uses) and the doubles
    either side of LightGBM's zero threshold."""
    text = booster.model_to_string() if text is None else text
    n_features = booster.num_feature()
    special = [0.0, -0.0, 1e-36, -1e-36, math.nan, math.inf, -math.inf, 1.0, -1.0]
    candidates: list[set[float]] = [set() for _ in range(n_features)]
    linear: set[int] = set()
    split_features: list[str] = []
    for line in text.splitlines():
        name, _, field = line.partition("=")
        if name == "split_feature":
            split_features = field.split()
        elif name == "threshold":
            for column, written in zip(split_features, field.split(), strict=True):
                threshold = float(written)
                for t in {threshold, max(-_CLAMPED, min(threshold, _CLAMPED))}:
                    candidates[int(column)].update(
                        (t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf))
                    )
        elif name == "leaf_features":
            linear.update(int(column) for column in field.split())
    generator = np.random.default_rng(seed)
    pools = [sorted(values) for values in candidates]
    for feature in sorted(linear & set(range(n_features))):
        finite = [v for v in pools[feature] if abs(v) < _CLAMPED] or [-1.0, 1.0]
        low, high = finite[0], finite[-1]
        margin = max(high - low, 1.0) / 2
        values = generator.uniform(low - margin, high + margin, size=16)
        zero = math.nextafter(ZERO_THRESHOLD, math.inf)
        edges = [ZERO_THRESHOLD, -ZERO_THRESHOLD, zero, -zero]
        pools[feature] += [float(v) for v in values if math.isfinite(v)] + edges

    def draw(pools: list[list[float]]) -> np.ndarray:
        X = np.empty((rows, n_features), dtype=np.float64)
        for feature, pool in enumerate(pools):
            X[:, feature] = generator.choice(np.array(pool, dtype=np.float64), size=rows)
        return X

    X = draw([pool + special for pool in pools])
    if not linear:
        return X
    finite_pools = [[v for v in pool + special if math.isfinite(v)] for pool in pools]
    sums, fallbacks = draw(finite_pools), draw(finite_pools)
    fallbacks[generator.random(fallbacks.shape) < 0.25] = math.nan
    return np.vstack([X, sums, fallbacks])


def compile_lightgbm(
    booster: Any, threads: int = 1, cache: "ObjectCache | None" = None
) -> CompiledForest:
    """The booster compiled (`CompiledForest`), its machine code from `cache` when there;
    `NotCompilable`, saying why, when it does not compile or the compiled forest differs from
    `booster.predict` on the probe rows in any bit."""
    try:
        text = booster.model_to_string()
        forest = CompiledForest(booster, threads, cache=cache, text=text)
        X = probe_matrix(booster, text=text)
        expected = np.asarray(booster.predict(X, num_threads=1), dtype=np.float64)
        got = forest.predict(X)
        cached_but_wrong = forest.cached and not np.array_equal(got, expected, equal_nan=True)
        if cache is not None and cached_but_wrong:
            logger.warning("cached LightGBM code differs from the model: compiled again")
            forest = CompiledForest(booster, threads, cache=cache.without_reads(), text=text)
            got = forest.predict(X)
    except (RuntimeError, KeyError, TypeError, ValueError) as error:
        if isinstance(error, NotCompilable):
            raise
        raise NotCompilable(f"{type(error).__name__}: {error}") from error
    if got.shape != expected.shape or not np.array_equal(got, expected, equal_nan=True):
        # inf - inf is NaN (linear leaves give infinite totals): ignored, not reported
        with np.errstate(invalid="ignore"):
            gaps = np.abs(got - expected) if got.shape == expected.shape else np.array([])
        worst = np.nanmax(gaps) if np.any(gaps > 0) else math.nan
        raise NotCompilable(f"the compiled trees differ from LightGBM's by {worst:g}")
    logger.info(
        "LightGBM model compiled",
        extra={
            "trees": forest.n_trees,
            "cached": forest.cached,
            "compile_seconds": round(forest.compile_seconds, 3),
        },
    )
    return forest


class ObjectCache:
    """Compiled forests' machine code in files of one directory, by a key of all that makes
    the code: the booster's model text, this module's source, LLVM's version, the CPU and its
    features. A file is the code's SHA-256 and then the code, written beside and renamed into
    place, so a reader sees a whole file or none, and one whose digest does not match is not
    used. The directory is not used when another user (root aside) owns it or others may write
    to it: its code would run in this process. Nothing here raises: an unreadable or read-only
    cache (a container's) compiles as without one. The oldest files beyond `_CACHED_FORESTS`
    are removed."""

    def __init__(self, directory: Path, reads: bool = True) -> None:
        self.directory = directory
        self.reads = reads

    def without_reads(self) -> "ObjectCache":
        """The same cache, written but not read (to replace a file whose code is wrong)."""
        return ObjectCache(self.directory, reads=False)

    def key(self, model_text: str) -> str:
        parts = [
            _SOURCE_DIGEST,
            str(llvm.llvm_version_info),
            llvm.get_default_triple(),
            llvm.get_host_cpu_name(),
            _host_features(llvm),
            model_text,
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def read(self, key: str) -> bytes | None:
        if not self.reads or not self._usable():
            return None
        path = self.directory / f"{key}.o"
        try:
            data = path.read_bytes()
        except OSError:
            return None
        with contextlib.suppress(OSError):  # a read-only cache is still read
            os.utime(path)  # used now: removed last
        digest, code = data[:32], data[32:]
        return code if hashlib.sha256(code).digest() == digest else None

    def write(self, key: str, code: bytes) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if not self._usable():
                return
            # whole or not at all, readable by a service running as another user
            write_bytes(self.directory / f"{key}.o", hashlib.sha256(code).digest() + code)
            # the forests, not a scratch file another process is writing (".<key>.*.o")
            files = sorted(self.directory.glob("[!.]*.o"), key=lambda path: path.stat().st_mtime)
            for old in files[:-_CACHED_FORESTS]:
                old.unlink(missing_ok=True)
        except OSError as error:
            logger.debug("compiled LightGBM code not cached", extra={"reason": str(error)})

    def writable(self) -> bool:
        """Whether code compiled now would be kept (else it is not worth optimising)."""
        with contextlib.suppress(OSError):
            self.directory.mkdir(parents=True, exist_ok=True)
        return self._usable() and os.access(self.directory, os.W_OK)

    def _usable(self) -> bool:
        """This module's source was read (its digest is part of every key), and the directory
        is safe to run code from."""
        if not _SOURCE_DIGEST:
            return False
        try:
            info = self.directory.stat()
        except OSError:
            return False
        owner_ok = not hasattr(os, "getuid") or info.st_uid in (0, os.getuid())
        return owner_ok and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def cache_from_environment() -> ObjectCache | None:
    """The cache in `$MOVIE_RATING_CACHE_DIR`, else in the user's cache directory
    (`~/.cache/movie-rating` on Linux); None when the variable is set but empty."""
    configured = os.environ.get(CACHE_VARIABLE)
    if configured == "":
        return None
    base = Path(configured) if configured else user_cache_path("movie-rating")
    return ObjectCache(base / "compiled-trees")


def _source_digest() -> str:
    """This module's source, which writes the code: "" (no cache) if it cannot be read."""
    try:
        return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    except OSError:
        return ""


_SOURCE_DIGEST: Final = _source_digest()

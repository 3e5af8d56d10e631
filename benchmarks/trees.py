"""Tree predictors for the exported LightGBM model: LightGBM's own predict, the project's compiled
trees, and the maintained compilers (lleaves, treelite GTIL, tl2cgen) where they are installed.

lleaves 1.3.0 needs llvmlite < 0.45 and the project locks 0.50, so the maintained compilers are
measured in a separate environment, from files this script writes first:

    uv run python benchmarks/trees.py export --out /tmp/trees          # the project's venv
    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install lightgbm==4.7.0 lleaves==1.3.0 \\
        'llvmlite<0.45' treelite==4.8.1 tl2cgen==1.0.0
    /tmp/tv/bin/python benchmarks/trees.py measure --out /tmp/trees     # the other venv
    uv run python benchmarks/trees.py measure --out /tmp/trees         # with compiled trees

`measure` prints, per predictor: rows/s on the encoded test split with 1 and 2 threads (best of
7), one row's p50 latency, compile time, and the largest difference from LightGBM's predict.
"""

import argparse
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from report import best_seconds


def one_row_p50_us(predict: Callable[[np.ndarray], object], X: np.ndarray) -> float:
    for i in range(50):
        predict(X[i : i + 1])
    samples = []
    for i in range(600):
        row = X[i % len(X) : i % len(X) + 1]
        start = time.perf_counter()
        predict(row)
        samples.append(time.perf_counter() - start)
    return float(np.median(samples) * 1e6)


def export(out: Path, models: Path, test: Path) -> None:
    """The exported model's booster (LightGBM's text format) and the test split, encoded."""
    import joblib

    from movie_rating.artifact import read_card
    from movie_rating.data.split import read_movies

    out.mkdir(parents=True, exist_ok=True)
    card = read_card(models)
    pipeline = joblib.load(models / card.artifact.path)
    X = pipeline[:-1].transform(read_movies(test))
    np.save(out / "X.npy", X.toarray() if hasattr(X, "toarray") else np.asarray(X, np.float64))
    model = pipeline[-1]  # the conformal regressor: its point model is the LightGBM one
    getattr(model, "estimator_", model).booster_.save_model(str(out / "model.txt"))
    print(f"wrote {out}/model.txt and X.npy ({X.shape[0]} rows, card {card.version})")


def report(name: str, predict: Callable[..., Any], X: np.ndarray, reference: np.ndarray,
           compile_seconds: float | None = None) -> None:  # fmt: skip
    worst = float(np.max(np.abs(np.ravel(predict(X, 1)) - reference)))
    speeds = [round(len(X) / best_seconds(lambda t=t: predict(X, t))) for t in (1, 2)]
    p50 = one_row_p50_us(lambda row: predict(row, 1), X)
    built = "" if compile_seconds is None else f", compile {compile_seconds:.1f} s"
    print(f"{name}: {speeds[0]:,} / {speeds[1]:,} rows/s (1 / 2 threads), one row p50 "
          f"{p50:.0f} us{built}, max |diff| vs LightGBM {worst:.2g}")  # fmt: skip


def measure(out: Path) -> None:
    import lightgbm

    X = np.load(out / "X.npy")
    booster = lightgbm.Booster(model_file=str(out / "model.txt"))
    reference = booster.predict(X, num_threads=1)
    report("LightGBM predict", lambda X, t: booster.predict(X, num_threads=t), X, reference)
    if importlib.util.find_spec("movie_rating"):
        from movie_rating.serving.compiled_trees import compile_lightgbm

        start = time.perf_counter()
        forest = compile_lightgbm(booster, threads=2)
        seconds = time.perf_counter() - start
        report("compiled trees (llvmlite)", forest.predict, X, reference, seconds)
    if importlib.util.find_spec("lleaves"):
        import lleaves

        model = lleaves.Model(model_file=str(out / "model.txt"))
        start = time.perf_counter()
        model.compile(cache=str(out / "lleaves.o"))
        seconds = time.perf_counter() - start
        report("lleaves", lambda X, t: model.predict(X, n_jobs=t), X, reference, seconds)
    if importlib.util.find_spec("treelite") and importlib.util.find_spec("tl2cgen"):
        import tl2cgen
        import treelite

        try:
            trees = treelite.frontend.load_lightgbm_model(str(out / "model.txt"))
        except treelite.TreeliteError as error:
            print(f"treelite: refuses the model ({str(error).splitlines()[-1][-90:]})")
            return
        report("treelite GTIL", lambda X, t: treelite.gtil.predict(trees, X, nthread=t), X,
               reference)  # fmt: skip
        start = time.perf_counter()
        library = out / "tl2cgen.so"
        tl2cgen.export_lib(trees, toolchain="gcc", libpath=str(library), verbose=False)
        seconds = time.perf_counter() - start
        predictors = {t: tl2cgen.Predictor(str(library), nthread=t) for t in (1, 2)}
        report("tl2cgen (gcc)",
               lambda X, t: predictors[t].predict(tl2cgen.DMatrix(X, dtype="float64")), X,
               reference, seconds)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["export", "measure"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models", type=Path, default=Path("models"), help="export: the model")
    parser.add_argument("--test", type=Path, default=Path("data/processed/test.csv"))
    args = parser.parse_args()
    if args.command == "export":
        export(args.out, args.models, args.test)
    else:
        measure(args.out)


if __name__ == "__main__":
    main()

"""Ablation over time -> reports/ablation.csv and reports/ablation.md.

Each variant of `movie_rating.backtest.ablation` (a part of the winner taken away, an idea
added, a LightGBM setting changed, another family) scored on the random split's 5-fold CV
and on the temporal backtest's cuts, all in one run. Not a DVC stage: ~30 min on 2 cores.
Usage: `uv run python benchmarks/ablation.py` after `dvc repro`; `--only NAME` (repeatable)
rescores those variants and replaces their rows in the reports.
"""

import argparse
import json
from pathlib import Path

import pandas as pd

from movie_rating.backtest.ablation import (
    VARIANTS,
    AblationData,
    WinnerSetup,
    ablation_markdown,
    family_variants,
    finalist_variants,
    score_variant,
)
from movie_rating.backtest.temporal import BacktestParams
from movie_rating.data.split import read_movies, write_movies
from movie_rating.intervals.conformal import IntervalParams
from movie_rating.models.export import read_winner
from movie_rating.outputs import write_text
from movie_rating.params import BaseParams, TrainParams, load_params, parse_section

REPORT_CUT = 2019  # the target row: fit before 2019, score 2019-2022


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--train", type=Path, default=Path("data/processed/train.csv"))
    parser.add_argument("--test", type=Path, default=Path("data/processed/test.csv"))
    parser.add_argument("--winner", type=Path, default=Path("reports/winner.json"))
    parser.add_argument(
        "--winner-hyperparameters", type=Path, default=Path("reports/winner_hyperparameters.json")
    )
    parser.add_argument("--tuning-summary", type=Path, default=Path("reports/tuning/summary.json"))
    parser.add_argument("--out", type=Path, default=Path("reports/ablation"))
    parser.add_argument("--only", action="append", help="a variant's name; repeatable")
    parser.add_argument("--jobs", type=int, default=2, help="fits at once, in threads")
    args = parser.parse_args()

    params = load_params(args.params)
    backtest = parse_section(params, "backtest", BacktestParams)
    setup = WinnerSetup(
        winner=read_winner(args.winner, args.winner_hyperparameters),
        featurize_params=params["featurize"],
        model_params=params["models"],
        seed=parse_section(params, "base", BaseParams).seed,
        intervals=parse_section(params, "intervals", IntervalParams),
    )
    train = read_movies(args.train)
    data = AblationData(
        train=train,
        movies=pd.concat([train, read_movies(args.test)], ignore_index=True),
        cv_folds=parse_section(params, "train", TrainParams).cv_folds,
        cut_years=backtest.cut_years,
        min_votes=backtest.min_votes,
    )
    seed_design = (backtest.seed_design.pipeline, backtest.seed_design.family)
    families = parse_section(params, "train", TrainParams).families
    finalists = json.loads(args.tuning_summary.read_text(encoding="utf-8"))
    variants_all = [
        *VARIANTS,
        *family_variants(families, seed_design),
        *finalist_variants(finalists, setup),
    ]
    variants = variants_all
    if args.only:
        variants = [variant for variant in variants_all if variant.name in args.only]
        if not variants:
            parser.error(f"no variant named {args.only}")
    rows = []
    for variant in variants:
        rows.append(score_variant(variant, setup, data, n_jobs=args.jobs))
        row = rows[-1]
        print(
            f"{variant.name}: CV RMSE {row['cv_rmse']:.4f}, R² {REPORT_CUT}+ "
            f"{row[f'r2_{REPORT_CUT}']:.3f} (rated {row[f'r2_rated_{REPORT_CUT}']:.3f}), "
            f"mean of cuts {row['r2_mean']:.3f} (rated {row['r2_rated_mean']:.3f})",
            flush=True,
        )
    table = pd.DataFrame(rows)
    previous = args.out.with_suffix(".csv")
    if args.only and previous.exists():
        kept = pd.read_csv(previous)
        table = pd.concat([kept[~kept["variant"].isin(table["variant"])], table])
    order = {variant.name: i for i, variant in enumerate(variants_all)}
    table = table[table["variant"].isin(order)].sort_values("variant", key=lambda v: v.map(order))
    write_movies(table, previous)
    write_text(args.out.with_suffix(".md"), ablation_markdown(table, REPORT_CUT, VARIANTS[0].name))


if __name__ == "__main__":
    main()

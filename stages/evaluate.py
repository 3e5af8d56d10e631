"""Stage evaluate: rank every cell (tuned ones too), pick the winner, plot its test."""

import argparse
import json
from pathlib import Path

import pandas as pd

from movie_rating.cli import run_cli
from movie_rating.data.split import read_movies, write_movies
from movie_rating.evaluation.comparison import (
    best_by_pipeline,
    choose_winner,
    error_by_vote_count,
    load_cell_metrics,
    load_fingerprints,
    load_tuned_cells,
    rank_cells,
    residual_frame,
    to_markdown,
    with_ties,
)
from movie_rating.outputs import write_json, write_text
from movie_rating.params import EvaluateParams, TrainParams, load_params, parse_section
from movie_rating.registry import cell_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--metrics-dir", type=Path, required=True)
    parser.add_argument("--predictions-dir", type=Path, required=True)
    parser.add_argument("--tuning-dir", type=Path, required=True)
    parser.add_argument("--tuned-predictions-dir", type=Path, required=True)
    parser.add_argument("--feature-reports", type=Path, required=True, help="featurize's")
    parser.add_argument("--comparison", type=Path, required=True, help="table stem (.csv, .md)")
    parser.add_argument("--winner", type=Path, required=True, help="names and metrics")
    parser.add_argument("--pipelines", type=Path, required=True, help="each pipeline's best")
    parser.add_argument("--winner-hyperparameters", type=Path, required=True)
    parser.add_argument("--plots-dir", type=Path, required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    families = parse_section(params, "train", TrainParams).families
    evaluate = parse_section(params, "evaluate", EvaluateParams)

    untuned = load_cell_metrics(args.metrics_dir, params["featurize"]["pipelines"], families)
    untuned["hyperparameters"] = [params["models"].get(f) or {} for f in untuned["family"]]
    tuned = load_tuned_cells(args.tuning_dir / "summary.json")
    cells = pd.concat([untuned.assign(tuned=False), tuned], ignore_index=True)
    table = rank_cells(cells)
    pipelines = params["featurize"]["pipelines"]
    report = with_ties(table, load_fingerprints(args.feature_reports, pipelines))
    write_movies(report, args.comparison.with_suffix(".csv"))
    write_text(args.comparison.with_suffix(".md"), to_markdown(report))

    write_json(args.pipelines, best_by_pipeline(table))
    best = json.loads(choose_winner(table, cells, evaluate.select_on).to_json())
    chosen = cells[
        (cells["pipeline"] == best["pipeline"])
        & (cells["family"] == best["family"])
        & (cells["tuned"] == best["tuned"])
    ].iloc[0]
    write_json(args.winner, best)
    write_json(args.winner_hyperparameters, chosen["hyperparameters"], sort_keys=True)

    predictions_dir = args.tuned_predictions_dir if best["tuned"] else args.predictions_dir
    predictions = read_movies(
        predictions_dir / f"{cell_name(best['pipeline'], best['family'])}.csv"
    )
    write_movies(residual_frame(predictions), args.plots_dir / "test_predictions.csv")
    write_movies(
        error_by_vote_count(predictions, evaluate.vote_count_buckets),
        args.plots_dir / "error_by_vote_count.csv",
    )


if __name__ == "__main__":
    run_cli(main)

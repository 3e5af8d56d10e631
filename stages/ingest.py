"""Stage ingest: verify the raw TMDB CSV against params.yaml's checksum and copy it to data/raw."""

import argparse
from pathlib import Path

from movie_rating.cli import run_cli
from movie_rating.data.ingest import ingest
from movie_rating.params import IngestParams, load_params, parse_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--source", type=Path, required=True, help="local copy of the raw CSV")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    params = parse_section(load_params(args.params), "ingest", IngestParams)
    ingest(args.source, args.out, params.sha256)


if __name__ == "__main__":
    run_cli(main)

"""Stage render: run every notebook on the pipeline's outputs, write it as Markdown + PNGs."""

import argparse
from pathlib import Path

from movie_rating.cli import run_cli
from movie_rating.reporting.notebooks import render_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notebooks", type=Path, required=True, help="folder of *.ipynb")
    parser.add_argument("--out-dir", type=Path, required=True, help="<name>.md, <name>_files/")
    args = parser.parse_args()
    render_all(args.notebooks, args.out_dir)


if __name__ == "__main__":
    run_cli(main)

"""`python -m movie_rating.model_registry`: the same as `movie-rating register` and `versions`."""

from movie_rating.cli import run_cli
from movie_rating.model_registry.cli import main

if __name__ == "__main__":
    run_cli(lambda: main(prog="python -m movie_rating.model_registry"))

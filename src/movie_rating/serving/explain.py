"""Why a rating: exact Shapley values of the five input fields, from a baseline movie.

A movie's explanation starts from the rating of the baseline movie of its model card (no
title, overview or genre; the training films' most common language and median release date)
and adds one contribution per input field. Each contribution is the field's exact Shapley
value: the change in the rating when the field takes the movie's value instead of the
baseline's, averaged over every order in which the five fields could be filled in. With five
fields that is 2^5 = 32 variants of the movie (each field the movie's or the baseline's),
rated together as one batch on the same path as any batch, and one fixed weight matrix. The
contributions add up to the rating minus the baseline's rating, exactly but for float
rounding (~1e-15).

Written here, not taken from shap: shap 0.54 needs Python 3.12 or later (this project runs on
3.11), and its exact explainer masks numeric arrays only, so five text fields would need a 0/1
re-encoding around the model; the method itself is the 32 ratings and the weights below.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import product
from math import factorial
from typing import Final

import numpy as np

from movie_rating.data.schema import INPUT_FEATURES

FIELDS: Final = INPUT_FEATURES
# Row c of COALITIONS says which fields variant c takes from the movie (the rest: baseline).
COALITIONS: Final = np.array(list(product((False, True), repeat=len(FIELDS))))


def _shapley_weights(coalitions: np.ndarray) -> np.ndarray:
    """(fields, variants) matrix W with Shapley values = W @ ratings of the variants."""
    n = coalitions.shape[1]
    sizes = coalitions.sum(axis=1)
    weights = np.zeros((n, len(coalitions)))
    for field in range(n):
        for index, (members, size) in enumerate(zip(coalitions, sizes, strict=True)):
            if members[field]:  # +w(|S|) for S + field, -w(|S|) for S, S without the field
                weights[field, index] += factorial(size - 1) * factorial(n - size) / factorial(n)
            else:
                weights[field, index] -= factorial(size) * factorial(n - size - 1) / factorial(n)
    return weights


WEIGHTS: Final = _shapley_weights(COALITIONS)


@dataclass(frozen=True)
class Explanations:
    """Per movie: the baseline's rating, each field's contribution (movies x fields, in
    `FIELDS` order), and the rating they add up to."""

    baseline: float
    contributions: np.ndarray
    ratings: np.ndarray


def variants(
    movies: Mapping[str, np.ndarray], baseline: Mapping[str, str]
) -> dict[str, np.ndarray]:
    """Input columns of the 32 variants of each movie, movie after movie."""
    count = len(movies[FIELDS[0]])
    columns = {}
    for position, name in enumerate(FIELDS):
        from_movie = np.tile(COALITIONS[:, position], count)
        values = np.repeat(movies[name], len(COALITIONS))
        values[~from_movie] = baseline[name]
        columns[name] = values
    return columns


def explain(
    rate: Callable[[dict[str, np.ndarray]], np.ndarray],
    movies: Mapping[str, np.ndarray],
    baseline: Mapping[str, str],
) -> Explanations:
    """Explanations of `movies` (input columns) by `rate`, which rates input columns."""
    count = len(movies[FIELDS[0]])
    if count == 0:
        return Explanations(float("nan"), np.empty((0, len(FIELDS))), np.empty(0))
    ratings = rate(variants(movies, baseline)).reshape(count, len(COALITIONS))
    return Explanations(
        baseline=float(ratings[0, 0]),  # the variant with no field from the movie
        contributions=ratings @ WEIGHTS.T,
        ratings=ratings[:, -1],  # the variant with every field from the movie
    )

"""Explanations: exact Shapley values of the five input fields, adding up to the rating."""

import numpy as np
import pytest
from serving_fixtures import movie_inputs, synthetic_movies

from movie_rating.serving.explain import COALITIONS, FIELDS, WEIGHTS, explain

BASELINE = {
    "title": "",
    "overview": "",
    "genre": "",
    "original_language": "en",
    "release_date": "2010-01-01",
}


def columns(rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    return {name: np.array([row[name] for row in rows], dtype=object) for name in FIELDS}


def test_an_additive_model_is_explained_field_by_field():
    """If the rating is a sum of one term per field, each field's Shapley value is its term's
    change from the baseline's."""

    def term(name: str, value: str) -> float:
        return len(value) * (FIELDS.index(name) + 1) / 10

    def rate(cols: dict[str, np.ndarray]) -> np.ndarray:
        count = len(cols[FIELDS[0]])
        return np.array([sum(term(n, cols[n][i]) for n in FIELDS) for i in range(count)])

    movie = {"title": "Up", "overview": "a house flies", "genre": "Family",
             "original_language": "en", "release_date": "2009-05-29"}  # fmt: skip
    explained = explain(rate, columns([movie]), BASELINE)
    expected = [term(n, movie[n]) - term(n, BASELINE[n]) for n in FIELDS]
    np.testing.assert_allclose(explained.contributions[0], expected, atol=1e-12)
    assert explained.contributions[0][FIELDS.index("original_language")] == 0.0


def test_interactions_are_shared_equally():
    """A rating that is 1 only when title and genre both come from the movie: half each."""

    def rate(cols: dict[str, np.ndarray]) -> np.ndarray:
        return ((cols["title"] != "") & (cols["genre"] != "")).astype(float)

    movie = {**BASELINE, "title": "T", "genre": "G"}
    contributions = explain(rate, columns([movie]), BASELINE).contributions[0]
    assert dict(zip(FIELDS, contributions.tolist(), strict=True)) == pytest.approx(
        {"title": 0.5, "genre": 0.5, "overview": 0.0, "original_language": 0.0, "release_date": 0.0}
    )


def test_the_weights_are_shapleys():
    assert COALITIONS.shape == (32, 5)
    assert not COALITIONS[0].any() and COALITIONS[-1].all()
    # efficiency: the contributions of any rating vector sum to v(all) - v(none)
    ratings = np.random.default_rng(0).normal(size=32)
    assert (WEIGHTS @ ratings).sum() == pytest.approx(ratings[-1] - ratings[0], abs=1e-12)


@pytest.mark.parametrize("fixture", ["predictor", "lightgbm_predictor"])
def test_the_models_explanations_add_up_to_its_ratings(request, fixture):
    predictor = request.getfixturevalue(fixture)
    movies = movie_inputs(synthetic_movies(25, seed=5))
    explained = predictor.explain_many(movies)
    ratings = predictor.predict_many(movies)
    np.testing.assert_array_equal(explained.ratings, ratings)
    totals = explained.baseline + explained.contributions.sum(axis=1)
    np.testing.assert_allclose(totals, ratings, rtol=0, atol=1e-6)
    assert np.abs(explained.contributions).max() > 0  # the inputs do move the rating
    baseline_movie = predictor.card.explanation_baseline.model_dump()
    assert explained.baseline == predictor.score_columns(columns([baseline_movie])).ratings[0]
    # a movie in the baseline's language: that field moves nothing
    same = [m for m in movies if m.original_language == baseline_movie["original_language"]]
    language = FIELDS.index("original_language")
    assert same and np.all(predictor.explain_many(same).contributions[:, language] == 0.0)


def test_no_movies_no_explanations(predictor):
    assert predictor.explain_many([]).contributions.shape == (0, len(FIELDS))

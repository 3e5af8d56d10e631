"""The fast path must agree with the pipeline, or not exist."""

import numpy as np
import pandas as pd
import pytest
from serving_fixtures import fit_tiny_pipeline, varied_movies
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler

from movie_rating.serving.fastpath import NotCanonical, compile_row_predictor, probe_rows


def test_compiled_path_equals_pipeline_predict():
    pipeline = fit_tiny_pipeline()
    fast = compile_row_predictor(pipeline)
    assert fast is not None
    rows = [movie.as_row() for movie in varied_movies(60) if "\u00a0" not in movie.title]
    expected = pipeline.predict(pd.DataFrame(rows))
    np.testing.assert_allclose([fast(row) for row in rows], expected, rtol=0, atol=1e-9)


def test_unusual_rows_are_handed_back_to_the_pipeline():
    fast = compile_row_predictor(fit_tiny_pipeline())
    assert fast is not None
    row = varied_movies(60)[0].as_row()
    with pytest.raises(NotCanonical):
        fast({**row, "title": "non\u00a0breaking"})
    with pytest.raises(NotCanonical):
        fast({**row, "release_date": "2020-1-1"})


def test_unknown_steps_get_no_fast_path():
    pipeline = fit_tiny_pipeline()
    features, model = pipeline.steps
    altered = Pipeline([features, ("scale", MaxAbsScaler()), model])
    train = probe_rows(pipeline, n=30)
    altered.fit(train, np.linspace(1, 9, len(train)))
    assert compile_row_predictor(altered) is None


def test_a_disagreeing_fast_path_is_refused(monkeypatch):
    pipeline = fit_tiny_pipeline()
    model = pipeline[-1]
    # Shift the intercept only for single rows: the probe check must catch the drift.
    original = type(model).predict
    monkeypatch.setattr(
        type(model),
        "predict",
        lambda self, X: original(self, X) + (1e-6 if X.shape[0] == 1 else 0.0),
    )
    assert compile_row_predictor(pipeline) is None


def test_probe_rows_cover_the_vocabulary():
    pipeline = fit_tiny_pipeline()
    probes = probe_rows(pipeline)
    assert len(probes) == 24
    assert probes["genre"].str.len().gt(0).any()
    assert set(probes["original_language"]) >= {"en", "zz"}

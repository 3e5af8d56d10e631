"""params.yaml parsing: strict sections, errors that name the full key."""

import pytest

from movie_rating.backtest.temporal import BacktestParams
from movie_rating.features.pipelines import PIPELINES
from movie_rating.intervals.conformal import IntervalParams
from movie_rating.params import (
    BaseParams,
    CleanParams,
    EvaluateParams,
    IngestParams,
    ParamsError,
    SplitParams,
    TrainParams,
    load_params,
    parse_section,
)

SECTIONS = {
    "base": BaseParams,
    "ingest": IngestParams,
    "clean": CleanParams,
    "split": SplitParams,
    "train": TrainParams,
    "evaluate": EvaluateParams,
    "backtest": BacktestParams,
    "intervals": IntervalParams,
}
# Sections parsed elsewhere: by each feature pipeline's and model family's own params model,
# and by the tune stage's (`movie_rating.tuning.space.TuneParams`).
PARSED_ELSEWHERE = {"featurize", "models", "tune"}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_repo_params_sections_parse(section, repo_params):
    parsed = parse_section(repo_params, section, SECTIONS[section])
    assert parsed.model_dump() == repo_params[section]


def test_every_repo_params_section_is_read(repo_params):
    # a section no code parses (as `export` was, once the model's name came from its file) is
    # a setting that silently does nothing
    assert set(repo_params) == set(SECTIONS) | PARSED_ELSEWHERE


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_repo_featurize_blocks_parse(name, repo_params):
    parse_section(repo_params["featurize"], name, PIPELINES[name].params_model, "featurize")


def test_unknown_nested_key_is_named_in_full(repo_params):
    featurize = dict(repo_params["featurize"])
    featurize["v4_trigrams"] = dict(featurize["v4_trigrams"], bogus=1)
    with pytest.raises(ParamsError, match=r"featurize\.v4_trigrams\.bogus"):
        parse_section(featurize, "v4_trigrams", PIPELINES["v4_trigrams"].params_model, "featurize")


def test_unknown_top_level_key_is_named(repo_params):
    params = dict(repo_params, clean=dict(repo_params["clean"], min_votes=3))
    with pytest.raises(ParamsError, match=r"clean\.min_votes"):
        parse_section(params, "clean", CleanParams)


def test_missing_section():
    with pytest.raises(ParamsError, match="'split'"):
        parse_section({"clean": {}}, "split", SplitParams)


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("split", {"test_size": 1.5, "seed": 1}, "split.test_size"),
        ("ingest", {"source_url": "u", "sha256": "ABC"}, "ingest.sha256"),
        ("train", {"cv_folds": 1, "families": []}, "train.cv_folds"),
        ("clean", {"min_vote_count": 1, "min_release_year": 2030}, "clean.max_release_year"),
    ],
)
def test_invalid_values_name_the_key(section, values, key):
    with pytest.raises(ParamsError, match=key.replace(".", r"\.")):
        parse_section({section: values}, section, SECTIONS[section])


def test_year_range_must_be_ordered():
    values = {"min_vote_count": 1, "min_release_year": 2030, "max_release_year": 1900}
    with pytest.raises(ParamsError, match="min_release_year"):
        parse_section({"clean": values}, "clean", CleanParams)


def test_sections_are_frozen(repo_params):
    clean = parse_section(repo_params, "clean", CleanParams)
    with pytest.raises(ValueError, match="frozen"):
        clean.min_vote_count = 5


def test_load_params_rejects_a_non_mapping(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="mapping"):
        load_params(path)

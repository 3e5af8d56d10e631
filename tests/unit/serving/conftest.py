"""Serving unit fixtures: tiny real models (ridge: the fallback path; LightGBM: the compiled
path), one of each per session, copied per test when it is mutated."""

import shutil
from pathlib import Path

import pytest
from serving_fixtures import write_model_dir

from movie_rating.serving.predict import ProductionPredictor


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def lightgbm_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LightGBM model small enough to fit and compile in well under a second."""
    return write_model_dir(tmp_path_factory.mktemp("lightgbm"), family="lightgbm", n_estimators=20)


@pytest.fixture
def models_copy(tiny_models_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model directory, safe to tamper with."""
    return Path(shutil.copytree(tiny_models_dir, tmp_path / "models"))


@pytest.fixture(scope="session")
def predictor(tiny_models_dir: Path) -> ProductionPredictor:
    return ProductionPredictor(tiny_models_dir).load()


@pytest.fixture(scope="session")
def lightgbm_predictor(lightgbm_models_dir: Path) -> ProductionPredictor:
    return ProductionPredictor(lightgbm_models_dir).load()

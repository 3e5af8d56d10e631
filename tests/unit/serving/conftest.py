"""Serving unit fixtures: one tiny real model per session, copied per test when it is mutated."""

import shutil
from pathlib import Path

import pytest
from serving_fixtures import write_model_dir

from movie_rating.serving.predict import ProdArtifacts, ProductionPredictor


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture
def models_copy(tiny_models_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model directory, safe to tamper with."""
    return Path(shutil.copytree(tiny_models_dir, tmp_path / "models"))


@pytest.fixture(scope="session")
def predictor(tiny_models_dir: Path) -> ProductionPredictor:
    return ProductionPredictor(ProdArtifacts(models_dir=tiny_models_dir)).load()

"""The exported model's files: the artifact and the typed card beside it, written atomically,
read back only after the checksum and the inputs agree, refused with messages that name files
and never a folder."""

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from serving_fixtures import tamper
from sklearn.linear_model import Ridge

from movie_rating import artifact as artifact_module
from movie_rating.artifact import (
    CARD_FILE,
    ModelCard,
    ModelIntegrityError,
    load_model,
    read_card,
    save_model,
    verify_artifact,
)
from movie_rating.data.ingest import sha256_of
from movie_rating.data.schema import INPUT_FEATURES, TARGET
from movie_rating.errors import MovieRatingError

X = np.arange(40.0).reshape(20, 2)
Y = X @ [0.5, -0.25] + 3.0


def fields(**changes: Any) -> dict[str, Any]:
    """What the export stage says of a model (`card_fields`), by hand."""
    return {
        "feature_pipeline": "v1_original",
        "model_family": "ridge",
        "hyperparameters": {"alpha": 1.0},
        "target": TARGET,
        "metrics": {"cv_rmse_mean": 0.5, "test_rmse": 0.6},
        "training_data": {"path": "data/processed/train.csv", "sha256": "0" * 64, "rows": 20},
        "libraries": {"scikit-learn": "1.0"},
        "created_at": "1970-01-01T00:00:00+00:00",
    } | changes


def files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def saved(folder: Path, alpha: float = 1.0, name: str = "my_model") -> tuple[Ridge, ModelCard]:
    model = Ridge(alpha=alpha).fit(X, Y)
    return model, save_model(model, folder / f"{name}.joblib", fields())


def refusal(models_dir: Path) -> str:
    """The message of the ModelIntegrityError that loading `models_dir` raises; it names no
    folder of this machine."""
    with pytest.raises(ModelIntegrityError) as caught:
        load_model(models_dir)
    message = str(caught.value)
    assert str(models_dir.parent) not in message, message
    assert isinstance(caught.value, MovieRatingError)
    return message


def rewrite_card(models_dir: Path, **changes: Any) -> None:
    path = models_dir / CARD_FILE
    card = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(card | changes), encoding="utf-8")


def test_save_then_load_round_trip(tmp_path):
    folder = tmp_path / "not-yet-there" / "models"  # made by save_model
    model, card = saved(folder)
    assert files(folder) == sorted(["my_model.joblib", CARD_FILE])
    artifact = folder / "my_model.joblib"
    assert card.name == "my_model"  # the file's stem
    assert card.artifact.path == artifact.name  # a file name, beside the card: no folder
    assert card.artifact.sha256 == sha256_of(artifact)
    assert card.version == card.artifact.sha256[:12]
    assert card.input_features == list(INPUT_FEATURES)
    written = card.model_dump(exclude={"name", "version", "input_features", "artifact"})
    assert written == fields() | dict.fromkeys(("backtest", "intervals", "explanation_baseline"))
    assert read_card(folder) == card
    assert json.loads((folder / CARD_FILE).read_text(encoding="utf-8")) == card.model_dump()

    loaded, loaded_card = load_model(folder)
    assert loaded_card == card
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert verify_artifact(folder, card) == artifact


def test_a_card_carries_the_backtest_and_an_older_card_without_it_still_reads(tmp_path):
    backtest = {"cut_years": [2019, 2020], "rmse": 0.95, "r2": 0.16, "baseline_rmse": 1.04}
    model = Ridge().fit(X, Y)
    card = save_model(model, tmp_path / "m.joblib", fields(backtest=backtest))
    assert card.backtest is not None and card.backtest.model_dump() == backtest
    assert read_card(tmp_path).backtest == card.backtest

    older = json.loads((tmp_path / CARD_FILE).read_text(encoding="utf-8"))
    del older["backtest"]
    (tmp_path / CARD_FILE).write_text(json.dumps(older), encoding="utf-8")
    assert read_card(tmp_path).backtest is None
    load_model(tmp_path)  # still the same artifact: the backtest is not part of its checksum


def test_saving_again_replaces_both_files(tmp_path):
    _, first = saved(tmp_path, alpha=1.0)
    model, second = saved(tmp_path, alpha=50.0)
    assert second.version != first.version
    loaded, card = load_model(tmp_path)
    assert card == second
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert files(tmp_path) == sorted(["my_model.joblib", CARD_FILE])


def test_a_tampered_artifact_is_refused_before_it_is_unpickled(tmp_path, monkeypatch):
    models_dir = tmp_path / "models"
    _, card = saved(models_dir)
    artifact = models_dir / card.artifact.path
    tamper(artifact)

    def unpickle(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a tampered artifact was unpickled")

    monkeypatch.setattr(artifact_module.joblib, "load", unpickle)
    message = refusal(models_dir)
    assert "checksum mismatch" in message
    assert artifact.name in message
    assert card.artifact.sha256 in message and sha256_of(artifact) in message
    assert str(tmp_path) not in message


def test_a_missing_card_or_artifact_is_refused(tmp_path):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    assert f"no {CARD_FILE}" in refusal(models_dir)
    _, card = saved(models_dir)
    (models_dir / card.artifact.path).unlink()
    message = refusal(models_dir)
    assert f"{card.artifact.path} (named by {CARD_FILE}) does not exist" in message


@pytest.mark.parametrize(
    "text",
    ["{not json", "", "[1, 2]", b"\xff\xfe{}"],
    ids=["broken", "empty", "not-an-object", "not-utf8"],
)
def test_a_card_that_is_not_json_of_a_card_is_refused(tmp_path, text):
    models_dir = tmp_path / "models"
    saved(models_dir)
    card = models_dir / CARD_FILE
    if isinstance(text, bytes):
        card.write_bytes(text)
    else:
        card.write_text(text, encoding="utf-8")
    assert f"{CARD_FILE} is not a valid model card" in refusal(models_dir)


def test_a_card_without_a_field_names_it(tmp_path):
    models_dir = tmp_path / "models"
    saved(models_dir)
    card = json.loads((models_dir / CARD_FILE).read_text(encoding="utf-8"))
    del card["version"]
    (models_dir / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    message = refusal(models_dir)
    assert "not a valid model card" in message and "version" in message


@pytest.mark.parametrize("where", ["top", "nested"])
def test_a_card_with_an_unknown_key_is_refused(tmp_path, where):
    models_dir = tmp_path / "models"
    _, card = saved(models_dir)
    if where == "top":
        rewrite_card(models_dir, pipeline_name="something_else")
        key = "pipeline_name"
    else:
        rewrite_card(models_dir, artifact=card.artifact.model_dump() | {"sha512": "0"})
        key = "artifact.sha512"
    message = refusal(models_dir)
    assert "not a valid model card" in message and key in message


def test_a_card_for_other_inputs_is_refused(tmp_path):
    models_dir = tmp_path / "models"
    saved(models_dir)
    rewrite_card(models_dir, input_features=list(reversed(INPUT_FEATURES)))
    message = refusal(models_dir)
    assert "expects inputs" in message
    rewrite_card(models_dir, input_features=[*INPUT_FEATURES, "popularity"])
    assert "popularity" in refusal(models_dir)


def test_the_card_names_a_file_beside_it_never_elsewhere(tmp_path):
    # an artifact path with folders in the card is read as its file name, in the card's folder
    elsewhere = tmp_path / "elsewhere"
    _, other = saved(elsewhere, alpha=7.0)
    models_dir = tmp_path / "models"
    saved(models_dir)
    rewrite_card(
        models_dir,
        artifact={"path": str(elsewhere / other.artifact.path), "sha256": other.artifact.sha256},
    )
    # the file beside the card is read, and it is not the one the card describes
    message = refusal(models_dir)
    assert "checksum mismatch" in message and "elsewhere" not in message
    rewrite_card(models_dir, artifact={"path": "../elsewhere/gone.joblib", "sha256": "0" * 64})
    message = refusal(models_dir)
    assert "gone.joblib (named by" in message and "elsewhere" not in message


def test_an_interrupted_save_leaves_no_artifact_and_no_scratch_file(tmp_path, monkeypatch):
    models_dir = tmp_path / "models"

    def dump(model: Any, path: Any, **kwargs: Any) -> None:
        Path(path).write_bytes(b"half a pickle")  # then the disk fills up
        raise OSError("No space left on device")

    monkeypatch.setattr(artifact_module.joblib, "dump", dump)
    with pytest.raises(OSError, match="No space left"):
        saved(models_dir)
    assert list(models_dir.iterdir()) == []


def test_an_interrupted_save_keeps_the_previous_model(tmp_path, monkeypatch):
    models_dir = tmp_path / "models"
    model, card = saved(models_dir)
    before = {path.name: path.read_bytes() for path in models_dir.iterdir()}

    def dump(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(artifact_module.joblib, "dump", dump)
    with pytest.raises(KeyboardInterrupt):
        saved(models_dir, alpha=50.0)
    assert {path.name: path.read_bytes() for path in models_dir.iterdir()} == before
    loaded, loaded_card = load_model(models_dir)
    assert loaded_card == card
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_save_interrupted_before_the_card_is_refused_not_served(tmp_path, monkeypatch):
    # the new artifact is in place, the old card still describes the old one: loading refuses
    # the pair rather than serve a model under another model's card
    models_dir = tmp_path / "models"
    saved(models_dir)

    def dumps(*args: Any, **kwargs: Any) -> str:
        raise OSError("interrupted")

    monkeypatch.setattr(json, "dumps", dumps)
    with pytest.raises(OSError, match="interrupted"):
        saved(models_dir, alpha=50.0)
    monkeypatch.undo()
    assert files(models_dir) == sorted(["my_model.joblib", CARD_FILE])
    assert "checksum mismatch" in refusal(models_dir)


def test_joblib_is_what_is_written(tmp_path):
    # the artifact is a plain joblib file: `joblib.load` reads it without this package's help
    model, card = saved(tmp_path)
    np.testing.assert_array_equal(
        joblib.load(tmp_path / card.artifact.path).predict(X), model.predict(X)
    )

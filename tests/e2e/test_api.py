"""The HTTP API end to end: a real uvicorn process, a real (tiny) model, httpx on loopback."""

import json
import re
import shutil
import time

import httpx
import numpy as np
import pytest
from conftest import LiveServer, live_server, wait_until_settled
from serving_fixtures import MOVIE, artifact_file, movie_inputs, synthetic_movies

from movie_rating.artifact import CARD_FILE
from movie_rating.serving.predict import ProductionPredictor
from movie_rating.serving.schemas import MovieInput

pytestmark = pytest.mark.e2e

LEAK_MARKERS = ("Traceback", 'File "', "Error(", "site-packages", "pydantic_core")
WAITING = "waiting for the model card and the artifact it names"


def assert_clean(response: httpx.Response) -> None:
    """Every response has a request id and never a stack trace or exception text."""
    assert response.headers.get("x-request-id")
    for marker in LEAK_MARKERS:
        assert marker not in response.text, response.text[:500]


def error_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text[:500]
    assert_clean(response)
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    return {".".join(str(p) for p in e["loc"] if p != "body") for e in body["detail"]}


@pytest.fixture(scope="module")
def client(server: LiveServer):
    assert wait_until_settled(server).status_code == 200
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def local_predictor(e2e_models_dir):
    return ProductionPredictor(e2e_models_dir).load()


def read_card(models_dir) -> dict:
    return json.loads((models_dir / CARD_FILE).read_text(encoding="utf-8"))


def assert_no_server_path(response: httpx.Response, *folders) -> None:
    """The body names no folder of the server (the files are named, never where they are)."""
    for folder in folders:
        assert str(folder) not in response.text, response.text[:500]


def test_health_and_ready(client, server, local_predictor):
    health = client.get("/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    card = read_card(server.models_dir)
    assert ready.json() == {
        "status": "ready",
        "model_version": card["version"],
        "reason": None,
        "serving_path": "fallback",  # the tiny ridge model has no compiled form
        "serving_path_reason": local_predictor.path_reason,
    }
    assert "Ridge" in ready.json()["serving_path_reason"]
    assert_clean(health)
    assert_clean(ready)


def test_model_card_endpoint(client, server, local_predictor):
    card = read_card(server.models_dir)
    response = client.get("/model")
    assert response.status_code == 200
    body = response.json()
    assert body["sha256"] == card["artifact"]["sha256"]
    assert body["version"] == card["version"]
    assert body["family"] == card["model_family"] == "ridge"
    assert body["trained_at"] == card["created_at"]
    assert body["metrics"]["test_rmse"] == card["metrics"]["test_rmse"]
    assert body["backtest"] == card["backtest"] and body["backtest"]["cut_years"]
    intervals = card["intervals"]
    assert body["intervals"] == {
        "method": intervals["method"],
        "default_level": intervals["level"],
        "test_coverage": intervals["test"]["coverage"],
        "test_mean_width": intervals["test"]["mean_width"],
        "backtest_coverage": intervals["backtest_coverage"],
    }
    assert body["explanation_baseline"] == card["explanation_baseline"]
    assert body["stage"] == "prod"
    assert body["name"] == card["name"]
    assert body["serving_path"] == local_predictor.path == "fallback"
    assert body["serving_path_reason"] == local_predictor.path_reason
    assert_no_server_path(response, server.models_dir)


def test_predict_returns_the_models_rating(client, local_predictor):
    response = client.post("/predict", json=MOVIE)
    assert response.status_code == 200
    assert_clean(response)
    body = response.json()
    assert set(body) == {"title", "predicted_rating", "model_version", "interval"}
    assert body["title"] == MOVIE["title"]
    assert body["model_version"] == local_predictor.version
    movie = MovieInput.model_validate(MOVIE)
    assert body["predicted_rating"] == pytest.approx(local_predictor.predict_one(movie), abs=1e-9)
    expected = local_predictor.intervals(local_predictor.score_many([movie]))[0]
    assert body["interval"]["level"] == 0.8  # the card's default
    assert [body["interval"]["low"], body["interval"]["high"]] == pytest.approx(expected)
    assert body["interval"]["low"] <= body["predicted_rating"] <= body["interval"]["high"]


def test_a_higher_level_widens_the_interval_and_explain_adds_up(client, local_predictor):
    narrow = client.post("/predict", json=MOVIE).json()["interval"]
    response = client.post("/predict", params={"level": 0.95, "explain": "true"}, json=MOVIE)
    assert response.status_code == 200
    body = response.json()
    wide = body["interval"]
    assert wide["level"] == 0.95
    assert wide["low"] <= narrow["low"] and wide["high"] >= narrow["high"]
    assert wide["high"] - wide["low"] > narrow["high"] - narrow["low"]
    explanation = body["explanation"]
    assert set(explanation["contributions"]) == set(MOVIE)
    total = explanation["baseline"] + sum(explanation["contributions"].values())
    assert total == pytest.approx(body["predicted_rating"], abs=1e-6)
    assert explanation["baseline"] == pytest.approx(
        local_predictor.explain_many([MovieInput.model_validate(MOVIE)]).baseline, abs=1e-9
    )


def test_batch_results_carry_intervals_and_explanations(client, local_predictor):
    frame = synthetic_movies(4, seed=12)
    movies = [m.model_dump(mode="json") for m in movie_inputs(frame)]
    response = client.post("/predict/batch", params={"explain": True}, json={"movies": movies})
    assert response.status_code == 200
    results = response.json()["results"]
    scored = local_predictor.score_many(movie_inputs(frame))
    bounds = local_predictor.intervals(scored)
    for result, rating, (low, high) in zip(results, scored.ratings, bounds, strict=True):
        assert result["interval"] == pytest.approx({"low": low, "high": high, "level": 0.8})
        parts = result["explanation"]["contributions"].values()
        assert result["explanation"]["baseline"] + sum(parts) == pytest.approx(rating, abs=1e-6)
    plain = client.post("/predict/batch", json={"movies": movies}).json()["results"]
    assert all("explanation" not in result for result in plain)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"level": 1.5}, "level"),
        ({"level": 0.2}, "level"),
        ({"level": "high"}, "level"),
        ({"explain": "maybe"}, "explain"),
    ],
)
@pytest.mark.parametrize("route", ["/predict", "/predict/batch"])
def test_an_invalid_level_or_explain_is_a_422_naming_it(client, route, query, field):
    body = MOVIE if route == "/predict" else {"movies": [MOVIE]}
    response = client.post(route, params=query, json=body)
    assert error_fields(response) == {f"query.{field}"}


def test_batch_preserves_request_order(client, local_predictor):
    frame = synthetic_movies(5, seed=11)
    movies = [m.model_dump(mode="json") for m in movie_inputs(frame)]
    response = client.post("/predict/batch", json={"movies": movies})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["title"] for r in results] == [m["title"] for m in movies]
    expected = local_predictor.predict_many(movie_inputs(frame))
    np.testing.assert_allclose([r["predicted_rating"] for r in results], expected, atol=1e-9)
    reversed_response = client.post("/predict/batch", json={"movies": movies[::-1]})
    reversed_ratings = [r["predicted_rating"] for r in reversed_response.json()["results"]]
    np.testing.assert_allclose(reversed_ratings, expected[::-1], atol=1e-9)


def test_batch_limits(client):
    assert error_fields(client.post("/predict/batch", json={"movies": []})) == {"movies"}
    over_cap = client.post("/predict/batch", json={"movies": [MOVIE] * 6})
    assert error_fields(over_cap) == {"movies"}
    assert "at most 5" in over_cap.text
    bad_item = client.post("/predict/batch", json={"movies": [MOVIE, {**MOVIE, "title": ""}]})
    assert error_fields(bad_item) == {"movies.1.title"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"overview": "x" * 100_000}, "overview"),
        ({"release_date": "0000-13-45"}, "release_date"),
        ({"release_date": "1700-01-01"}, "release_date"),
        ({"title": 42}, "title"),
        ({"genre": ["Drama"]}, "genre"),
        ({"original_language": "EN"}, "original_language"),
        ({"rating_hint": 9}, "rating_hint"),
        ({"title": None}, "title"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(client, change, field):
    assert error_fields(client.post("/predict", json={**MOVIE, **change})) == {field}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected(client, literal):
    body = json.dumps({**MOVIE, "overview": "PLACEHOLDER"}).replace('"PLACEHOLDER"', literal)
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert error_fields(response) == {"overview"}


def test_malformed_json_and_wrong_body_types(client):
    broken = client.post(
        "/predict", content=b'{"title": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert_clean(broken)
    assert client.post("/predict", json=[MOVIE]).status_code == 422
    assert client.post("/predict/batch", json=MOVIE).status_code == 422


def test_oversized_bodies_are_413(client):
    huge = b'{"title": "' + b"x" * 10_000_000 + b'"}'
    declared = client.post("/predict", content=huge, headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert_clean(declared)

    def chunks():  # no Content-Length: the server must count what arrives
        for _ in range(20):
            yield b"x" * 500_000

    streamed = client.post(
        "/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413
    assert_clean(streamed)


def test_request_id_is_echoed_and_logged(client, server):
    given = client.get("/health", headers={"X-Request-ID": "trace-abc.123"})
    assert given.headers["x-request-id"] == "trace-abc.123"
    hostile = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert hostile.headers["x-request-id"] != "bad id\twith spaces"
    response = client.post("/predict", json=MOVIE)
    request_id = response.headers["x-request-id"]
    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("request_id") == request_id]
    assert access and access[-1]["path"] == "/predict" and access[-1]["status"] == 200
    assert all("request_id" in line for line in lines)


def test_metrics(client, local_predictor):
    client.post("/predict", json=MOVIE)
    text = client.get("/metrics").text
    assert 'handler="/predict"' in text
    assert "http_request_duration_seconds" in text
    count = [
        line
        for line in text.splitlines()
        if line.startswith('movie_rating_predictions_total{endpoint="predict"}')
    ]
    assert count and float(count[0].split()[-1]) >= 1
    assert f'version="{local_predictor.version}"' in text
    assert "movie_rating_model_info{" in text
    info = [line for line in text.splitlines() if line.startswith("movie_rating_model_info{")]
    assert len(info) == 1 and 'serving_path="fallback"' in info[0]
    # the tiny ridge model serves off the compiled path: every movie it rates is counted
    fallback = [
        line
        for line in text.splitlines()
        if line.startswith('movie_rating_fallback_predictions_total{endpoint="predict"}')
    ]
    assert fallback and float(fallback[0].split()[-1]) == float(count[0].split()[-1])


def test_docs_and_openapi_examples(client):
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html.text)
        assert assets and all(asset.startswith("/") for asset in assets), assets  # no CDN
        assert all(client.get(asset).status_code == 200 for asset in assets)
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/predict/batch", "/health", "/ready", "/model"} <= set(schema["paths"])
    assert schema["components"]["schemas"]["MovieInput"]["examples"]
    assert schema["components"]["schemas"]["MovieInput"]["additionalProperties"] is False


def test_cors_is_off_by_default(client):
    response = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_api_key_is_enforced_when_configured(keyed_server):
    assert wait_until_settled(keyed_server).status_code == 200
    with httpx.Client(base_url=keyed_server.url, timeout=30) as http:
        assert http.get("/health").status_code == 200
        assert http.get("/ready").status_code == 200
        for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}):
            denied = http.post("/predict", json=MOVIE, headers=headers)
            assert denied.status_code == 401
            assert_clean(denied)
            assert http.get("/model", headers=headers).status_code == 401
        allowed = http.post("/predict", json=MOVIE, headers={"X-API-Key": "s3cret-key"})
        assert allowed.status_code == 200
        assert http.get("/model", headers={"X-API-Key": "s3cret-key"}).status_code == 200


def test_ready_flips_from_503_to_200_when_the_model_arrives(tmp_path, e2e_models_dir):
    empty = tmp_path / "models"
    empty.mkdir()
    with live_server(tmp_path, empty, model_poll_seconds="0.2") as server:
        waiting = httpx.get(f"{server.url}/ready", timeout=5)
        assert waiting.status_code == 503
        assert waiting.json()["reason"] == WAITING
        assert waiting.json()["serving_path"] is None
        refused = httpx.post(f"{server.url}/predict", json=MOVIE, timeout=5)
        assert refused.status_code == 503
        assert WAITING in refused.json()["detail"]
        for response in (waiting, refused):
            assert_clean(response)
            assert_no_server_path(response, empty, tmp_path)
        # As a deployment would: the artifact first, the card (what it is checked against) last.
        shutil.copy(artifact_file(e2e_models_dir), empty)
        shutil.copy(e2e_models_dir / CARD_FILE, empty)
        deadline = time.monotonic() + 30
        while (ready := httpx.get(f"{server.url}/ready", timeout=5)).status_code != 200:
            assert time.monotonic() < deadline, ready.json()
            time.sleep(0.1)
        assert ready.json()["serving_path"] == "fallback"
        assert httpx.post(f"{server.url}/predict", json=MOVIE, timeout=5).status_code == 200


def test_tampered_model_keeps_the_service_up_but_not_ready(tampered_server):
    ready = wait_until_settled(tampered_server)
    assert ready.status_code == 503
    artifact = artifact_file(tampered_server.models_dir).name
    assert "checksum mismatch" in ready.json()["reason"]
    assert artifact in ready.json()["reason"]  # the file is named, not where it is
    assert ready.json()["serving_path"] is None
    assert_clean(ready)
    with httpx.Client(base_url=tampered_server.url, timeout=30) as http:
        assert http.get("/health").status_code == 200
        refused = http.post("/predict", json=MOVIE)
        assert refused.status_code == 503
        assert "not ready" in refused.json()["detail"]
        assert "checksum mismatch" in refused.json()["detail"]
        assert_clean(refused)
        batch = http.post("/predict/batch", json={"movies": [MOVIE]})
        model = http.get("/model")
        assert batch.status_code == 503 and model.status_code == 503
    for response in (ready, refused, batch, model):
        assert_no_server_path(response, tampered_server.models_dir, tampered_server.log.parent)
    logged = [
        json.loads(line)
        for line in tampered_server.log_text().splitlines()
        if '"model_refused"' in line
    ]
    assert logged and logged[0]["level"] == "ERROR"
    assert "checksum mismatch" in logged[0]["message"]

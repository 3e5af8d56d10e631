"""The HTTP benchmark's floor (`benchmarks/load.py`): the real app with a constant model. It
must answer what the benchmark sends, or the floor measures error responses (it did, after
the service began asking the predictor for intervals)."""

import asyncio
import importlib
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
MOVIE = {
    "title": "Oppenheimer",
    "overview": "A physicist builds a bomb.",
    "genre": "Drama, History",
    "original_language": "en",
    "release_date": "2023-07-19",
}


@pytest.fixture
def load(monkeypatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the script imports its sibling `report`
    return importlib.import_module("load")


def test_the_floor_answers_one_movie_and_a_batch_with_its_constant(load, tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIE_RATING_MODELS_DIR", str(tmp_path))  # no model: the constant
    with TestClient(load.floor_app()) as client:
        one = client.post("/predict", json=MOVIE)
        batch = client.post("/predict/batch", json={"movies": [MOVIE, MOVIE]})
    assert one.status_code == 200, one.text
    assert one.json()["predicted_rating"] == 5.0
    assert one.json()["interval"]["low"] == 4.0 and one.json()["interval"]["high"] == 6.0
    assert batch.status_code == 200, batch.text
    assert [r["predicted_rating"] for r in batch.json()["results"]] == [5.0, 5.0]


def test_the_client_counts_a_closed_connection_and_goes_on(load):
    """A 500 that closes the connection, then a connection closed without an answer: each is
    counted and the next request is sent on a new connection (the client used to stop with a
    parse error)."""
    answers = [
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
        b"error",
        None,  # closed unanswered
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    ]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers:
            await reader.readuntil(b"\r\n\r\n")
            answer = answers.pop(0)
            if answer is None:
                break
            writer.write(answer)
            await writer.drain()
            if b"close" in answer:
                break
        writer.close()

    async def run() -> list[int]:
        server = await asyncio.start_server(serve, load.HOST, 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(load.HOST, port)
        connection = load.Connection(port, reader, writer)
        request = f"GET / HTTP/1.1\r\nHost: {load.HOST}\r\n\r\n".encode()
        statuses = [await connection.request(request) for _ in range(3)]
        connection.close()
        server.close()
        return statuses

    assert asyncio.run(run()) == [500, load.CLOSED, 200]

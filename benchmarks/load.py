"""HTTP load benchmark of the prediction service, on loopback, in one bounded run (~3 min).

Starts uvicorn itself (2 workers), alternately with a constant "model" (the HTTP floor: the
same app, middleware and validation, no prediction) and with the real artifact, twice each
(`--rounds`), and keeps each one's best run. Measures
closed-loop single-row /predict throughput at concurrency 32, p50/p99 latency at a fixed
offered rate (open loop, latency counted from the scheduled send time, so queueing shows),
batch rows/s over HTTP, and the in-process predict limit. The client is raw asyncio streams
with HTTP/1.1 keep-alive, so the generator leaves the CPU to the server.

Usage (after `dvc repro`): `uv run python benchmarks/load.py [--models-dir models]`.
Results are merged into reports/benchmarks.json under the key "http".
"""

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from statistics import median, quantiles
from types import SimpleNamespace
from typing import Any

import numpy as np
from report import merge_into_report

from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.data.split import read_movies
from movie_rating.serving.predict import ProductionPredictor, Scored
from movie_rating.serving.schemas import MovieInput

HOST = "127.0.0.1"
CLOSED = 0  # the "status" of a request the server closed the connection on, unanswered
SETTLE_SECONDS = 3.0  # after the first worker is ready, for the others to start accepting


# --- the floor: the real app with a constant-returning model (benchmark-only) --------------
class ConstantPredictor:
    """What the service calls on a `ProductionPredictor` to rate movies, for a constant rating
    and a constant interval (a unit test serves /predict and /predict/batch with it)."""

    version = "constant"
    path = "compiled"  # rated on the event loop, as the fast path is
    path_reason = None
    default_level = 0.8
    card = SimpleNamespace(name="constant", model_family="constant")

    def score_many(self, movies: list[MovieInput]) -> Scored:
        return Scored(np.full(len(movies), 5.0), np.zeros(len(movies)))

    def intervals(self, scored: Scored, level: float | None = None) -> np.ndarray:
        return np.column_stack([scored.ratings - 1.0, scored.ratings + 1.0])


def floor_app() -> Any:
    """`uvicorn --factory load:floor_app`: create_app with the model swapped for a constant."""
    from movie_rating.serving.app import create_app

    app = create_app()
    service = app.state.service

    def load_constant() -> None:
        service.serve(ConstantPredictor())

    service.load_model = load_constant
    return app


# --- server process ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def uvicorn(factory: str, models_dir: Path, workers: int) -> Iterator[int]:
    port = free_port()
    env = {
        **os.environ,
        "MOVIE_RATING_MODELS_DIR": str(models_dir.resolve()),
        "MOVIE_RATING_LOG_LEVEL": "WARNING",
        "MOVIE_RATING_MAX_BODY_BYTES": "10000000",
    }
    command = [
        sys.executable, "-m", "uvicorn", "--factory", factory, "--app-dir",
        str(Path(__file__).parent), "--host", HOST, "--port", str(port),
        "--workers", str(workers), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        process = subprocess.Popen(command, cwd=scratch, env=env)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                with (
                    contextlib.suppress(OSError),
                    urllib.request.urlopen(f"http://{HOST}:{port}/ready", timeout=2),
                ):
                    break
                time.sleep(0.25)
            else:
                raise RuntimeError(f"{factory} did not become ready")
            # One worker answering is not all of them accepting: connections opened now could
            # all go to the first (seen with the floor, whose workers start in ~1 s: 32 on one
            # worker, 2,100 req/s; 15 and 17, 3,960 req/s, counted with `ss -tnp`).
            time.sleep(SETTLE_SECONDS)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=20)


# --- a minimal keep-alive HTTP/1.1 client -------------------------------------------------------
def post(path: str, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


class Connection:
    def __init__(
        self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.port, self.reader, self.writer = port, reader, writer

    @classmethod
    async def open(cls, port: int) -> "Connection":
        """A connection whose server process is ready. `/ready` from one connection proves
        only one uvicorn worker loaded its model; the others may still answer 503."""
        connection = cls(port, *await asyncio.open_connection(HOST, port))
        ready = f"GET /ready HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
        deadline = time.monotonic() + 90
        while await connection.request(ready) != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("a server worker did not become ready")
            await asyncio.sleep(0.1)
        return connection

    async def request(self, raw: bytes) -> int:
        """The response's status, or `CLOSED` when the server closed the connection without
        one. A connection the server closed (after a 500, uvicorn says `Connection: close`)
        is opened again, so one failure is counted, not the end of the run."""
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.reopen()
            return CLOSED
        length, closing = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            header = name.strip().lower()
            if header == b"content-length":
                length = int(value)
            elif header == b"connection":
                closing = value.strip().lower() == b"close"
        await self.reader.readexactly(length)
        if closing:
            await self.reopen()
        return int(head[9:12])

    async def reopen(self) -> None:
        self.close()
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    def close(self) -> None:
        self.writer.close()


async def closed_loop(port: int, requests: list[bytes], concurrency: int, seconds: float) -> dict:
    connections = [await Connection.open(port) for _ in range(concurrency)]
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    stop = time.perf_counter() + seconds

    async def worker(index: int, connection: Connection) -> None:
        i = index
        while time.perf_counter() < stop:
            start = time.perf_counter()
            statuses[await connection.request(requests[i % len(requests)])] += 1
            latencies.append(time.perf_counter() - start)
            i += concurrency

    start = time.perf_counter()
    await asyncio.gather(*(worker(i, c) for i, c in enumerate(connections)))
    elapsed = time.perf_counter() - start
    for connection in connections:
        connection.close()
    return {
        "requests": len(latencies),
        **errors(statuses),
        "req_per_s": round(len(latencies) / elapsed, 1),
        **percentiles(latencies),
    }


async def open_loop(port: int, requests: list[bytes], rate: float, seconds: float) -> dict:
    """Send at a fixed schedule whatever the server does; latency from the scheduled time."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(await Connection.open(port))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    total = int(rate * seconds)
    t0 = time.perf_counter() + 0.1

    async def one(i: int) -> None:
        scheduled = t0 + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        connection = await pool.get()
        try:
            statuses[await connection.request(requests[i % len(requests)])] += 1
        finally:
            pool.put_nowait(connection)
        latencies.append(time.perf_counter() - scheduled)

    await asyncio.gather(*(one(i) for i in range(total)))
    while not pool.empty():
        pool.get_nowait().close()
    return {
        "offered_req_per_s": rate,
        "requests": total,
        **errors(statuses),
        **percentiles(latencies),
    }


def errors(statuses: Counter[int]) -> dict[str, Any]:
    """The non-200 count and, so a failure can be explained, the count by status code (0: the
    connection closed without a response)."""
    failed = {str(code): n for code, n in sorted(statuses.items()) if code != 200}
    return {"errors": sum(failed.values()), "errors_by_status": failed}


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = quantiles(samples, n=100)
    return {
        "p50_ms": round(median(samples) * 1000, 2),
        "p90_ms": round(cuts[89] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
    }


# --- the run ------------------------------------------------------------------------------------
def load_movies(test_path: Path) -> list[MovieInput]:
    movies = []
    for row in read_movies(test_path)[list(INPUT_FEATURES)].to_dict("records"):
        with contextlib.suppress(ValueError):
            movies.append(MovieInput.model_validate(row))
    return movies


def in_process(models_dir: Path, movies: list[MovieInput], seconds: float) -> dict:
    predictor = ProductionPredictor(models_dir).load()
    for movie in movies[:50]:
        predictor.predict_one(movie)
    timings = []
    stop = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < stop:
        start = time.perf_counter()
        predictor.predict_one(movies[i % len(movies)])
        timings.append(time.perf_counter() - start)
        i += 1
    start = time.perf_counter()
    predictor.predict_many(movies)
    batch_seconds = time.perf_counter() - start
    return {
        "serving_path": predictor.path,
        "predict_one_per_s": round(len(timings) / sum(timings), 1),
        "predict_one_p50_ms": round(median(timings) * 1000, 3),
        "predict_many_rows_per_s": round(len(movies) / batch_seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--test", type=Path, default=Path("data/processed/test.csv"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2, help="closed-loop runs of each server")
    args = parser.parse_args()

    movies = load_movies(args.test)
    singles = [post("/predict", m.model_dump(mode="json")) for m in movies]
    batch_body = {"movies": [m.model_dump(mode="json") for m in movies[: args.batch_size]]}
    batches = [post("/predict/batch", batch_body)]
    card = json.loads((args.models_dir / "model_card.json").read_text())
    results: dict[str, Any] = {
        "cores": len(os.sched_getaffinity(0)),
        "workers": args.workers,
        "model": f"{card['feature_pipeline']}-{card['model_family']} {card['version']}",
        # uvicorn's "auto" picks these when installed. Without uvloop, `--workers N` leaves
        # Nagle on (uvicorn#3149): each keep-alive response then waits ~40 ms for a delayed ACK.
        "uvicorn_loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "uvicorn_http": "httptools" if importlib.util.find_spec("httptools") else "h11",
    }
    # The kernel hands the 32 connections to the workers as they accept them, not always
    # evenly: each server is started `--rounds` times, alternately; the best run counts.
    rounds: dict[str, list[dict]] = {"floor_predict_c32": [], "predict_c32": []}
    for _ in range(args.rounds):
        for key, factory in (
            ("floor_predict_c32", "load:floor_app"),
            ("predict_c32", "movie_rating.serving.app:create_app"),
        ):
            with uvicorn(factory, args.models_dir, args.workers) as port:
                rounds[key].append(asyncio.run(closed_loop(port, singles, 32, args.seconds)))
                print(key, rounds[key][-1], flush=True)
    for key, runs in rounds.items():
        results[key] = {
            **max(runs, key=lambda run: run["req_per_s"]),
            "req_per_s_of_each_round": [run["req_per_s"] for run in runs],
        }
    results["predict_share_of_floor"] = round(
        results["predict_c32"]["req_per_s"] / results["floor_predict_c32"]["req_per_s"], 3
    )
    with uvicorn("movie_rating.serving.app:create_app", args.models_dir, args.workers) as port:
        results["predict_open_loop"] = asyncio.run(open_loop(port, singles, args.rate, 10.0))
        print("open loop", results["predict_open_loop"], flush=True)
        batch = asyncio.run(closed_loop(port, batches, 2, args.seconds / 2))
        rows = len(batch_body["movies"])
        results["batch"] = {
            "batch_size": rows,
            "rows_per_s": round(batch["req_per_s"] * rows),
            **batch,
        }
        print("batch", results["batch"], flush=True)
    results["in_process"] = in_process(args.models_dir, movies, seconds=4.0)
    print("in-process", results["in_process"], flush=True)
    merge_into_report("http", results)


if __name__ == "__main__":
    main()

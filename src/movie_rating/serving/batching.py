"""Concurrent /predict requests rated together, as one batch.

Rating one movie costs ~0.5 ms, nearly all of it a fixed cost per call (each feature step's
numpy calls); rating 32 costs little more. A request that finds the model idle is rated at
once, alone; requests that arrive while a batch is being rated wait for it and are then rated
together (up to `max_batch`). No request waits for a timer, so an idle service answers as
fast as before, and a busy one rates many movies for the fixed cost of one.

On the fast path a batch is rated on the event loop (a thread hop costs more than a small
batch); requests arriving meanwhile queue in the socket and join the next batch. On the
fallback path, where a batch takes milliseconds, it is rated in the threadpool.
"""

import asyncio
from typing import Protocol

from fastapi.concurrency import run_in_threadpool

from movie_rating.serving.predict import Scored
from movie_rating.serving.schemas import MovieInput


class Rater(Protocol):
    @property
    def path(self) -> str: ...

    def score_many(self, movies: list[MovieInput]) -> Scored: ...


class MovieBatcher:
    """Rates movies of concurrent requests in batches; `rate(movie)` is one request's share:
    its rating and difficulty (what its interval is made of)."""

    def __init__(self, predictor: Rater, max_batch: int) -> None:
        self.predictor = predictor
        self.max_batch = max_batch
        self._waiting: list[tuple[MovieInput, asyncio.Future[tuple[float, float]]]] = []
        self._rating: asyncio.Task[None] | None = None

    async def rate(self, movie: MovieInput) -> tuple[float, float]:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((movie, future))
        if self._rating is None or self._rating.done():
            self._rating = asyncio.create_task(self._rate_waiting())
        return await future

    async def _rate_waiting(self) -> None:
        while self._waiting:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            movies = [movie for movie, _ in batch]
            try:
                if self.predictor.path == "compiled":
                    scored = self.predictor.score_many(movies)
                else:
                    scored = await run_in_threadpool(self.predictor.score_many, movies)
            except Exception as error:  # each request raises it, as if rated alone
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            results = zip(scored.ratings.tolist(), scored.difficulty.tolist(), strict=True)
            for (_, future), (rating, difficulty) in zip(batch, results, strict=True):
                if not future.done():  # (a request whose client has gone)
                    future.set_result((float(rating), float(difficulty)))
            await asyncio.sleep(0)  # let the requests that came meanwhile join the next batch

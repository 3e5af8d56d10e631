"""A thread pool that survives forks: the serving paths split batches across the cores."""

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class ThreadPool:
    """A thread pool made on first use in each process: a pool's threads do not survive a
    fork, and a forked copy of a started pool would wait on them forever."""

    def __init__(self, workers: int, name: str) -> None:
        self.workers, self.name = workers, name
        self._pid: int | None = None
        self._pool: ThreadPoolExecutor | None = None

    def map(self, function: Callable[..., T], *iterables: Iterable[Any]) -> list[T]:
        if self._pool is None or self._pid != os.getpid():
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=self.name)
            self._pid = os.getpid()
        return list(self._pool.map(function, *iterables))

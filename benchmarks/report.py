"""reports/benchmarks.json: one key per benchmark script, merged so each keeps the others';
and the timing every script uses."""

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from movie_rating.outputs import write_json

REPORT = Path("reports/benchmarks.json")


def merge_into_report(key: str, values: dict[str, Any]) -> None:
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    report[key] = values
    write_json(REPORT, report)


def best_seconds(call: Callable[[], object], repeats: int = 7) -> float:
    """The fastest of `repeats` timed calls, after one untimed warm-up call (the best, not the
    mean: on a shared machine the other runs measure the neighbours)."""
    call()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return min(timings)

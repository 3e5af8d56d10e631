"""reports/benchmarks.json: one key per benchmark script, merged so each keeps the others'."""

import json
from pathlib import Path
from typing import Any

REPORT = Path("reports/benchmarks.json")


def merge_into_report(key: str, values: dict[str, Any]) -> None:
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    report[key] = values
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")

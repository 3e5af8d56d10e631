"""Every file a stage, the export or a report writes is written whole or not at all.

A file is written under a hidden scratch name in its target's folder and renamed onto the
target only once writing has finished (a rename within one filesystem is atomic), so an
interrupted stage leaves the previous file, or none, never half of one that a later reader
would take for whole. Written by hand: `safer`, the maintained library for this, writes
through an in-memory buffer unless asked for a temporary file, and leaves a new file readable
by its owner alone (mkstemp's 0600), which the service's container user could not read;
`atomicwrites` is archived.
"""

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A scratch file beside `target`, renamed onto it (readable by all, like any file written
    here) if the block succeeds, removed otherwise. It keeps the target's suffix, so a writer
    that picks a format from the name (pandas, joblib) picks the same one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent
    )
    os.close(handle)
    scratch = Path(name)
    try:
        yield scratch
        scratch.chmod(0o644)
        scratch.replace(target)
    finally:
        scratch.unlink(missing_ok=True)


def write_bytes(target: Path, data: bytes) -> None:
    with replacing(target) as scratch:
        scratch.write_bytes(data)


def write_text(target: Path, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def write_json(target: Path, value: Any, *, indent: int = 2, sort_keys: bool = False) -> None:
    """`value` as indented JSON with a newline at the end."""
    write_text(target, json.dumps(value, indent=indent, sort_keys=sort_keys) + "\n")

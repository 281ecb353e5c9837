"""The health and metrics file monitoring reads: JSON, replaced atomically after each cycle.

A monitor that reads it mid-write must never see half a file, so it is written beside the
target and renamed over it (atomic on POSIX and on NTFS through ``os.replace``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_health(path: Path, health: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(health, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError:  # a full disk: leave no half-written file behind
        temporary.unlink(missing_ok=True)
        raise


def read_health(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None

"""Structured logging for the daemon: plain text, or one JSON object per line on request.

Log calls pass counts and resource ids in ``extra={"fields": {...}}``; nothing that names a
person (no NHS number, no name) is ever given to a logger, so no formatter has to scrub it.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "ltcbridge.daemon"
ROOT_LOGGER = "ltcbridge"
log = logging.getLogger(LOGGER_NAME)


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "event", ...fields}``: what log shippers parse without rules."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
        }
        if hasattr(record, "fields"):  # the daemon's events: a name and fields
            payload["event"] = record.getMessage()
            payload.update(record.fields)
        else:  # the FHIR client's messages (retries, export progress): the logger is the event
            payload["event"] = record.name
            payload["message"] = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            payload["error"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    """``time level event key=value ...`` for a person reading a journal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = f"{stamp} {record.levelname.lower()} {record.getMessage()} {fields}".rstrip()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" error={type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return text


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a line is logged, not as it was when logging
    was set up (a service wrapper or a test may replace it; the old one may be closed)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        """Ignored: the stream is always the current ``sys.stderr``."""


def setup_logging(level: str = "info", json_lines: bool = False) -> None:
    """Send every ltcbridge log (the daemon's events and the FHIR client's retries alike) to
    stderr in one format (journald and Windows service wrappers capture it): with
    ``json_lines`` every line is a JSON object."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger(ROOT_LOGGER)
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    log.handlers[:] = []
    log.setLevel(logging.NOTSET)  # the ltcbridge logger's level decides
    log.propagate = True


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields (counts, resource ids, endpoint names)."""
    log.log(level, name, extra={"fields": fields})

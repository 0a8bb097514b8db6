"""Parsing a raw log record: a JSON log line, or a Docker json-file record wrapping one.

Pure functions: bytes in, a document or a `Rejection` out. Nothing here raises for bad input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from streams.deadletter import Reason

Document = dict[str, Any]
DOCKER_KEYS = frozenset({"log", "stream", "time"})


@dataclass(frozen=True)
class Rejection:
    """Why a record could not be parsed; becomes a dead letter."""

    reason: Reason
    error: str
    step: str = "parse"


def parse_log_record(value: bytes) -> Document | Rejection:
    """Parse one raw record into a document.

    Accepts a JSON object (one log line as emitted by the application), or a Docker json-file
    record `{"log": "<line>", "stream": ..., "time": ...}` whose line is itself a JSON object;
    the Docker record's `stream` is kept and its `time` becomes `@timestamp` when the line has
    none. Anything else is a `Rejection` with a reason.
    """
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(
            Reason.INVALID_UTF8,
            f"invalid UTF-8 at byte {exc.start}: {value[exc.start : exc.start + 4]!r}",
        )
    outer = _json_object(text, "record")
    if isinstance(outer, Rejection):
        return outer
    if outer.keys() >= DOCKER_KEYS and isinstance(outer["log"], str):
        line = outer["log"].removesuffix("\n")
        inner = _json_object(line, "Docker 'log' line")
        if isinstance(inner, Rejection):
            return inner
        inner.setdefault("stream", outer["stream"])
        inner.setdefault("@timestamp", outer["time"])
        return inner
    return outer


def _json_object(text: str, what: str) -> Document | Rejection:
    if not text.strip():
        return Rejection(Reason.INVALID_JSON, f"{what} is empty")
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Rejection(Reason.INVALID_JSON, f"{what} is not valid JSON: {exc}")
    if not isinstance(parsed, dict):
        return Rejection(
            Reason.NOT_AN_OBJECT,
            f"{what} is a JSON {type(parsed).__name__}, expected an object",
        )
    return parsed

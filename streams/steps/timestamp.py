"""`timestamp`: read the event's time from a field into `@timestamp`.

Formats are tried in order: `iso8601` (RFC 3339 and ISO 8601 with or without offset), `unix`
(seconds, number or text), `unix_ms`, or a `strptime` pattern (anything with a `%`). A time
without an offset is read in `timezone`. When no format reads the field (or it is missing), the
record keeps going with the Kafka record's time and `logway.timestamp_fallback: true`: a bad
timestamp is worth a flag, not a lost log line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from logway.core.document import Flag
from streams.fields import MISSING, compile_path
from streams.steps.base import CompiledStep, Document, FieldRef, Record, StepConfig, StepResult

Reader = Callable[[object, tzinfo], datetime | None]


def format_time(moment: datetime) -> str:
    """The form `@timestamp` is written in: UTC, milliseconds, `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_KAFKA_TIMES: dict[int, str] = {}


def kafka_time(timestamp_ms: int) -> str:
    """`format_time` of a Kafka timestamp; records of one batch often share the millisecond."""
    text = _KAFKA_TIMES.get(timestamp_ms)
    if text is None:
        if len(_KAFKA_TIMES) >= 4096:
            _KAFKA_TIMES.clear()
        text = _KAFKA_TIMES[timestamp_ms] = format_time(
            datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        )
    return text


def _strptime_problem(fmt: str) -> str | None:
    """Why Python's strptime can never read `fmt` (an unknown directive, a stray `%`), or None.

    strptime checks the pattern before the text, so parsing an empty text tells the two apart.
    """
    try:
        datetime.strptime("", fmt)
    except ValueError as exc:
        message = str(exc)
        if "bad directive" in message or "stray %" in message:
            return f"{message}; see the strptime directives in Python's datetime docs"
        return None
    return None


class TimestampStep(StepConfig):
    """Set `@timestamp` from a field."""

    name = "timestamp"
    step: Literal["timestamp"] = Field(description="The step's name.")
    field: FieldRef = Field("time", description="The field holding the event's time.")
    formats: tuple[str, ...] = Field(
        ("iso8601",),
        min_length=1,
        max_length=8,
        description="Formats to try in order: `iso8601`, `unix`, `unix_ms`, or a strptime "
        "pattern such as `%d/%b/%Y:%H:%M:%S %z`.",
        examples=[["iso8601", "%d/%b/%Y:%H:%M:%S %z"]],
    )
    timezone: str = Field(
        "UTC",
        description="IANA time zone for times written without an offset.",
        examples=["Europe/Berlin"],
    )
    target: FieldRef = Field("@timestamp", description="Where the time is written.")
    remove_source: bool = Field(False, description="Remove the source field once read.")

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, formats: tuple[str, ...]) -> tuple[str, ...]:
        for fmt in formats:
            if fmt in ("iso8601", "unix", "unix_ms"):
                continue
            if "%" not in fmt:
                raise ValueError(
                    f"unknown format {fmt!r}: use iso8601, unix, unix_ms or a strptime "
                    "pattern containing '%'"
                )
            problem = _strptime_problem(fmt)
            if problem:
                raise ValueError(f"strptime pattern {fmt!r}: {problem}")
        return formats

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}; use an IANA name") from None
        return zone

    def build(self) -> CompiledStep:
        source = compile_path(self.field)
        target = compile_path(self.target)
        readers = [_reader(fmt) for fmt in self.formats]
        zone = ZoneInfo(self.timezone)
        remove = self.remove_source
        seen: dict[object, str] = {}  # lines of one second share their time text

        def timestamp(doc: Document, record: Record) -> StepResult:
            value = source.get(doc)
            text = seen.get(value) if isinstance(value, str | int) else None
            if text is None:
                moment = None
                if value is not MISSING:
                    for read in readers:
                        moment = read(value, zone)
                        if moment is not None:
                            break
                if moment is None:
                    target.set(doc, kafka_time(record.timestamp_ms))
                    record.flag(Flag.TIMESTAMP_FALLBACK)
                    return doc
                text = format_time(moment)
                if isinstance(value, str | int):
                    if len(seen) >= 4096:
                        seen.clear()
                    seen[value] = text
            if remove:
                source.pop(doc)
            target.set(doc, text)
            return doc

        return timestamp


def _reader(fmt: str) -> Reader:
    if fmt == "iso8601":
        return _iso8601
    if fmt == "unix":
        return lambda value, _zone: _epoch(value, 1)
    if fmt == "unix_ms":
        return lambda value, _zone: _epoch(value, 1000)

    def strptime(value: object, zone: tzinfo) -> datetime | None:
        if not isinstance(value, str):
            return None
        try:
            moment = datetime.strptime(value, fmt)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)

    return strptime


def _iso8601(value: object, zone: tzinfo) -> datetime | None:
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _epoch(value: object, per_second: int) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value / per_second, UTC)
    except (OverflowError, OSError, ValueError):
        return None

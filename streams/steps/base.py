"""What every processing step shares: its config base, its runtime signature and its results.

A step is declared in a tenant's `pipeline` as `{step: <name>, ...}`, validated by its config
model (so `logway validate` catches every mistake), and compiled once per tenant version into a
`CompiledStep`: a plain function called for each record. A compiled step never raises for bad
input; it returns one of:
- the document (possibly changed in place): go on to the next step;
- a `Failure` with a bounded `Reason`: the record goes to the tenant's dead-letter topic;
- a `Dropped`: the record is dropped on purpose (counted, by reason, never silent);
- `HELD`: the record is part of a line still being reassembled (see `reassemble`), or of an
  event still being joined (see `multiline`);
- `Carried`: the record is held, and an earlier record's document, now complete, goes on in its
  place (see `multiline`: a line that ends one event opens the next).
An unexpected exception inside a step is caught by the pipeline and dead-letters the record
with `internal_error`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from logway.core.deadletter import Reason
from logway.core.document import Flag
from streams.conditions import ConditionError, Predicate, compile_condition
from streams.fields import FIELD_PATH
from streams.regex import RegexError, compile_re2

Document = dict[str, Any]


class Record:
    """The raw record being processed: where it came from, and what steps noted about it.

    `offset` is the origin of the event id (unless `event_id` names it); reassembly moves it to
    the line's first piece and
    lists in `released` the offsets of the held pieces it completes. `flags` become
    `logway.<flag>: true` on the document (`partial`, `timestamp_fallback`).
    """

    __slots__ = (
        "event_id",
        "flags",
        "key",
        "offset",
        "partition",
        "raw",
        "read_offset",
        "released",
        "timestamp_ms",
        "topic",
        "undecoded",
    )

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        timestamp_ms: int,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.read_offset = offset  # where this record was read; `offset` may move, this not
        self.key = key
        self.timestamp_ms = timestamp_ms
        self.raw = b""  # the record's bytes, or the joined line: a dead letter's original
        self.flags: list[Flag] | None = None
        self.released: list[int] | None = None
        # Set when the producer named the event (the gateway does, from the forward chunk), so
        # an event sent again lands on the same id; else the id comes from the origin.
        self.event_id: str | None = None
        # Set when the bytes are not UTF-8: what is wrong with them. Until `reassemble` has
        # joined a line's pieces the text keeps such bytes as they are (surrogateescape), since
        # a runtime may have cut the line inside a character; a line still wrong is refused.
        self.undecoded: str | None = None

    def flag(self, name: Flag) -> None:
        if self.flags is None:
            self.flags = [name]
        elif name not in self.flags:
            self.flags.append(name)


def utf8_error(raw: bytes) -> str | None:
    """What is wrong with `raw` as UTF-8, or None when nothing is."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start}: {raw[exc.start : exc.start + 4]!r}"
    return None


@dataclass(frozen=True, slots=True)
class Failure:
    """The record cannot be processed: it becomes a dead letter with this reason."""

    reason: Reason
    error: str


@dataclass(frozen=True, slots=True)
class Dropped:
    """The record was dropped on purpose, by the tenant's own rule."""

    why: str  # a bounded label: "rule", "sampled", "rate_limited"


class _Held:
    def __repr__(self) -> str:
        return "HELD"


HELD: Final = _Held()


@dataclass(frozen=True, slots=True)
class Carried:
    """The current record is held; `record`'s document, complete now, goes on instead."""

    record: Record
    doc: Document


StepResult = Document | Failure | Dropped | _Held | Carried
CompiledStep = Callable[[Document, Record], StepResult]

FieldRef = Annotated[
    str,
    Field(
        pattern=f"^{FIELD_PATH}$",
        description="A field, as a dotted path into the record: `message`, `http.status`.",
        examples=["message", "http.status"],
    ),
]


def semantic_error(message: str) -> PydanticCustomError:
    """A rule beyond the schema (a regex RE2 refuses, a condition that does not compile, fields
    that contradict each other); `logway validate` reports it at the `semantic` level."""
    return PydanticCustomError("semantic", "{reason}", {"reason": message})


def _condition_compiles(value: str) -> str:
    try:
        compile_condition(value)
    except ConditionError as exc:
        raise semantic_error(f"condition {value!r}: {exc}") from None
    return value


Condition = Annotated[str, AfterValidator(_condition_compiles)]
"""A condition in the condition language (`streams.conditions`), checked when validated."""


def _re2_compiles(value: str) -> str:
    try:
        compile_re2(value)
    except RegexError as exc:
        raise semantic_error(str(exc)) from None
    return value


Re2Pattern = Annotated[str, AfterValidator(_re2_compiles)]
"""A tenant's regular expression, refused when validated unless RE2 compiles it."""


class StepConfig(BaseModel):
    """Fields every step has. Subclasses set `step` to their registered name."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    name: ClassVar[str]

    when: Condition | None = Field(
        None,
        description="Run the step only for records matching this condition (see the condition "
        "language); others pass through unchanged.",
        examples=['level == "error"'],
    )

    def compile(self) -> CompiledStep:
        """The runtime of this step, with its `when` applied."""
        run = self.build()
        if self.when is None:
            return run
        applies: Predicate = compile_condition(self.when)

        def guarded(doc: Document, record: Record) -> StepResult:
            return run(doc, record) if applies(doc) else doc

        return guarded

    def build(self) -> CompiledStep:
        """The step's own runtime, without `when`. Each step implements it."""
        raise NotImplementedError

"""`reassemble`: join the pieces of container log lines that the runtime split.

Docker's json-file driver splits lines over 16 KiB: every piece but the last lacks the trailing
newline. CRI marks pieces `P` and the last `F`. After `parse` (`docker` or `cri`) each record has
`message` and `logtag`; this step buffers `P` pieces per container stream (raw topic, partition,
Kafka key — the forwarder keys by log file — and `stream`) and, on the `F` piece, emits one
record whose `message` is the joined line and whose event id is the first piece's origin.

Runtimes cut by bytes, so a piece may end or start inside a UTF-8 character: the pipeline
keeps such pieces' bytes as they are (surrogateescape), and this step decodes the joined line
whole. A line whose bytes are still not UTF-8 once joined is dead-lettered `invalid_utf8`.

Nothing is lost on a crash: a held piece's offset is not committed until its line is complete
(the processor keeps its Kafka offset pending), so a restarted worker reads the pieces again and
rebuilds the line. The buffer is bounded: a line longer than `max_bytes`, or one whose last piece
has not come within `timeout_s`, is emitted as it is with `logway.partial: true`, or
dead-lettered (`too_large`, `partial_timeout`), as the tenant chose; never dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, StrictInt, model_validator

from logway.core.deadletter import Reason
from logway.core.document import Flag
from streams.steps.base import (
    HELD,
    CompiledStep,
    Document,
    Failure,
    Record,
    StepConfig,
    StepResult,
    semantic_error,
    utf8_error,
)

StreamKey = tuple[str, int, bytes | None, object]


class ReassembleStep(StepConfig):
    """Join split container log lines (after `parse` with `docker` or `cri`)."""

    name = "reassemble"
    step: Literal["reassemble"] = Field(description="The step's name.")
    max_bytes: StrictInt = Field(
        1_048_576,
        ge=16_384,
        le=8_388_608,
        description="Longest line assembled, in characters. A longer one is cut there.",
    )
    timeout_s: float = Field(
        5.0,
        gt=0,
        le=60,
        description="How long to wait for a line's last piece, in seconds.",
    )
    on_cut: Literal["emit_partial", "dead_letter"] = Field(
        "emit_partial",
        description="A line cut by `max_bytes` or `timeout_s` is emitted as it is, marked "
        "`logway.partial: true`, or dead-lettered with reason `too_large` / `partial_timeout`.",
    )

    @model_validator(mode="after")
    def _sees_every_piece(self) -> ReassembleStep:
        if self.when is not None:
            raise semantic_error("reassemble takes no `when`: it must see every piece of a line")
        return self

    def compile(self) -> CompiledStep:
        return Reassembler(self.max_bytes, self.timeout_s, self.on_cut == "dead_letter")


@dataclass
class _Line:
    first: Record
    doc: Document
    pieces: list[str]
    size: int
    started: float
    held: list[int] = field(default_factory=list)
    undecoded: bool = False  # a piece held bytes that are not UTF-8 on their own


class Reassembler:
    """The runtime: a `CompiledStep` that also keeps the buffers between records."""

    def __init__(
        self,
        max_bytes: int,
        timeout_s: float,
        dead_letter_cuts: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.dead_letter_cuts = dead_letter_cuts
        self.clock = clock
        self._lines: dict[StreamKey, _Line] = {}

    def __len__(self) -> int:
        return len(self._lines)

    def __call__(self, doc: Document, record: Record) -> StepResult:
        tag = doc.pop("logtag", "F")
        text = doc.get("message")
        if not isinstance(text, str):
            return Failure(Reason.MISSING_FIELD, "no text `message` to reassemble")
        key: StreamKey = (record.topic, record.partition, record.key, doc.get("stream"))
        line = self._lines.get(key)
        if line is None:
            if tag != "P":
                return _decoded(doc, record)
            self._lines[key] = _Line(
                record, doc, [text], len(text), self.clock(), undecoded=bool(record.undecoded)
            )
            return HELD
        line.pieces.append(text)
        line.size += len(text)
        line.held.append(record.offset)
        line.undecoded = line.undecoded or record.undecoded is not None
        if tag == "P" and line.size < self.max_bytes:
            return HELD
        del self._lines[key]
        line.held.pop()  # the current piece is not held: it is finished with this record
        return self._finish(line, record, tag == "P", Reason.TOO_LARGE)

    def _finish(self, line: _Line, record: Record, cut: bool, why: Reason) -> StepResult:
        """The assembled line, continuing as the line's first piece, its held pieces released."""
        joined = "".join(line.pieces)
        record.offset = line.first.offset
        record.timestamp_ms = line.first.timestamp_ms
        record.key = line.first.key
        record.released = [line.first.offset, *line.held]
        record.raw = joined.encode("utf-8", "surrogateescape")
        record.undecoded = None
        if line.undecoded:  # the characters cut between pieces are whole again
            whole = _without_a_cut_character(record.raw) if cut else record.raw
            joined = whole.decode("utf-8", "surrogateescape")
            record.undecoded = utf8_error(whole)
        doc = line.doc
        doc["message"] = joined
        if record.undecoded is not None:
            return Failure(Reason.INVALID_UTF8, record.undecoded)
        if not cut:
            return doc
        if self.dead_letter_cuts:
            limit = f"{self.max_bytes} bytes" if why is Reason.TOO_LARGE else f"{self.timeout_s}s"
            return Failure(why, f"line cut after {len(line.pieces)} pieces ({limit})")
        record.flag(Flag.PARTIAL)
        return doc

    def expire(self, now: float | None = None) -> Iterator[tuple[Record, StepResult]]:
        """Lines whose last piece is overdue: each cut, with the record it now continues as."""
        now = self.clock() if now is None else now
        for key, line in list(self._lines.items()):
            if now - line.started >= self.timeout_s:
                del self._lines[key]
                first = line.first
                record = Record(
                    first.topic, first.partition, first.offset, first.key, first.timestamp_ms
                )
                yield record, self._finish(line, record, True, Reason.PARTIAL_TIMEOUT)

    def forget(self, topic: str, partition: int) -> int:
        """Drop the buffers of a partition this worker no longer owns; the next owner re-reads."""
        gone = [key for key in self._lines if key[0] == topic and key[1] == partition]
        for key in gone:
            del self._lines[key]
        return len(gone)


def _decoded(doc: Document, record: Record) -> StepResult:
    """A line that came whole: refused if its bytes are not UTF-8."""
    if record.undecoded is not None:
        return Failure(Reason.INVALID_UTF8, record.undecoded)
    return doc


def _without_a_cut_character(raw: bytes) -> bytes:
    """A line cut short (by `max_bytes` or the timeout) may end inside a character: leave out
    that unfinished character, so what came of the line is emitted (it is marked partial)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            return raw[: exc.start]
    return raw

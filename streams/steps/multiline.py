"""`multiline`: join the lines of one event that a program wrote over many lines, such as a
stack trace, into one document.

Grouping is per container stream: raw topic, partition, Kafka key (the forwarder keys by log
file, so by pod and container) and `stream` (stdout or stderr). Lines of two streams are never
mixed, whatever their order in the topic. Each stream is a small state machine:

- with no event open, a line that matches a *start* rule opens one (it is held); any other
  line goes on unchanged, at once;
- with an event open, a line that matches a rule of the event's state continues it (held);
  any other line ends the event, which goes on as one document, and that line is then held as
  the start of the next event (so a record never gives two documents);
- an event with no new line for `flush_timeout_s` goes on as it is.

The joined text is the lines with "\n" between them, byte for byte; the document keeps the
first line's other fields and its event id. An event reaching `max_lines` or `max_bytes` goes
on marked `logway.partial: true`, and the line that would have overrun it starts the next
one: nothing is dropped or cut inside a line.

Crash-safe as `reassemble` is: a held line's offset is not committed until its event is
produced, so a restarted worker reads the lines again and rebuilds the event.

A preset is a set of rules written from real runtime output (`tests/fixtures/traces/`): Java
(a logger's line with the exception under it, `at`, `... n more`, `Caused by:`,
`Suppressed:`), Python (chained tracebacks), Go (panics with
every goroutine) and Node (errors with `[cause]`, and the uncaught-error report).

A team whose namespaces run several runtimes names them all (`preset: [java, python, go,
node]`), as Fluent Bit's multiline filter takes a list of parsers. The presets then run side by
side on each stream, as one automaton whose state is the set of the presets' states: a line
continues the event while any preset still accepts it, so each trace is joined by its own
runtime's rules whichever runtime wrote it.

The line before a trace: Java's and Python's loggers (logback, log4j, `logging.exception`) and
`console.error` write their message on one line and the trace under it, so any line may open
an event that the next line's trace continues. Not a JSON object line: a structured logger
puts the trace inside its JSON, so a trace printed under a JSON line is another writer's and
the JSON line stays a document of its own (and parses).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, StrictInt, model_validator

from logway.core.document import Flag
from streams.regex import compile_re2
from streams.steps.base import (
    HELD,
    Carried,
    Document,
    FieldRef,
    Re2Pattern,
    Record,
    StepConfig,
    StepResult,
    semantic_error,
)

StreamKey = tuple[str, int, bytes | None, object]
START = "start"
States = tuple[str, ...]  # the states an open event is in, one per preset still following it
# state -> [(pattern, next state)]: the first pattern matching the line wins.
Rules = dict[str, list[tuple[str, str]]]

ANY_LINE = r"."
# A line that may carry the trace under it: any but a JSON object (see the module docstring).
LOGGER_LINE = r"^(?!\s*\{.*\}\s*$)."
JAVA_CONTINUES = (
    r"^\s+at |^\s+\.\.\. \d+ (more|common frames omitted)$|^\s*Caused by: |^\s+Suppressed: "
    r"|^([\w$]+\.)+[\w$]*(Exception|Error|Throwable)(: |$)"  # under a logger's line
)
PY_TRACEBACK = r"^Traceback \(most recent call last\):$"
PY_CHAINED = (
    r"^(The above exception was the direct cause of the following exception:"
    r"|During handling of the above exception, another exception occurred:)$"
)
NODE_ERROR = r"^([\w$.]*(Error|Exception|Rejection)|Uncaught \w+)( \[[\w.]+\])?(: |$)"
# The first line of Node's uncaught report: the file (a path, a `file://` URL, or one of Node's
# own `node:` modules, as an unhandled rejection's report starts) and the line.
NODE_SOURCE = r"^(\S+\.[cm]?[jt]sx?|file://\S+|node:[\w/]+):\d+$"
NODE_FRAMES = (
    r"^\s+at |^\s+\.\.\. \d+ (more|lines matching cause stack trace)|^\s*\[\w+\]: |^\s+[\w$]+: "
    r"|^\s*\}$"
)

PRESETS: dict[str, Rules] = {
    # A line (often the logger's own) and the exception under it.
    "java": {
        START: [(LOGGER_LINE, "java")],
        "java": [(JAVA_CONTINUES, "java")],
    },
    # `logging.exception`'s line, or the traceback itself; chained tracebacks with the blank
    # lines and the sentence Python writes between them.
    "python": {
        START: [(PY_TRACEBACK, "py_frames"), (LOGGER_LINE, "py_head")],
        "py_head": [(PY_TRACEBACK, "py_frames")],
        "py_frames": [(r"^[ \t]", "py_frames"), (r"^\S", "py_raised")],
        "py_raised": [(r"^$", "py_gap")],
        "py_gap": [(PY_CHAINED, "py_chained")],
        "py_chained": [(r"^$", "py_next")],
        "py_next": [(PY_TRACEBACK, "py_frames")],
    },
    # The runtime's panic report: `panic:`/`fatal error:`, then each goroutine's stack.
    "go": {
        START: [(r"^(panic: |fatal error: )", "go_panic")],
        "go_panic": [(r"^\s+panic: |^\[signal ", "go_panic"), (r"^$", "go_gap")],
        "go_gap": [(r"^goroutine \d+ ", "go_stack")],
        "go_stack": [
            (r"^\t|^created by |^\.\.\.additional frames elided\.\.\.$|^\S.*\)$", "go_stack"),
            (r"^$", "go_gap"),
        ],
    },
    # `console.error(err)` (frames, `[cause]:` and the error's own fields) and Node's report of
    # an uncaught error: the source line, the caret, the error, and the `Node.js vX` line.
    "node": {
        START: [
            (NODE_SOURCE, "node_source"),
            (NODE_ERROR, "node_frames"),
            (LOGGER_LINE, "node_head"),
        ],
        "node_head": [(r"^\s+at ", "node_frames")],
        "node_source": [(ANY_LINE, "node_code")],
        "node_code": [(r"^\s*\^+\s*$", "node_caret")],
        "node_caret": [(r"^$", "node_caret_gap")],
        # After the caret and its blank line, the next line is the error, whatever its class
        # (`UnhandledPromiseRejection: ...`, a thrown string).
        "node_caret_gap": [(r"^\S", "node_frames")],
        "node_frames": [(NODE_FRAMES, "node_frames"), (r"^$", "node_end")],
        "node_end": [(r"^Node\.js v\d", "node_done")],
        "node_done": [],
    },
}


Preset = Literal["java", "python", "go", "node"]


def union(presets: tuple[str, ...]) -> tuple[Rules, tuple[str, ...]]:
    """The presets side by side, and the states an event starts from: each preset's states
    named `<preset>.<state>`, so that the runtime, which keeps the set of states reached, never
    mixes one preset's rules with another's."""
    if len(presets) == 1:
        return PRESETS[presets[0]], (START,)
    rules: Rules = {}
    for name in presets:
        for state, pairs in PRESETS[name].items():
            rules[f"{name}.{state}"] = [(pattern, f"{name}.{to}") for pattern, to in pairs]
    return rules, tuple(f"{name}.{START}" for name in presets)


class MultilineStep(StepConfig):
    """Join the lines of one event (a stack trace) into one document, per container stream.
    Give a `preset` (or a list of them), or `start_pattern` and `continue_pattern`."""

    name = "multiline"
    step: Literal["multiline"] = Field(description="The step's name.")
    preset: Preset | list[Preset] | None = Field(
        None,
        description="Rules for a runtime's stack traces, written from its real output; a list "
        "for a team running several runtimes (each trace is joined by its own runtime's rules).",
        examples=["java", ["java", "python", "go", "node"]],
    )
    start_pattern: Re2Pattern | None = Field(
        None,
        max_length=1000,
        description="RE2: a line that begins an event. Without a preset.",
        examples=[r"^\d{4}-\d{2}-\d{2} "],
    )
    continue_pattern: Re2Pattern | None = Field(
        None,
        max_length=1000,
        description="RE2: a line that continues the open event. Without a preset.",
        examples=[r"^\s"],
    )
    field: FieldRef = Field("message", description="The text field holding the line.")
    flush_timeout_s: float = Field(
        1.0,
        gt=0,
        le=30,
        description="An event with no new line for this long goes on as it is, in seconds.",
    )
    max_lines: StrictInt = Field(
        500, ge=2, le=10_000, description="Most lines in one event; more start the next one."
    )
    max_bytes: StrictInt = Field(
        262_144,
        ge=1024,
        le=8_388_608,
        description="Most characters in one event; a line that would overrun it starts the next.",
    )

    @model_validator(mode="after")
    def _rules_are_given_once_and_compile(self) -> MultilineStep:
        custom = (self.start_pattern, self.continue_pattern)
        if self.preset is not None and any(custom):
            raise semantic_error("give a preset, or start_pattern and continue_pattern, not both")
        if self.preset is None and not all(custom):
            raise semantic_error("give a preset, or both start_pattern and continue_pattern")
        if self.preset == []:
            raise semantic_error("name at least one preset: java, python, go or node")
        if self.when is not None:
            raise semantic_error("multiline takes no `when`: it must see every line of a stream")
        return self

    def presets(self) -> tuple[Preset, ...]:
        """The presets named, each once, in the order given."""
        if self.preset is None:
            return ()
        named = [self.preset] if isinstance(self.preset, str) else self.preset
        return tuple(dict.fromkeys(named))

    def rules(self) -> tuple[Rules, tuple[str, ...]]:
        """The rules, and the states an event starts from."""
        presets = self.presets()
        if presets:
            return union(presets)
        assert self.start_pattern is not None
        assert self.continue_pattern is not None
        custom = {
            START: [(self.start_pattern, "event")],
            "event": [(self.continue_pattern, "event")],
        }
        return custom, (START,)

    def compile(self) -> Multiliner:
        # The presets are ours, written without nested repetition, so Python's `re` runs them in
        # linear time, at a fifth of the google-re2 wrapper's cost per line (`bench.processor`);
        # a tenant's own patterns always run on RE2.
        engine = re.compile if self.preset is not None else compile_re2
        rules, starts = self.rules()
        return Multiliner(
            rules,
            self.field,
            self.flush_timeout_s,
            self.max_lines,
            self.max_bytes,
            engine=engine,
            starts=starts,
        )


@dataclass
class _Event:
    first: Record
    doc: Document
    lines: list[str]
    states: States  # empty: no rule continues it (a line that opened nothing)
    size: int
    last: float
    offsets: list[int] = field(default_factory=list)


class Multiliner:
    """The runtime: a `CompiledStep` that also keeps each stream's open event."""

    def __init__(
        self,
        rules: Rules,
        field_name: str,
        flush_timeout_s: float,
        max_lines: int,
        max_bytes: int,
        *,
        engine: Callable[[str], Any] = compile_re2,
        clock: Callable[[], float] = time.monotonic,
        starts: States = (START,),
    ) -> None:
        self.rules: dict[str, list[tuple[Any, str]]] = {
            state: [(engine(pattern), target) for pattern, target in pairs]
            for state, pairs in rules.items()
        }
        self.starts = starts
        self.field = field_name
        self.flush_timeout_s = flush_timeout_s
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.clock = clock
        self._events: dict[StreamKey, _Event] = {}

    def __len__(self) -> int:
        return len(self._events)

    def _next(self, states: States, line: str) -> States:
        """The states `line` leads to: in each state, the first rule matching it."""
        reached: list[str] = []
        for state in states:
            for pattern, target in self.rules.get(state, ()):
                if pattern.search(line):
                    if target not in reached:
                        reached.append(target)
                    break
        return tuple(reached)

    def __call__(self, doc: Document, record: Record) -> StepResult:
        text = doc.get(self.field)
        line = text if isinstance(text, str) else None
        key: StreamKey = (record.topic, record.partition, record.key, doc.get("stream"))
        event = self._events.get(key)
        if event is None:
            states = self._next(self.starts, line) if line is not None else ()
            if not states:
                return doc
            self._events[key] = self._open(doc, record, line, states)
            return HELD
        states = self._next(event.states, line) if line is not None else ()
        if states and not self._overruns(event, line):
            event.lines.append(line)  # type: ignore[arg-type]
            event.size += len(line) + 1  # type: ignore[arg-type]
            event.offsets.extend(_offsets(record))
            event.states = states
            event.last = self.clock()
            return HELD
        # The event ends here; this line opens the next one (a cut event's rest continues it).
        cut = bool(states)
        opens = states if cut else (self._next(self.starts, line) if line is not None else ())
        self._events[key] = self._open(doc, record, line, opens)
        return Carried(*self._finish(event, cut))

    def _overruns(self, event: _Event, line: str | None) -> bool:
        extra = len(line) + 1 if line is not None else 0
        return len(event.lines) >= self.max_lines or event.size + extra > self.max_bytes

    def _open(self, doc: Document, record: Record, line: str | None, states: States) -> _Event:
        lines = [line] if line is not None else []
        size = len(line) if line is not None else 0
        return _Event(record, doc, lines, states, size, self.clock(), list(_offsets(record)))

    def _finish(self, event: _Event, cut: bool) -> tuple[Record, Document]:
        """The event's document, carried by its first line's record, which releases the
        offsets of every line in it (all held until now)."""
        record, doc = event.first, event.doc
        if len(event.lines) > 1:
            joined = "\n".join(event.lines)
            doc[self.field] = joined
            record.raw = joined.encode("utf-8", "surrogateescape")
        record.released = list(dict.fromkeys(event.offsets))
        if cut:
            record.flag(Flag.PARTIAL)
        return record, doc

    def expire(self, now: float | None = None) -> Iterator[tuple[Record, Document]]:
        """Events with no new line for `flush_timeout_s`: each as it is."""
        now = self.clock() if now is None else now
        for key, event in list(self._events.items()):
            if now - event.last >= self.flush_timeout_s:
                del self._events[key]
                yield self._finish(event, cut=False)

    def forget(self, topic: str, partition: int) -> int:
        """Drop the events of a partition this worker no longer owns; the next owner re-reads."""
        gone = [key for key in self._events if key[0] == topic and key[1] == partition]
        for key in gone:
            del self._events[key]
        return len(gone)


def _offsets(record: Record) -> list[int]:
    """The offsets a held line stands for: its own as read, and those of the pieces
    `reassemble` joined into it."""
    return [record.read_offset, *(record.released or ())]

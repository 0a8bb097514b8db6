"""A tenant's pipeline, compiled once per tenant version: raw records in, outcomes out.

This is the whole per-record contract of the processor, kept free of Faust so that `logway
validate` (the dry-run level), the tests and the benchmark run exactly what the worker runs.

For each raw record:
1. its bytes are decoded as UTF-8 into `{message: <line>}` (else: dead letter `invalid_utf8`;
   with `reassemble`, only once the line's pieces are joined, as a runtime may cut a line
   inside a character);
2. the tenant's steps run in order (see `streams.steps`); a step fails the record (dead letter,
   with the step's name and reason), drops it (counted by reason), holds it (a piece of a split
   line) or hands the document on;
3. the routes choose the index family; `@timestamp` defaults to the Kafka record's time;
4. the document gets its `logway` block (tenant, event id, origin, route, tenant version, flags).
   The block is the pipeline's alone: whatever the record brought under that name, as an
   object or as dotted keys (`logway.tenant`), is moved to `logway_foreign` and flagged
   `logway.foreign_fields_moved`, so no record can speak for logway in a search.

`process` never raises: an unexpected exception inside a step dead-letters the record with
`internal_error` and the next record is processed as usual.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from logway.core.deadletter import DeadLetter, Reason, Stage
from logway.core.document import BLOCK, Flag
from logway.core.kubernetes import PodRecord, read_log_path
from logway.core.limits import DEFAULT_MAX_RECORD_BYTES, max_value_bytes
from logway.core.names import dlq_topic, processed_topic
from logway.core.origin import Origin, origin_event_id
from streams.steps import DEFAULT_PIPELINE, AnyStep
from streams.steps.base import (
    HELD,
    Carried,
    CompiledStep,
    Document,
    Dropped,
    Failure,
    Record,
    utf8_error,
)
from streams.steps.multiline import Multiliner
from streams.steps.reassemble import Reassembler
from streams.steps.route import DEFAULT_ROUTES, Route, compile_routes
from streams.steps.timestamp import kafka_time


@dataclass(frozen=True, slots=True)
class Output:
    """A record to produce: where, with which key, and whether it is a dead letter."""

    topic: str
    key: bytes
    value: bytes
    reason: Reason | None = None  # set exactly when this is a dead letter
    step: str | None = None  # the step that failed, for dead letters
    flags: tuple[str, ...] = ()  # the document's `logway.<flag>: true`, counted by the worker


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one raw record (or of a line or event that a timeout completed).

    At most one of `output` (a document or a dead letter) and `dropped` (a bounded reason);
    `held` says the record itself is kept back (a piece of a line, a line of an event, still
    being joined): its offset must stay uncommitted. A held record may still carry the output
    of an earlier event it completed (`multiline`). `released` lists the offsets, in the same
    topic partition, of held records this outcome completes: they may be committed once
    `output` is acknowledged. `joined` counts the records whose content went into another
    record's document (for the ledger: each record read is processed, dead-lettered, dropped,
    joined, or still held).
    """

    output: Output | None = None
    dropped: str | None = None
    held: bool = False
    released: tuple[int, ...] = ()
    joined: int = 0


HELD_OUTCOME = Outcome(held=True)
FOREIGN_FIELDS = "logway_foreign"  # where a record's own `logway` fields are moved to


OURS = ("logway", "data_stream")  # top-level objects only the pipeline writes


def _stands_for(key: str, names: tuple[str, ...]) -> bool:
    """Whether a top-level key names one of `names`, as Elasticsearch reads dotted names."""
    return any(key == name or key.startswith(name + ".") for name in names)


PodLookup = Callable[[str, str], PodRecord | None]
PATHS_KEPT = 65_536  # log paths read and remembered per pipeline


StepTimer = Callable[[str, float], None]
TIME_EVERY = 64  # one record in this many has each of its steps timed


class TenantPipeline:
    """One tenant's compiled steps and routes, at one config version."""

    def __init__(
        self,
        tenant: str,
        steps: Sequence[AnyStep] = DEFAULT_PIPELINE,
        routes: Sequence[Route] = DEFAULT_ROUTES,
        version: str | None = None,
        *,
        step_timer: StepTimer | None = None,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        namespaces: frozenset[str] = frozenset(),
        pods: PodLookup | None = None,
    ) -> None:
        """`step_timer(step, seconds)`, when given, gets the time of each step of one record in
        `TIME_EVERY`. `max_record_bytes` is what the tenant's topics accept: no output is larger
        (a bigger document is dead-lettered `too_large`; a bigger dead letter carries the head
        of its original and says so), so Kafka never refuses what this pipeline produces.

        A record keyed by a container log path in one of `namespaces` (those the tenant claims)
        gets `kubernetes` and `container`, from the path and from `pods` (the pod watcher's
        records); a path in any other namespace gets nothing, so no tenant can have another's
        pod labels copied into its documents by naming that pod's log file."""
        self.tenant = tenant
        self.namespaces = namespaces
        self.pods = pods
        self._paths: dict[bytes, Document | None] = {}
        self.max_record_bytes = max_record_bytes
        self.max_value_bytes = max_value_bytes(max_record_bytes)
        self.step_timer = step_timer
        self._count = 0
        self.version = version
        self.step_names = tuple(step.step for step in steps)
        self.steps: tuple[CompiledStep, ...] = tuple(step.compile() for step in steps)
        self.choose_route = compile_routes(routes)
        self._processed = processed_topic(tenant)
        self._dlq = dlq_topic(tenant)
        self.reassembler: Reassembler | None = None
        self._after_reassembly = 0
        self.multiliner: Multiliner | None = None
        self._after_multiline = 0
        for index, compiled in enumerate(self.steps):
            if isinstance(compiled, Reassembler):
                self.reassembler, self._after_reassembly = compiled, index + 1
            if isinstance(compiled, Multiliner):
                self.multiliner, self._after_multiline = compiled, index + 1

    def holding(self) -> int:
        """How many lines or events this pipeline holds, half-joined."""
        return len(self.reassembler or ()) + len(self.multiliner or ())

    def process(self, value: bytes | None, record: Record) -> Outcome:
        """The outcome of the raw record `value` read at `record`."""
        raw = value or b""
        record.raw = raw
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            error = utf8_error(raw) or ""
            if self.reassembler is None:
                return self._dead_letter(record, "decode", Reason.INVALID_UTF8, error)
            # A piece of a split line may end or start inside a character: keep its bytes as
            # they are until `reassemble` has joined the line (which decodes it whole).
            text = raw.decode("utf-8", "surrogateescape")
            record.undecoded = error
        return self._run({"message": text}, record, 0)

    def expire(self, now: float | None = None) -> Iterator[tuple[Record, Outcome]]:
        """Lines whose last piece, and events whose next line, did not come in time, taken
        through the rest of the steps. The record each outcome is carried by was held: it is
        among the offsets released."""
        if self.reassembler is not None:
            for record, result in self.reassembler.expire(now):
                if isinstance(result, Failure):
                    letter = self._dead_letter(record, "reassemble", result.reason, result.error)
                    released = tuple(record.released or ())
                    outcome = Outcome(output=letter.output, released=released)
                else:
                    assert isinstance(result, dict)
                    outcome = self._run(result, record, self._after_reassembly)
                yield record, _carried_by_a_held_record(outcome)
        if self.multiliner is not None:
            for record, doc in self.multiliner.expire(now):
                outcome = self._run(doc, record, self._after_multiline)
                yield record, _carried_by_a_held_record(outcome)

    def forget(self, topic: str, partition: int) -> None:
        """Drop half-joined lines and events of a partition this worker lost; the next owner
        re-reads them."""
        if self.reassembler is not None:
            self.reassembler.forget(topic, partition)
        if self.multiliner is not None:
            self.multiliner.forget(topic, partition)

    def _run(self, doc: Document, record: Record, start: int) -> Outcome:
        steps = self.steps
        index = start
        self._count += 1
        timer = self.step_timer if self._count % TIME_EVERY == 0 else None
        try:
            while index < len(steps):
                if timer is None:
                    result: Any = steps[index](doc, record)
                else:
                    started = time.perf_counter()
                    result = steps[index](doc, record)
                    timer(self.step_names[index], time.perf_counter() - started)
                if type(result) is dict:
                    doc = result
                    index += 1
                    continue
                if result is HELD:
                    return HELD_OUTCOME
                if type(result) is Carried:
                    # An earlier event is complete: it goes on, and this record is held.
                    carried = self._run(result.doc, result.record, index + 1)
                    return replace(_carried_by_a_held_record(carried), held=True)
                released = tuple(record.released or ())
                if isinstance(result, Failure):
                    step: str = self.step_names[index]
                    reason, error = result.reason, result.error
                    if record.undecoded is not None:  # the bytes were the problem
                        step, reason, error = "decode", Reason.INVALID_UTF8, record.undecoded
                    outcome = self._dead_letter(record, step, reason, error)
                    return Outcome(output=outcome.output, released=released, joined=len(released))
                if isinstance(result, Dropped):
                    return Outcome(dropped=result.why, released=released, joined=len(released))
                raise TypeError(f"step returned {type(result).__name__}")
            route = self.choose_route(doc)
            released = tuple(record.released or ())
            output = self._document(doc, record, route)
            return Outcome(output=output, released=released, joined=len(released))
        except Exception as exc:
            failed = self.step_names[index] if index < len(steps) else "route"
            error = f"{type(exc).__name__}: {exc}"
            outcome = self._dead_letter(record, failed, Reason.INTERNAL_ERROR, error)
            released = tuple(record.released or ())
            return Outcome(output=outcome.output, released=released, joined=len(released))

    def _document(self, doc: Document, record: Record, route: str) -> Output:
        event_id = record.event_id or origin_event_id(record.topic, record.partition, record.offset)
        received = kafka_time(record.timestamp_ms)
        if "@timestamp" not in doc:
            doc["@timestamp"] = received
        meta: Document = {
            "tenant": self.tenant,
            "id": event_id,
            "origin": {
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "index": 0,
            },
            "received_at": received,
            "route": route,
            "tenant_version": self.version,
        }
        # One C-level search over the keys first: a scan key by key was 0.8 us per record.
        keys = "\n".join(doc)
        if "logway" in keys or "data_stream" in keys:
            self._move_foreign_fields(doc, record, OURS)
        if self.namespaces and record.key is not None:
            found = self._kubernetes(record.key)
            if found is not None:
                if "kubernetes" in keys or "container" in keys:
                    self._move_foreign_fields(doc, record, ("kubernetes", "container"))
                doc["kubernetes"] = found["kubernetes"]
                if found["container"] is not None:
                    doc["container"] = found["container"]
        doc["data_stream"] = {"type": "logs", "dataset": self.tenant, "namespace": route}
        if record.flags:
            for flag in record.flags:
                meta[flag.value] = True
        doc[BLOCK] = meta
        value = orjson.dumps(doc)
        if len(value) > self.max_value_bytes:
            error = (
                f"the document is {len(value)} bytes; the tenant's topics take "
                f"{self.max_record_bytes} (topics.max_record_bytes)"
            )
            letter = self._dead_letter(record, "route", Reason.TOO_LARGE, error)
            assert letter.output is not None
            return letter.output
        if record.flags:
            return Output(self._processed, event_id.encode(), value, flags=tuple(record.flags))
        return Output(self._processed, event_id.encode(), value)

    def _kubernetes(self, key: bytes) -> Document | None:
        """`kubernetes` and `container` for a record keyed by a container log path in one of
        the tenant's namespaces; the path's reading is remembered, the pod looked up each time
        (its labels change)."""
        if key in self._paths:
            found = self._paths[key]
        else:
            if len(self._paths) >= PATHS_KEPT:
                self._paths.clear()
            path = read_log_path(key)
            found = None
            if path is not None and path.namespace in self.namespaces:
                named: Document = {"name": path.pod}
                if path.pod_uid is not None:
                    named["uid"] = path.pod_uid
                found = {
                    "kubernetes": {
                        "namespace": path.namespace,
                        "pod": named,
                        "container": {"name": path.container},
                    },
                    "container": {"id": path.container_id} if path.container_id else None,
                }
            self._paths[key] = found
        if found is None:
            return None
        k8s = found["kubernetes"]
        pod = self.pods(k8s["namespace"], k8s["pod"]["name"]) if self.pods else None
        uid = k8s["pod"].get("uid")
        if pod is None or (uid is not None and pod.uid != uid):  # none, or a later pod's
            return {"kubernetes": dict(k8s), "container": found["container"]}
        enriched = {
            **k8s,
            "pod": {"name": pod.name, "uid": pod.uid},
            "labels": pod.labels,
            "annotations": pod.annotations,
        }
        if pod.node:
            enriched["node"] = {"name": pod.node}
        return {"kubernetes": enriched, "container": found["container"]}

    @staticmethod
    def _move_foreign_fields(doc: Document, record: Record, names: tuple[str, ...]) -> None:
        """Move what the record brought under `names` (see the module docstring) aside."""
        foreign = [key for key in doc if _stands_for(key, names)]
        if not foreign:
            return
        moved = doc.setdefault(FOREIGN_FIELDS, {})
        if not isinstance(moved, dict):
            moved = doc[FOREIGN_FIELDS] = {FOREIGN_FIELDS: moved}
        for key in foreign:
            moved[key] = doc.pop(key)
        record.flag(Flag.FOREIGN_FIELDS_MOVED)

    def _dead_letter(self, record: Record, step: str, reason: Reason, error: str) -> Outcome:
        origin = Origin(topic=record.topic, partition=record.partition, offset=record.offset)
        letter = DeadLetter.build(
            tenant=self.tenant,
            stage=Stage.PROCESSOR,
            step=step,
            reason=reason,
            error=error,
            original=record.raw,
            source=origin,
            record_time=datetime.fromtimestamp(record.timestamp_ms / 1000, UTC),
            tenant_version=self.version,
            event_id=record.event_id,
        )
        # A line joined from pieces can outgrow the topic: the letter keeps its head.
        value = letter.fitted(self.max_value_bytes)
        key = letter.event_id.encode()
        return Outcome(output=Output(self._dlq, key, value, reason, step))


def _carried_by_a_held_record(outcome: Outcome) -> Outcome:
    """An outcome carried by a record that was itself held (the first of its line or event):
    that record is among the offsets released, and is the one processed, not joined."""
    return replace(outcome, joined=max(len(outcome.released) - 1, 0))

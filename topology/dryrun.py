"""The dry-run level of `logway validate`: compile a tenant's pipeline exactly as the processor
does, and run its `samples` through it.

A sample whose result differs from its expectation is an error with a diff. Samples run with a
fixed Kafka time (2000-01-01T00:00:00Z), so an expected output only pins `@timestamp` when it
names one.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator
from typing import Any

import orjson

from logway.core.deadletter import DeadLetter
from streams.pipeline import Outcome, TenantPipeline
from streams.steps.base import Record
from topology.model import Sample, Tenant

SAMPLE_TIME_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
Problem = tuple[tuple[int | str, ...], str]  # where in the tenant document, what is wrong


def dry_run(tenant: Tenant) -> Iterator[Problem]:
    """Every problem the dry-run finds in `tenant`; none means its samples all pass."""
    try:
        TenantPipeline(tenant.name, tenant.pipeline, tenant.routes)
    except Exception as exc:
        yield ("pipeline",), f"the pipeline does not compile: {type(exc).__name__}: {exc}"
        return
    for index, sample in enumerate(tenant.samples):
        # A fresh pipeline per sample: reassembly buffers and rate limits start empty.
        pipeline = TenantPipeline(tenant.name, tenant.pipeline, tenant.routes)
        problem = _check(sample, list(_results(pipeline, sample)))
        if problem is not None:
            where, message = problem
            yield ("samples", index, *where), message


def _results(pipeline: TenantPipeline, sample: Sample) -> Iterator[Outcome]:
    inputs = (sample.input,) if isinstance(sample.input, str) else sample.input
    for offset, text in enumerate(inputs):
        record = Record(f"logs.{pipeline.tenant}.raw", 0, offset, b"sample", SAMPLE_TIME_MS)
        outcome = pipeline.process(text.encode("utf-8"), record)
        if not outcome.held or outcome.output is not None or outcome.dropped is not None:
            yield outcome
    for _record, outcome in pipeline.expire(now=math.inf):
        yield outcome


def _check(sample: Sample, results: list[Outcome]) -> Problem | None:
    if len(results) != 1:
        return (
            ("input",),
            f"the input gave {len(results)} results; a sample is one record, or the pieces "
            "of one split line, or the lines of one multi-line event",
        )
    [result] = results
    if sample.output is None:
        return _check_refusal(sample, result)
    if result.output is None or result.output.reason is not None:
        return (("output",), f"expected a document, but {_describe(result)}")
    document: dict[str, Any] = orjson.loads(result.output.value)
    route = document.pop("logway")["route"]
    document.pop("data_stream")  # logway's, like the block: the route says it all
    if "@timestamp" not in sample.output:
        document.pop("@timestamp", None)
    if route != sample.route:
        return (("route",), f"expected route {sample.route!r}, but it took {route!r}")
    if document != sample.output:
        return (
            ("output",),
            "the output differs from the expected one:\n" + _diff(sample.output, document),
        )
    return None


def _check_refusal(sample: Sample, result: Outcome) -> Problem | None:
    got = _describe(result)
    if sample.dropped:
        return None if result.dropped else (("dropped",), f"expected it dropped, but {got}")
    if sample.dead_letter is not None:
        if result.output is not None and result.output.reason is sample.dead_letter:
            return None
        return (("dead_letter",), f"expected a dead letter `{sample.dead_letter}`, but {got}")
    return None


def _describe(result: Outcome) -> str:
    if result.dropped:
        return f"it was dropped ({result.dropped})"
    assert result.output is not None
    if result.output.reason is None:
        return "it became a document"
    letter = DeadLetter.from_bytes(result.output.value)
    return f"it was dead-lettered at step `{letter.step}`: {letter.reason}: {letter.error}"


def _diff(expected: dict[str, Any], actual: dict[str, Any]) -> str:
    def lines(value: dict[str, Any]) -> list[str]:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        return text.splitlines()

    diff = difflib.unified_diff(lines(expected), lines(actual), "expected", "actual", lineterm="")
    return "\n".join(diff)

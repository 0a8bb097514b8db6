"""Selection steps: `drop`, `keep`, `sample`, `limit`. What they leave out is counted by reason.

`sample` decides from the record's origin (topic, partition, offset), not at random, so a record
read again after a crash gets the same decision and the counts stay stable.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import Literal

from pydantic import Field, StrictInt

from logway.core.deadletter import Reason
from streams.conditions import compile_condition
from streams.steps.base import (
    CompiledStep,
    Condition,
    Document,
    Dropped,
    Failure,
    Record,
    StepConfig,
    StepResult,
)

BY_RULE = Dropped("rule")
SAMPLED = Dropped("sampled")
RATE_LIMITED = Dropped("rate_limited")


class DropStep(StepConfig):
    """Drop the records that match `when`."""

    name = "drop"
    step: Literal["drop"] = Field(description="The step's name.")
    when: Condition = Field(
        description="Records matching this are dropped.", examples=['level == "debug"']
    )

    def compile(self) -> CompiledStep:
        matches = compile_condition(self.when)

        def drop(doc: Document, record: Record) -> StepResult:
            return BY_RULE if matches(doc) else doc

        return drop


class KeepStep(StepConfig):
    """Keep only the records that match `when`; drop the rest."""

    name = "keep"
    step: Literal["keep"] = Field(description="The step's name.")
    when: Condition = Field(
        description="Only records matching this are kept.", examples=["exists trace_id"]
    )

    def compile(self) -> CompiledStep:
        matches = compile_condition(self.when)

        def keep(doc: Document, record: Record) -> StepResult:
            return doc if matches(doc) else BY_RULE

        return keep


class SampleStep(StepConfig):
    """Keep a fraction of the records (of those matching `when`, if given)."""

    name = "sample"
    step: Literal["sample"] = Field(description="The step's name.")
    rate: float = Field(
        gt=0, le=1, description="Fraction of records kept, e.g. 0.1 for one in ten.", examples=[0.1]
    )

    def build(self) -> CompiledStep:
        threshold = int(self.rate * 0xFFFFFFFF)

        def sample(doc: Document, record: Record) -> StepResult:
            origin = f"{record.topic}:{record.partition}:{record.offset}".encode()
            return doc if zlib.crc32(origin) <= threshold else SAMPLED

        return sample


class LimitStep(StepConfig):
    """Cap the records per second this tenant's pipeline passes on, per processor process."""

    name = "limit"
    step: Literal["limit"] = Field(description="The step's name.")
    records_per_s: StrictInt = Field(
        ge=1, le=1_000_000, description="Records per second let through.", examples=[2000]
    )
    burst: StrictInt | None = Field(
        None,
        ge=1,
        le=10_000_000,
        description="Records let through at once after a quiet "
        "spell; defaults to one second's worth.",
    )
    over_limit: Literal["dead_letter", "drop"] = Field(
        "dead_letter",
        description="What happens to records over the limit: kept in the dead-letter topic "
        "(reason `rate_limited`, replayable) or dropped (counted).",
    )

    def build(self) -> CompiledStep:
        return token_bucket(
            float(self.records_per_s),
            float(self.burst or self.records_per_s),
            Failure(Reason.RATE_LIMITED, f"over the limit of {self.records_per_s} records/s")
            if self.over_limit == "dead_letter"
            else RATE_LIMITED,
        )


def token_bucket(
    rate: float,
    burst: float,
    refused: StepResult,
    clock: Callable[[], float] = time.monotonic,
) -> CompiledStep:
    tokens = burst
    last = clock()

    def limit(doc: Document, record: Record) -> StepResult:
        nonlocal tokens, last
        now = clock()
        tokens = min(burst, tokens + (now - last) * rate)
        last = now
        if tokens >= 1:
            tokens -= 1
            return doc
        return refused

    return limit

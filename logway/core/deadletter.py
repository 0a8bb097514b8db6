"""Dead letters: what could not be processed, why, and everything needed to replay it.

A dead letter is a value, not a log line: the envelope below is the record written to
`logs.<tenant>.dlq`, keyed by the event id of the record it replaces.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from logway.core.origin import Origin


class Reason(StrEnum):
    """Why a record was dead-lettered. A bounded set: it is a metric label and an alert key."""

    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    PATTERN_MISMATCH = "pattern_mismatch"
    MISSING_FIELD = "missing_field"
    PARTIAL_TIMEOUT = "partial_timeout"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    MAPPING_CONFLICT = "mapping_conflict"
    INDEX_REJECTED = "index_rejected"
    INTERNAL_ERROR = "internal_error"


class Stage(StrEnum):
    """Which component gave up on the record."""

    PROCESSOR = "processor"
    SINK = "sink"


class DeadLetter(BaseModel):
    """The envelope written to a tenant's dead-letter topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str
    stage: Stage
    step: str = Field(description="The step within the stage, e.g. 'parse' or 'bulk'.")
    reason: Reason
    error: str = Field(description="What went wrong, for a person.")
    original: str = Field(description="The original record bytes, as text or base64.")
    original_encoding: Literal["utf-8", "base64"]
    source: Origin
    event_id: str
    tenant_version: str | None = Field(
        None, description="The tenant's config version in use when the record failed."
    )
    record_time: datetime | None = Field(None, description="Kafka timestamp of the raw record.")
    failed_at: datetime

    @classmethod
    def build(
        cls,
        *,
        tenant: str,
        stage: Stage,
        step: str,
        reason: Reason,
        error: str,
        original: bytes,
        source: Origin,
        record_time: datetime | None = None,
        tenant_version: str | None = None,
        event_id: str | None = None,
    ) -> DeadLetter:
        try:
            text, encoding = original.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(original).decode("ascii"), "base64"
        return cls(
            tenant=tenant,
            stage=stage,
            step=step,
            reason=reason,
            error=error,
            original=text,
            original_encoding=encoding,
            source=source,
            event_id=event_id or source.event_id,
            tenant_version=tenant_version,
            record_time=record_time,
            failed_at=datetime.now(UTC),
        )

    def original_bytes(self) -> bytes:
        if self.original_encoding == "base64":
            return base64.b64decode(self.original)
        return self.original.encode("utf-8")

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    def fitted(self, max_bytes: int) -> bytes:
        """This letter as a record value of at most `max_bytes` (what the DLQ topic takes).

        A letter over it keeps only the head of its original, and its error says how much
        and where the whole record is; the envelope grows with the original (JSON escapes,
        base64), so the head shrinks in proportion until it fits. A letter that cannot fit
        even with an empty original (an absurd limit) is returned as small as it gets.
        """
        value = self.to_bytes()
        whole = self.original_bytes()
        original = whole
        while len(value) > max_bytes and original:
            keep = int(len(original) * (max_bytes - 2_048) / len(value))
            original = _utf8_head(whole, max(0, min(keep, len(original) - 1)))
            where = self.source
            note = (
                f" (the original is {len(whole)} bytes; its first {len(original)} are kept "
                f"here, the whole record is in {where.topic} partition {where.partition} at "
                f"offset {where.offset})"
            )
            text = (
                original.decode("utf-8")
                if self.original_encoding == "utf-8"
                else base64.b64encode(original).decode("ascii")
            )
            value = self.model_copy(
                update={"original": text, "error": self.error + note}
            ).to_bytes()
        return value

    @classmethod
    def from_bytes(cls, value: bytes) -> DeadLetter:
        return cls.model_validate_json(value)


def _utf8_head(raw: bytes, size: int) -> bytes:
    """The first `size` bytes of `raw`, not ending inside a UTF-8 character when it is text."""
    head = raw[:size]
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return head
    return head.decode("utf-8", "ignore").encode("utf-8")

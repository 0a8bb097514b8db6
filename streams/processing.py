"""One raw record in, one record out: a document for `processed`, or a dead letter for `dlq`.

This is the whole per-record contract of the processor, kept free of Faust so it can be tested
and measured alone. It never raises: an unexpected error inside it dead-letters the record
with `internal_error` and processing goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from streams.deadletter import DeadLetter, Reason, Stage
from streams.origin import Origin
from streams.parse import Rejection, parse_log_record
from topology.names import dlq_topic, processed_topic


@dataclass(frozen=True)
class Output:
    """A record to produce: where, with which key, and whether it is a dead letter."""

    topic: str
    key: bytes
    value: bytes
    reason: Reason | None = None  # set exactly when this is a dead letter

    @property
    def dead_letter(self) -> bool:
        return self.reason is not None


def process_record(
    tenant: str,
    origin: Origin,
    value: bytes | None,
    timestamp_ms: int | None,
    tenant_version: str | None = None,
) -> Output:
    """Turn the raw record at `origin` into its processed document or its dead letter.

    Both carry `tenant_version`: the tenant config version that processed the record.
    """
    raw = value or b""
    received = _kafka_time(timestamp_ms)
    try:
        parsed = parse_log_record(raw)
        if isinstance(parsed, Rejection):
            return _dead_letter(
                tenant,
                origin,
                raw,
                received,
                reason=parsed.reason,
                error=parsed.error,
                tenant_version=tenant_version,
            )
        parsed.setdefault("@timestamp", received.isoformat())
        parsed["logway"] = {
            "tenant": tenant,
            "id": origin.event_id,
            "origin": origin.model_dump(),
            "received_at": received.isoformat(),
            "tenant_version": tenant_version,
        }
        document = orjson.dumps(parsed)
    except Exception as exc:
        return _dead_letter(
            tenant,
            origin,
            raw,
            received,
            reason=Reason.INTERNAL_ERROR,
            error=f"{type(exc).__name__}: {exc}",
            tenant_version=tenant_version,
        )
    return Output(processed_topic(tenant), origin.event_id.encode(), document)


def _dead_letter(
    tenant: str,
    origin: Origin,
    raw: bytes,
    received: datetime,
    *,
    reason: Reason,
    error: str,
    tenant_version: str | None,
) -> Output:
    letter = DeadLetter.build(
        tenant=tenant,
        stage=Stage.PROCESSOR,
        step="parse",
        reason=reason,
        error=error,
        original=raw,
        source=origin,
        record_time=received,
        tenant_version=tenant_version,
    )
    return Output(dlq_topic(tenant), origin.event_id.encode(), letter.to_bytes(), reason)


def _kafka_time(timestamp_ms: int | None) -> datetime:
    if timestamp_ms is None or timestamp_ms <= 0:
        return datetime.now(UTC)
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)

"""How large a record may be: one function that the gateway, the processor and the sink share."""

from __future__ import annotations

DEFAULT_MAX_RECORD_BYTES = 1_048_576  # a tenant's topics.max_record_bytes when none is given
RECORD_OVERHEAD = 1_024  # Kafka's record and batch framing, the key: kept free under the limit


def max_value_bytes(max_record_bytes: int | None = None) -> int:
    """The largest record value a topic of `max.message.bytes` = `max_record_bytes` takes
    (None: the default a tenant gets)."""
    return (max_record_bytes or DEFAULT_MAX_RECORD_BYTES) - RECORD_OVERHEAD

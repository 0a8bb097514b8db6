"""The one place that decides what an Elasticsearch bulk item outcome means for the record.

Pure and table-tested against recorded response bodies: indexed, retry, or dead-letter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from logway.core.deadletter import Reason

# Document-level refusals: retrying the same document can never succeed.
MAPPING_ERRORS = frozenset(
    {
        "mapper_parsing_exception",
        "document_parsing_exception",
        "strict_dynamic_mapping_exception",
        "illegal_argument_exception",
        "mapper_exception",
    }
)


class Verdict(StrEnum):
    INDEXED = "indexed"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


class RetryReason(StrEnum):
    """Why a record will be retried: the `reason` label of `logway_retries_total`."""

    OVERLOADED = "overloaded"  # 429
    UNAVAILABLE = "unavailable"  # 5xx, no connection, no answer
    BLOCKED = "blocked"  # a cluster block, e.g. read-only after the disk flood stage


@dataclass(frozen=True)
class ItemOutcome:
    verdict: Verdict
    status: int
    reason: Reason | None = None  # with DEAD_LETTER
    retry: RetryReason | None = None  # with RETRY
    error: str = ""


def classify_item(item: Mapping[str, Any]) -> ItemOutcome:
    """Classify one entry of a bulk response's `items` (e.g. `{"index": {"status": 201}}`).

    - 2xx: indexed. 409 on our deterministic `_id`: the document is already there, indexed.
    - 429 and 5xx: overload or a node in trouble; retry this item only, later.
    - 403 with a cluster block (read-only, disk flood stage): an operator state; retry.
    - 400 mapping and parsing errors: the document can never be indexed as it is;
      dead-letter with `mapping_conflict`. Any other 4xx: dead-letter with `index_rejected`.
    """
    result = next(iter(item.values()))
    status = int(result.get("status", 0))
    error = result.get("error") or {}
    kind = error.get("type", "") if isinstance(error, Mapping) else ""
    text = _describe(error)
    if 200 <= status < 300 or status == 409:
        return ItemOutcome(Verdict.INDEXED, status)
    if status == 429:
        return ItemOutcome(Verdict.RETRY, status, retry=RetryReason.OVERLOADED, error=text)
    if status >= 500 or status == 0:
        return ItemOutcome(Verdict.RETRY, status, retry=RetryReason.UNAVAILABLE, error=text)
    if status == 403 and kind == "cluster_block_exception":
        return ItemOutcome(Verdict.RETRY, status, retry=RetryReason.BLOCKED, error=text)
    if status == 400 and kind in MAPPING_ERRORS:
        return ItemOutcome(Verdict.DEAD_LETTER, status, reason=Reason.MAPPING_CONFLICT, error=text)
    return ItemOutcome(Verdict.DEAD_LETTER, status, reason=Reason.INDEX_REJECTED, error=text)


def _describe(error: object) -> str:
    if not isinstance(error, Mapping):
        return str(error) if error else ""
    text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
    cause = error.get("caused_by")
    if isinstance(cause, Mapping):
        text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
    return text

"""The one place that decides what an Elasticsearch bulk item outcome means for the record.

Pure and table-tested against recorded response bodies: indexed, retry, wait, or dead-letter.
"""

from __future__ import annotations

import re
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


# A refusal is the cluster's, not the record's, when Elasticsearch could not create or write
# the index for a reason of its own state: the shard limit reached, a missing ingest pipeline.
SHARD_LIMIT_TEXT = re.compile(r"maximum (?:normal |frozen )?shards open")
MISSING_PIPELINE_TEXT = re.compile(r"pipeline with id \[[^\]]*\] does not exist")


class Verdict(StrEnum):
    INDEXED = "indexed"
    RETRY = "retry"  # the cluster is overloaded or unreachable: every tenant backs off
    WAIT = "wait"  # this index cannot take it now, for a reason of the cluster: its tenant waits
    DEAD_LETTER = "dead_letter"


class RetryReason(StrEnum):
    """Why a record will be retried: the `reason` label of `logway_retries_total`."""

    OVERLOADED = "overloaded"  # 429
    UNAVAILABLE = "unavailable"  # 5xx, no connection, no answer
    BLOCKED = "blocked"  # a cluster block, e.g. read-only after the disk flood stage
    SHARD_LIMIT = "shard_limit"  # a new index would pass cluster.max_shards_per_node
    PIPELINE_MISSING = "pipeline_missing"  # the index's ingest pipeline does not exist
    INDEX_MISSING = "index_missing"  # the index does not exist and may not be created
    INDEX_CLOSED = "index_closed"  # the index is closed


# The reasons of a WAIT: the cluster cannot take this tenant's records now; nothing they hold
# is to blame, so they are never dead-lettered, and nobody else's records wait for them.
WAITING_REASONS = frozenset(
    {
        RetryReason.BLOCKED,
        RetryReason.SHARD_LIMIT,
        RetryReason.PIPELINE_MISSING,
        RetryReason.INDEX_MISSING,
        RetryReason.INDEX_CLOSED,
    }
)


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
    - The cluster's own state keeps the index from taking it: a cluster block (403, read-only
      after the disk flood stage), the shard limit (400 `validation_exception`), a missing
      ingest pipeline, a missing index that may not be created (404), a closed index: wait
      (the tenant's records are held until the cluster takes them). The tenant sent nothing
      wrong.
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
    waiting = _cluster_refusal(status, kind, text)
    if waiting is not None:
        return ItemOutcome(Verdict.WAIT, status, retry=waiting, error=text)
    if status == 400 and kind in MAPPING_ERRORS:
        return ItemOutcome(Verdict.DEAD_LETTER, status, reason=Reason.MAPPING_CONFLICT, error=text)
    return ItemOutcome(Verdict.DEAD_LETTER, status, reason=Reason.INDEX_REJECTED, error=text)


def _cluster_refusal(status: int, kind: str, text: str) -> RetryReason | None:
    """Why the cluster, not the record, kept this item out; None if the record is to blame."""
    if status == 403 and kind == "cluster_block_exception":
        return RetryReason.BLOCKED
    if kind == "validation_exception" and SHARD_LIMIT_TEXT.search(text):
        return RetryReason.SHARD_LIMIT
    if kind == "illegal_argument_exception" and MISSING_PIPELINE_TEXT.search(text):
        return RetryReason.PIPELINE_MISSING
    if status == 404 and kind == "index_not_found_exception":
        return RetryReason.INDEX_MISSING
    if kind == "index_closed_exception":
        return RetryReason.INDEX_CLOSED
    return None


def _describe(error: object) -> str:
    if not isinstance(error, Mapping):
        return str(error) if error else ""
    text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
    cause = error.get("caused_by")
    if isinstance(cause, Mapping):
        text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
    return text

"""The bulk item classifier, against item bodies as Elasticsearch 9 returns them."""

import pytest

from connectors.elasticsearch.classify import RetryReason, Verdict, classify_item
from logway.core.deadletter import Reason

CREATED = {"index": {"_index": "logs-a-2026.11.25", "_id": "x", "status": 201, "result": "created"}}
UPDATED = {"index": {"_index": "logs-a-2026.11.25", "_id": "x", "status": 200, "result": "updated"}}
CONFLICT = {
    "create": {"_id": "x", "status": 409, "error": {"type": "version_conflict_engine_exception"}}
}
TOO_MANY = {
    "index": {
        "_id": "x",
        "status": 429,
        "error": {"type": "es_rejected_execution_exception", "reason": "rejected execution"},
    }
}
UNAVAILABLE = {
    "index": {"_id": "x", "status": 503, "error": {"type": "unavailable_shards_exception"}}
}
MAPPING = {
    "index": {
        "_id": "x",
        "status": 400,
        "error": {
            "type": "document_parsing_exception",
            "reason": "[1:15] failed to parse field [duration_ms] of type [long]",
            "caused_by": {
                "type": "illegal_argument_exception",
                "reason": 'For input string: "slow"',
            },
        },
    }
}
READ_ONLY = {
    "index": {
        "_id": "x",
        "status": 403,
        "error": {"type": "cluster_block_exception", "reason": "index read-only / allow delete"},
    }
}
NOT_FOUND = {"index": {"_id": "x", "status": 404, "error": {"type": "index_not_found_exception"}}}
# Recorded from the dev Elasticsearch 9.2 with cluster.max_shards_per_node at the shards open.
SHARD_LIMIT = {
    "index": {
        "_index": "logs-a-2026.12.06",
        "_id": "x",
        "status": 400,
        "error": {
            "type": "validation_exception",
            "reason": "Validation Failed: 1: this action would add [2] shards, but this cluster "
            "currently has [49]/[49] maximum normal shards open; for more information, see "
            "https://www.elastic.co/docs/deploy-manage/production-guidance/optimize-performance/"
            "size-shards?version=9.2#troubleshooting-max-shards-open;",
        },
    }
}
NO_PIPELINE = {
    "index": {
        "_id": "x",
        "status": 400,
        "error": {
            "type": "illegal_argument_exception",
            "reason": "pipeline with id [nope] does not exist",
        },
    }
}
CLOSED = {
    "index": {
        "_id": "x",
        "status": 400,
        "error": {"type": "index_closed_exception", "reason": "closed"},
    }
}
# Another validation failure is the record's: it is never taken for the shard limit.
OTHER_VALIDATION = {
    "index": {
        "_id": "x",
        "status": 400,
        "error": {"type": "validation_exception", "reason": "Validation Failed: 1: id is too long"},
    }
}
OTHER_ILLEGAL = {
    "index": {
        "_id": "x",
        "status": 400,
        "error": {"type": "illegal_argument_exception", "reason": "Limit of total fields"},
    }
}


@pytest.mark.parametrize(
    ("item", "verdict", "reason"),
    [
        (CREATED, Verdict.INDEXED, None),
        (UPDATED, Verdict.INDEXED, None),
        (CONFLICT, Verdict.INDEXED, None),
        (TOO_MANY, Verdict.RETRY, None),
        (UNAVAILABLE, Verdict.RETRY, None),
        (READ_ONLY, Verdict.WAIT, None),
        (SHARD_LIMIT, Verdict.WAIT, None),
        (NO_PIPELINE, Verdict.WAIT, None),
        (NOT_FOUND, Verdict.WAIT, None),
        (CLOSED, Verdict.WAIT, None),
        (MAPPING, Verdict.DEAD_LETTER, Reason.MAPPING_CONFLICT),
        (OTHER_VALIDATION, Verdict.DEAD_LETTER, Reason.INDEX_REJECTED),
        (OTHER_ILLEGAL, Verdict.DEAD_LETTER, Reason.MAPPING_CONFLICT),
    ],
)
def test_bulk_item_outcomes(item: dict, verdict: Verdict, reason: Reason | None) -> None:
    outcome = classify_item(item)
    assert outcome.verdict is verdict
    assert outcome.reason is reason


@pytest.mark.parametrize(
    ("item", "retry"),
    [
        (TOO_MANY, RetryReason.OVERLOADED),
        (UNAVAILABLE, RetryReason.UNAVAILABLE),
        (READ_ONLY, RetryReason.BLOCKED),
        (SHARD_LIMIT, RetryReason.SHARD_LIMIT),
        (NO_PIPELINE, RetryReason.PIPELINE_MISSING),
        (NOT_FOUND, RetryReason.INDEX_MISSING),
        (CLOSED, RetryReason.INDEX_CLOSED),
    ],
)
def test_every_retry_and_wait_says_why(item: dict, retry: RetryReason) -> None:
    assert classify_item(item).retry is retry


def test_a_mapping_conflict_explains_itself() -> None:
    error = classify_item(MAPPING).error
    assert "document_parsing_exception" in error
    assert 'For input string: "slow"' in error

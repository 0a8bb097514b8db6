"""One bulk request and what came of it: indexed, to retry, or refused for good."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from elasticsearch import ApiError, Elasticsearch, TransportError
from elasticsearch.serializer import OrjsonSerializer

from connectors.elasticsearch.classify import RetryReason, Verdict, classify_item
from connectors.elasticsearch.request import Pending, bulk_body
from logway.core.deadletter import DeadLetter, Reason, Stage
from logway.core.elastic import index_lists
from logway.core.metrics import BULK_BYTES, BULK_SECONDS, TenantMeters

log = logging.getLogger("logway.sink")


class ResponseReader(OrjsonSerializer):
    """Reads the sink's responses with orjson (the json module's reading of bulk responses
    was 6% of the sink's CPU), and with the json module what orjson refuses (a lone UTF-16
    surrogate, which an error reason quoting a record could carry): a response never fails
    to be read, which would retry its whole batch with every partition paused."""

    def json_loads(self, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return json.loads(data)


# What the sink reads of a bulk response; leaving out each item's index, id, version, shards
# and sequence numbers spares Elasticsearch writing them and the sink parsing them.
BULK_RESPONSE_FIELDS = "errors,items.*.status,items.*.error"
# Whole-request refusals caused by what the request holds, never fixed by sending it again:
# 400 (e.g. an `_id` over 512 bytes) and 413 (over http.max_content_length). The sink splits
# such a bulk to find the items to blame. Other statuses (401/403, 429, 5xx) are about the
# cluster or the sink's login, and are retried whole.
REFUSED_FOR_ITS_ITEMS = frozenset({400, 413})
# The most a refresh of new indices may hold the sink's loop, per request of 40 names.
REFRESH_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Waiting:
    """An item whose index the cluster cannot take now, for a reason of its own state
    (`classify.Verdict.WAIT`): its tenant waits, nothing is dead-lettered."""

    item: Pending
    reason: RetryReason
    error: str


# One bulk request over these items: what to retry and why (see `BulkService.attempt`).
Attempt = Callable[[list[Pending], list[DeadLetter], list[Waiting]], tuple[list[Pending], str]]


class BulkService:
    """Sends bulk requests and sorts each item's outcome, counting them per tenant."""

    def __init__(self, es: Elasticsearch, meters: TenantMeters) -> None:
        self.es = es
        self.meters = meters
        self._seconds = BULK_SECONDS.labels(component="sink")
        self._bytes = BULK_BYTES.labels(component="sink")

    def make_searchable(self, indices: list[str], beat: Callable[[], None]) -> None:
        """Refresh these indices now (routes' first generations, just made), so that what was
        indexed into them is searchable at once. Best effort, and short: each request may take
        REFRESH_TIMEOUT_S, the first failure ends it (the indices are left to their refresh
        interval), and `beat` is called between requests (40 names each), so that a thousand
        new tenants' first indices, or an Elasticsearch that hangs, cannot hold the sink's
        loop."""
        fast = self.es.options(request_timeout=REFRESH_TIMEOUT_S, max_retries=0)
        for names in index_lists(indices):
            beat()
            try:
                fast.indices.refresh(index=names, ignore_unavailable=True)
            except (ApiError, TransportError) as exc:
                log.info(
                    "could not refresh %d new index(es) now; they wait for their refresh "
                    "interval: %s",
                    len(indices),
                    exc,
                )
                return

    def attempt(
        self, pending: list[Pending], letters: list[DeadLetter], waiting: list[Waiting]
    ) -> tuple[list[Pending], str]:
        """One bulk request: count what was indexed, add dead letters to `letters` and what
        the cluster cannot take now to `waiting`, return what to retry (the cluster is
        overloaded or unreachable) and why. A request refused whole for what it holds is split
        (`_split`).
        Nothing to send sends nothing: Elasticsearch refuses an empty bulk (400), and splitting
        that refusal would never end.
        """
        if not pending:
            return [], ""
        self._bytes.observe(sum(len(item.document) for item in pending))
        started = time.perf_counter()
        try:
            response = self.es.bulk(
                operations=bulk_body(pending),  # type: ignore[arg-type]
                filter_path=BULK_RESPONSE_FIELDS,
            )
        except (TransportError, ApiError) as exc:
            if isinstance(exc, ApiError) and exc.meta.status in REFUSED_FOR_ITS_ITEMS:
                return self._split(pending, letters, waiting, exc)
            overloaded = isinstance(exc, ApiError) and exc.meta.status == 429
            why = RetryReason.OVERLOADED if overloaded else RetryReason.UNAVAILABLE
            for item in pending:
                self.meters.retried(item.tenant, why)
            return pending, f"bulk request failed: {exc}"
        finally:
            self._seconds.observe(time.perf_counter() - started)
        if response.get("errors") is False:  # every item indexed: no need to look at each
            for tenant, count in Counter(item.tenant for item in pending).items():
                self.meters.finished(tenant, "indexed", count)
            return [], ""
        retry: list[Pending] = []
        error = ""
        for item, entry in zip(pending, response["items"], strict=True):
            verdict = classify_item(entry)
            if verdict.verdict is Verdict.INDEXED:
                self.meters.finished(item.tenant, "indexed")
            elif verdict.verdict is Verdict.RETRY:
                retry.append(item)
                error = verdict.error
                self.meters.retried(item.tenant, verdict.retry or RetryReason.UNAVAILABLE)
            elif verdict.verdict is Verdict.WAIT:
                why = verdict.retry or RetryReason.UNAVAILABLE
                waiting.append(Waiting(item, why, verdict.error))
                self.meters.retried(item.tenant, why)
            else:
                letters.append(refused(item, verdict.reason, verdict.error))
        return retry, error

    def _split(
        self,
        pending: list[Pending],
        letters: list[DeadLetter],
        waiting: list[Waiting],
        refusal: ApiError,
    ) -> tuple[list[Pending], str]:
        """A bulk refused whole for what is in it (see `REFUSED_FOR_ITS_ITEMS`): send each half
        on its own, down to the items to blame, which are dead-lettered with Elasticsearch's
        reason. The others are indexed; one bad record never holds back a batch."""
        if len(pending) <= 1:
            if not pending:
                return [], ""
            item = pending[0]
            if refusal.meta.status == 413:
                reason = Reason.TOO_LARGE
                error = (
                    f"a {len(item.document)}-byte document is over Elasticsearch's request "
                    "size limit (http.max_content_length)"
                )
            else:
                reason = Reason.INDEX_REJECTED
                error = f"Elasticsearch refused the request for this record alone: {refusal}"
            letters.append(refused(item, reason, error[:2000]))
            return [], ""
        half = len(pending) // 2
        log.info(
            "Elasticsearch refused a bulk of %d whole (%d); splitting it to find the record(s) "
            "to blame",
            len(pending),
            refusal.meta.status,
        )
        first, first_error = self.attempt(pending[:half], letters, waiting)
        second, second_error = self.attempt(pending[half:], letters, waiting)
        return first + second, first_error or second_error


def refused(item: Pending, reason: Reason | None, error: str) -> DeadLetter:
    """The dead letter of an item Elasticsearch will never take."""
    return DeadLetter.build(
        tenant=item.tenant,
        stage=Stage.SINK,
        step="bulk",
        reason=reason or Reason.INDEX_REJECTED,
        error=error,
        original=item.document,
        source=item.source,
    )

"""Which generation of its route a document goes to (`connectors.elasticsearch.index`), and
the refresh of a route's first index once made (`connectors.elasticsearch.service`)."""

import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from elasticsearch import Elasticsearch

from connectors.elasticsearch.index import Generations
from connectors.elasticsearch.service import REFRESH_TIMEOUT_S, BulkService, ResponseReader
from logway.core.elastic import index_lists
from logway.core.metrics import TenantMeters

NOW = datetime(2026, 3, 8, 10, 0, 5, tzinfo=UTC)


def placed(document: dict, *, tenant: str = "acme", seen: list[str] | None = None) -> str:
    generations = Generations(None)
    generations.see(seen or [])
    return generations.index(tenant, document, NOW)


@pytest.mark.parametrize(
    "document",
    [
        {"@timestamp": "2026-03-07T23:59:59Z", "logway": {"received_at": "2026-03-08T01:00"}},
        {"@timestamp": 1_772_928_000_000, "logway": {"received_at": "2026-03-08T01:00"}},
        {"@timestamp": "yesterday", "logway": {"received_at": "2026-01-02T00:00:00+00:00"}},
        {"@timestamp": True, "logway": {"received_at": "2026-01-02T03:00:00"}},
        {"@timestamp": "1970-01-01T00:00:00Z"},
    ],
)
def test_a_routes_first_generation_is_the_same_whatever_its_first_document(
    document: dict,
) -> None:
    # Two sinks seeing a new route's first records at once name one index, not two.
    assert placed(document) == "logs-acme.default-first"


@pytest.mark.parametrize(
    ("route", "index"),
    [
        ("default", "logs-acme.default-first"),
        ("audit", "logs-acme.audit-first"),
        ("Not-A-Route", "logs-acme.default-first"),  # never an index outside the templates
        ("../x", "logs-acme.default-first"),
        (7, "logs-acme.default-first"),
    ],
)
def test_the_route_chosen_by_the_processor_names_the_index_family(
    route: object, index: str
) -> None:
    document = {
        "@timestamp": "2026-03-07T10:00:00Z",
        "logway": {"route": route, "received_at": "2026-03-07T10:00:01Z"},
    }
    assert placed(document) == index


def test_a_route_index_of_one_tenant_is_never_another_tenants_index() -> None:
    # Tenant names have no '.', so "acme" routing to "pay" cannot collide with tenant "acme-pay".
    document = {"@timestamp": "2026-03-07", "logway": {"route": "pay"}}
    assert placed(document) != placed({"@timestamp": "2026-03-07"}, tenant="acme-pay")


SEEN = [
    "logs-acme.default-2026.02.01",  # a daily index of an earlier release
    "logs-acme.default-2026.02.02",
    "logs-acme.default-2026.03.03-14.10",  # rolled over on 3 March at 14:00
    "logs-acme.default-2026.03.08-10.10",  # rolled over just now: starts in ten minutes
    "logs-acme.audit-2026.01.01",
    "logs-acme-x.default-2026.03.08",  # a neighbour's
    "logs-acme.default-2026.13.01",  # not a time: not a generation
    "other-index",
]


@pytest.mark.parametrize(
    ("stamp", "index"),
    [
        ("2026-03-03T14:09:59Z", "logs-acme.default-2026.02.02"),
        ("2026-03-03T14:10:00Z", "logs-acme.default-2026.03.03-14.10"),
        ("2026-03-08T10:00:00Z", "logs-acme.default-2026.03.03-14.10"),
        # later than its arrival: placed by its arrival, never in the generation to come
        ("2026-03-08T12:00:00Z", "logs-acme.default-2026.03.03-14.10"),
        ("9999-12-31T00:00:00Z", "logs-acme.default-2026.03.03-14.10"),
        # more than a week before its arrival: placed by its arrival too
        ("2026-02-01T10:00:00Z", "logs-acme.default-2026.03.03-14.10"),
        ("2026-03-01T10:00:01Z", "logs-acme.default-2026.02.02"),
    ],
)
def test_a_document_goes_to_the_generation_holding_its_time(stamp: str, index: str) -> None:
    document = {"@timestamp": stamp, "logway": {"received_at": "2026-03-08T10:00:00.000Z"}}
    assert placed(document, seen=SEEN) == index


def test_a_record_goes_to_the_same_generation_whenever_it_is_sent() -> None:
    # Its place depends on the record alone (its times), not on the sink's clock: sent before
    # the rollover starts and again after it, it lands in the same index.
    generations = Generations(None)
    generations.see(SEEN)
    document = {
        "@timestamp": "2026-03-08T10:00:00Z",
        "logway": {"received_at": "2026-03-08T10:00:01Z"},
    }
    first = generations.index("acme", document, NOW)
    again = generations.index("acme", document, NOW + timedelta(hours=2))
    assert first == again == "logs-acme.default-2026.03.03-14.10"


def test_older_than_every_generation_goes_to_the_oldest() -> None:
    document = {"@timestamp": "2026-03-02T00:00:00Z", "logway": {"received_at": "2026-03-08"}}
    assert placed(document, seen=SEEN[2:]) == "logs-acme.default-2026.03.03-14.10"
    assert placed(document, seen=["logs-acme.default-first", *SEEN[2:]]) == (
        "logs-acme.default-first"
    )
    assert placed({**document, "logway": {"route": "audit"}}, seen=SEEN) == (
        "logs-acme.audit-2026.01.01"
    )


def test_timestamps_cannot_make_indices() -> None:
    # Every day of a century and of this month: one generation, the route's first.
    stamps = [f"{year}-{month:02}-15T00:00:00Z" for year in range(1990, 2100) for month in (1, 7)]
    stamps += [f"2026-03-{d:02}T00:00:00Z" for d in range(1, 32)]
    generations = Generations(None)
    received = {"received_at": "2026-03-08T10:00:00.000Z"}
    names = {generations.index("acme", {"@timestamp": s, "logway": received}, NOW) for s in stamps}
    assert names == {"logs-acme.default-first"}


def test_no_view_of_the_indices_until_elasticsearch_answers() -> None:
    # A port nobody listens on: the listing fails, so no record may be placed.
    es = Elasticsearch("http://127.0.0.1:9", request_timeout=1, max_retries=0)
    ticks = iter([0.0, 0.5, 1.5])
    generations = Generations(es, clock=lambda: next(ticks))
    assert generations.refresh() is False
    assert generations.refresh() is False
    assert generations.refresh() is False
    assert Generations(None).refresh() is True  # nothing to look at: each route's first


def test_a_routes_first_index_is_handed_out_once_to_be_refreshed() -> None:
    # A route with no generation yet: the sink makes its first index with this batch and
    # refreshes it; a route that has generations costs no refresh.
    generations = Generations(None)
    generations.see(SEEN)
    document = {"@timestamp": "2026-03-08T10:00:00Z", "logway": {"route": "new"}}
    for _ in range(3):
        assert generations.index("acme", document, NOW) == "logs-acme.new-first"
        generations.index("acme", {"@timestamp": "2026-03-08T10:00:00Z"}, NOW)
    generations.index("beta", document, NOW)
    assert generations.made() == ["logs-acme.new-first", "logs-beta.new-first"]
    assert generations.made() == []


def test_new_indices_are_refreshed_in_short_requests_and_a_hung_cluster_ends_it_at_once() -> None:
    names = [f"logs-tenant-{n:04d}-with-a-long-name.default-first" for n in range(1000)]
    lists = index_lists(names)
    assert len(lists) == 25
    assert all(
        len(f"POST /{path}/_refresh?ignore_unavailable=true HTTP/1.1") < 4096 for path in lists
    )
    assert [name for path in lists for name in path.split(",")] == names
    # A port nobody listens on: the first request fails, the rest are not tried.
    es = Elasticsearch("http://127.0.0.1:9", request_timeout=1, max_retries=0)
    beats: list[float] = []
    started = time.monotonic()
    BulkService(es, TenantMeters("sink")).make_searchable(names, lambda: beats.append(1.0))
    assert len(beats) == 1
    assert time.monotonic() - started < REFRESH_TIMEOUT_S


def test_a_bulk_response_is_read_even_where_orjson_refuses_it() -> None:
    """orjson refuses a lone surrogate that the json module reads; a response the sink cannot
    read would retry its whole batch for ever. Everything else goes through orjson."""
    reader = ResponseReader()
    plain = b'{"errors":false,"items":[{"index":{"status":201}}]}'
    assert reader.loads(plain) == {
        "errors": False,
        "items": [{"index": {"status": 201}}],
    }
    odd = b'{"items":[{"index":{"status":400,"error":{"reason":"bad \\ud800 here"}}}]}'
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(odd)
    read = reader.loads(odd)
    assert read["items"][0]["index"]["error"]["reason"] == "bad \ud800 here"

"""Which generation of its route a document goes to (`connectors.elasticsearch.index`)."""

from datetime import UTC, datetime

import pytest
from elasticsearch import Elasticsearch

from connectors.elasticsearch.index import Generations

NOW = datetime(2026, 3, 8, 10, 0, 5, tzinfo=UTC)


def placed(document: dict, *, tenant: str = "acme", seen: list[str] | None = None) -> str:
    generations = Generations(None)
    generations.see(seen or [])
    return generations.index(tenant, document, NOW)


@pytest.mark.parametrize(
    ("document", "index"),
    [
        (
            {"@timestamp": "2026-03-07T23:59:59Z", "logway": {"received_at": "2026-03-08T01:00"}},
            "logs-acme.default-2026.03.07",
        ),
        (
            {"@timestamp": 1_772_928_000_000, "logway": {"received_at": "2026-03-08T01:00"}},
            "logs-acme.default-2026.03.08",
        ),
        (
            {"@timestamp": "yesterday", "logway": {"received_at": "2026-01-02T00:00:00+00:00"}},
            "logs-acme.default-2026.01.02",
        ),
        (
            {"@timestamp": True, "logway": {"received_at": "2026-01-02T03:00:00"}},
            "logs-acme.default-2026.01.02",
        ),
    ],
)
def test_a_routes_first_generation_is_named_by_its_first_documents_day(
    document: dict, index: str
) -> None:
    assert placed(document) == index


@pytest.mark.parametrize(
    ("route", "index"),
    [
        ("default", "logs-acme.default-2026.03.07"),
        ("audit", "logs-acme.audit-2026.03.07"),
        ("Not-A-Route", "logs-acme.default-2026.03.07"),  # never an index outside the templates
        ("../x", "logs-acme.default-2026.03.07"),
        (7, "logs-acme.default-2026.03.07"),
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


def test_an_arrival_in_the_future_counts_as_now() -> None:
    # A raw record's time is its producer's to set: one from the future cannot reach the
    # generation that starts in ten minutes (where a copy sent again later would go).
    document = {"@timestamp": "2026-03-09T00:00:00Z", "logway": {"received_at": "2026-03-09"}}
    assert placed(document, seen=SEEN) == "logs-acme.default-2026.03.03-14.10"


def test_older_than_every_generation_goes_to_the_oldest() -> None:
    document = {"@timestamp": "2026-03-02T00:00:00Z", "logway": {"received_at": "2026-03-08"}}
    assert placed(document, seen=SEEN[2:]) == "logs-acme.default-2026.03.03-14.10"
    assert placed({**document, "logway": {"route": "audit"}}, seen=SEEN) == (
        "logs-acme.audit-2026.01.01"
    )


def test_timestamps_cannot_make_indices() -> None:
    # Every day of a century and of this month: one generation, named by the first document
    # (from 1990, so placed by its arrival).
    stamps = [f"{year}-{month:02}-15T00:00:00Z" for year in range(1990, 2100) for month in (1, 7)]
    stamps += [f"2026-03-{d:02}T00:00:00Z" for d in range(1, 32)]
    generations = Generations(None)
    received = {"received_at": "2026-03-08T10:00:00.000Z"}
    names = {generations.index("acme", {"@timestamp": s, "logway": received}, NOW) for s in stamps}
    assert names == {"logs-acme.default-2026.03.08"}


def test_no_view_of_the_indices_until_elasticsearch_answers_once() -> None:
    # A port nobody listens on: the listing fails, so no record may be placed yet.
    es = Elasticsearch("http://127.0.0.1:9", request_timeout=1, max_retries=0)
    ticks = iter([0.0, 0.5, 1.5])
    generations = Generations(es, clock=lambda: next(ticks))
    assert generations.refresh() is False
    assert generations.refresh() is False
    assert generations.refresh() is False
    assert Generations(None).refresh() is True  # nothing to look at: each route's first

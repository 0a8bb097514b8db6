import pytest

from connectors.elasticsearch.index import (
    EVENT_DAYS_AFTER_ARRIVAL,
    EVENT_DAYS_BEFORE_ARRIVAL,
    document_index,
)


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
def test_daily_index_comes_from_the_document_time(document: dict, index: str) -> None:
    assert document_index("acme", document) == index


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
    assert document_index("acme", document) == index


def test_a_route_index_of_one_tenant_is_never_another_tenants_index() -> None:
    # Tenant names have no '.', so "acme" routing to "pay" cannot collide with tenant "acme-pay".
    assert document_index("acme", {"@timestamp": "2026-03-07", "logway": {"route": "pay"}}) != (
        document_index("acme-pay", {"@timestamp": "2026-03-07"})
    )


@pytest.mark.parametrize(
    ("stamp", "day"),
    [
        ("2026-03-01T00:00:00Z", "2026.03.01"),  # a week late: still its own day
        ("2026-02-28T23:59:59Z", "2026.03.08"),  # older: the arrival day
        ("2026-03-09T12:00:00Z", "2026.03.09"),  # a day ahead (clocks, time zones)
        ("2026-03-10T00:00:00Z", "2026.03.08"),
        ("1970-01-01T00:00:00Z", "2026.03.08"),
        ("9999-12-31T00:00:00Z", "2026.03.08"),
        (0, "2026.03.08"),
    ],
)
def test_far_flung_timestamps_cannot_make_an_index_per_day(stamp: object, day: str) -> None:
    document = {"@timestamp": stamp, "logway": {"received_at": "2026-03-08T10:00:00.000Z"}}
    assert document_index("acme", document) == f"logs-acme.default-{day}"


def test_a_tenant_sending_every_day_of_the_calendar_gets_at_most_nine_indices() -> None:
    stamps = [f"{year}-{month:02}-15T00:00:00Z" for year in range(1990, 2100) for month in (1, 7)]
    stamps += [f"2026-03-{d:02}T00:00:00Z" for d in range(1, 32)]
    received = {"received_at": "2026-03-08T10:00:00.000Z"}
    names = {document_index("acme", {"@timestamp": s, "logway": received}) for s in stamps}
    assert len(names) <= EVENT_DAYS_BEFORE_ARRIVAL + EVENT_DAYS_AFTER_ARRIVAL + 1

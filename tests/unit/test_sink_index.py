import pytest

from connectors.elasticsearch.sink import document_index


@pytest.mark.parametrize(
    ("document", "index"),
    [
        ({"@timestamp": "2026-03-07T23:59:59Z"}, "logs-acme.default-2026.03.07"),
        ({"@timestamp": 1_772_928_000_000}, "logs-acme.default-2026.03.08"),
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
    document = {"@timestamp": "2026-03-07T10:00:00Z", "logway": {"route": route}}
    assert document_index("acme", document) == index


def test_a_route_index_of_one_tenant_is_never_another_tenants_index() -> None:
    # Tenant names have no '.', so "acme" routing to "pay" cannot collide with tenant "acme-pay".
    assert document_index("acme", {"@timestamp": "2026-03-07", "logway": {"route": "pay"}}) != (
        document_index("acme-pay", {"@timestamp": "2026-03-07"})
    )

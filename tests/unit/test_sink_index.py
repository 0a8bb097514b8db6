import pytest

from connectors.elasticsearch.sink import document_index


@pytest.mark.parametrize(
    ("document", "index"),
    [
        ({"@timestamp": "2026-03-07T23:59:59Z"}, "logs-acme-2026.03.07"),
        ({"@timestamp": 1_772_928_000_000}, "logs-acme-2026.03.08"),
        (
            {"@timestamp": "yesterday", "logway": {"received_at": "2026-01-02T00:00:00+00:00"}},
            "logs-acme-2026.01.02",
        ),
        (
            {"@timestamp": True, "logway": {"received_at": "2026-01-02T03:00:00"}},
            "logs-acme-2026.01.02",
        ),
    ],
)
def test_daily_index_comes_from_the_document_time(document: dict, index: str) -> None:
    assert document_index("acme", document) == index

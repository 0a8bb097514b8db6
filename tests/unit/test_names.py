from datetime import date

import pytest

from topology.names import (
    index_name,
    index_template_priority,
    tenant_of_topic,
    tenant_topics,
)


def test_tenant_topics_follow_the_contract() -> None:
    assert tenant_topics("acme") == ("logs.acme.raw", "logs.acme.processed", "logs.acme.dlq")


@pytest.mark.parametrize(
    ("topic", "tenant"),
    [
        ("logs.acme.raw", "acme"),
        ("logs.acme-pay.processed", "acme-pay"),
        ("logs.a1.dlq", "a1"),
        ("logs.Acme.raw", None),
        ("logs.acme.other", None),
        ("_logway.tenants", None),
        ("logs.a.raw", None),  # tenant names have at least 2 characters
    ],
)
def test_tenant_of_topic(topic: str, tenant: str | None) -> None:
    assert tenant_of_topic(topic) == tenant


def test_daily_index_name() -> None:
    assert index_name("acme", date(2026, 3, 7)) == "logs-acme-2026.03.07"


def test_a_longer_tenant_name_wins_an_overlapping_template_pattern() -> None:
    # logs-acme-* also matches logs-acme-pay-2026.03.07; acme-pay's own template must win.
    assert index_template_priority("acme-pay") > index_template_priority("acme")

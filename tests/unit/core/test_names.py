from datetime import date
from fnmatch import fnmatchcase

import pytest

from logway.core.names import (
    group_prefix,
    index_name,
    index_pattern,
    index_template_name,
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
    assert index_name("acme", date(2026, 3, 7)) == "logs-acme.default-2026.03.07"
    assert index_name("acme", date(2026, 3, 7), "audit") == "logs-acme.audit-2026.03.07"


NAMES = ["acme", "acme-x", "acme-", "acme--x", "ac", "acme-default", "acme-2026", "a-b-c", "a-b"]


@pytest.mark.parametrize("owner", NAMES)
@pytest.mark.parametrize("other", NAMES)
def test_no_name_or_pattern_of_one_tenant_covers_anothers(owner: str, other: str) -> None:
    if owner == other:
        return
    day = date(2026, 3, 7)
    theirs = [index_name(other, day), index_name(other, day, "errors"), index_pattern(other)]
    assert not any(fnmatchcase(name, index_pattern(owner)) for name in theirs)
    for topic in tenant_topics(other):
        assert topic not in tenant_topics(owner)
        assert tenant_of_topic(topic) == other
    assert not group_prefix(other).startswith(group_prefix(owner))
    assert not f"{group_prefix(other)}reader".startswith(group_prefix(owner))
    assert index_template_name(owner) != index_template_name(other)


def test_a_tenants_own_names_match_its_pattern() -> None:
    day = date(2026, 3, 7)
    for route in ("default", "errors", "a_b"):
        assert fnmatchcase(index_name("acme", day, route), index_pattern("acme"))
    assert f"{group_prefix('acme')}dlq-reader".startswith(group_prefix("acme"))

"""Which tenants' topics exist on the broker: how workers find new tenants without a restart."""

from __future__ import annotations

import re
from collections.abc import Callable

from confluent_kafka.admin import AdminClient


def tenant_matcher(tenants_matching: str) -> Callable[[str], bool]:
    """A predicate over tenant names from a regular expression that must match in full."""
    compiled = re.compile(tenants_matching)
    return lambda tenant: compiled.fullmatch(tenant) is not None


def served_topics(
    admin: AdminClient, kind: re.Pattern[str], serves: Callable[[str], bool], timeout: float = 10
) -> list[str]:
    """Topics on the broker matching `kind` (whose group 1 is the tenant) for served tenants."""
    found = []
    for name in admin.list_topics(timeout=timeout).topics:
        match = kind.match(name)
        if match and serves(match.group(1)):
            found.append(name)
    return sorted(found)

from datetime import UTC, datetime

from topology.model import Tenant
from topology.publish import PublishedTenant, tenant_version
from topology.resources.change import Change
from topology.resources.kind import Wanted
from topology.resources.routes import Routes

OWNERS = {"team": "t", "slack_channel": "#t", "webhook_secret": "T_HOOK"}


def tenant(*namespaces: str) -> Tenant:
    return Tenant.model_validate(
        {"name": "payments", "owners": OWNERS, "sources": {"namespaces": list(namespaces)}}
    )


def published(spec: Tenant) -> dict[str, PublishedTenant]:
    live = PublishedTenant(
        name=spec.name, version=tenant_version(spec), published_at=datetime.now(UTC), spec=spec
    )
    return {spec.name: live}


def _plan_forwarder(tenants: list[Tenant], live: dict[str, PublishedTenant]) -> list[Change]:
    return Routes().diff(Wanted(tuple(tenants), (), live), None)


def test_a_new_tenants_namespaces_need_the_forwarders_re_rendered() -> None:
    [change] = _plan_forwarder([tenant("payments", "payments-canary")], {})
    assert change == Change(
        "payments",
        "forwarder route",
        "payments, payments-canary -> logs.payments.raw",
        "re-render",
        "+payments, +payments-canary",
    )


def test_a_moved_namespace_shows_what_comes_and_goes() -> None:
    [change] = _plan_forwarder(
        [tenant("payments", "billing")], published(tenant("payments", "old"))
    )
    assert (change.action, change.detail) == ("re-render", "+billing, -old")


def test_the_same_namespaces_are_unchanged() -> None:
    same = tenant("payments")
    [change] = _plan_forwarder([same], published(same))
    assert change.action == "unchanged"
    assert not change.pending

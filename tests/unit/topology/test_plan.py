"""Planning without servers: each kind compares what it observed with the declarations.

The observed states are written out here as the servers would hold them; no request is made.
"""

from __future__ import annotations

from datetime import UTC, datetime

from logway.core.names import FORWARDER_USER, index_template_name, reader_role_name
from topology.access import FORWARDER_PRINCIPAL, Grant, tenant_grants
from topology.model import Tenant
from topology.publish import PublishedTenant, tenant_version
from topology.resources.acls import Acls, AclsSeen
from topology.resources.change import Change
from topology.resources.keys import Keys, KeysSeen
from topology.resources.kind import Wanted
from topology.resources.quotas import Quotas, QuotasSeen
from topology.resources.roles import Roles, RolesSeen
from topology.resources.templates import Templates, TemplatesSeen, index_template
from topology.resources.topics import Topics, TopicsSeen, topic_configs
from topology.resources.users import Users, UsersSeen
from topology.resources.versions import Versions

OWNERS = {"team": "t", "slack_channel": "#t", "webhook_secret": "T_HOOK"}


def tenant(name: str = "payments", **spec: object) -> Tenant:
    return Tenant.model_validate({"name": name, "owners": OWNERS, **spec})


def live(spec: Tenant) -> PublishedTenant:
    return PublishedTenant(
        name=spec.name, version=tenant_version(spec), published_at=datetime.now(UTC), spec=spec
    )


def wanted(*tenants: Tenant, removed: tuple[Tenant, ...] = (), **how: bool) -> Wanted:
    published = {t.name: live(t) for t in removed}
    return Wanted(tuple(tenants), tuple(published.values()), published, **how)


def actions(changes: list[Change]) -> list[tuple[str, str, str]]:
    return [(c.kind, c.name, c.action) for c in changes]


def configs_of(t: Tenant) -> dict[str, dict[str, str]]:
    topics = ("raw", "processed", "dlq")
    return {f"logs.{t.name}.{k}": topic_configs(t, f"logs.{t.name}.{k}") for k in topics}


def test_a_new_tenant_gets_three_topics_and_an_existing_one_only_what_differs() -> None:
    new, old = tenant("new"), tenant("old", topics={"partitions": 4, "retention_hours": 48})
    seen = TopicsSeen(
        partitions={"logs.old.raw": 2, "logs.old.processed": 4, "logs.old.dlq": 6},
        configs=configs_of(tenant("old", topics={"partitions": 4})),
    )
    changes = Topics().diff(wanted(new, old), seen)
    assert actions(changes)[:3] == [
        ("topic", "logs.new.raw", "create"),
        ("topic", "logs.new.processed", "create"),
        ("topic", "logs.new.dlq", "create"),
    ]
    by_topic = {(c.kind, c.name): c for c in changes[3:]}
    assert by_topic[("topic", "logs.old.raw")].action == "grow partitions"
    assert by_topic[("topic", "logs.old.processed")].action == "unchanged"
    assert by_topic[("topic", "logs.old.dlq")].action == "kept larger"  # Kafka cannot shrink
    # retention_hours 48 differs on raw and processed, not on the DLQ (its own retention)
    updated = {c.name for c in changes if c.kind == "topic config"}
    assert updated == {"logs.old.raw", "logs.old.processed"}
    assert (
        "retention.ms 259200000 -> 172800000" in by_topic[("topic config", "logs.old.raw")].detail
    )


def test_a_topic_made_before_the_index_size_was_managed_gets_the_small_index() -> None:
    """Topics made by an older logway carry the broker's 10 MiB index: the next apply sets it."""
    old = tenant("old")
    configs = configs_of(old)
    for topic in configs.values():
        topic["segment.index.bytes"] = "10485760"
    changes = Topics().diff(
        wanted(old), TopicsSeen(partitions=dict.fromkeys(configs, 1), configs=configs)
    )
    updates = {c.name: c.detail for c in changes if c.kind == "topic config"}
    assert updates == dict.fromkeys(configs, "segment.index.bytes 10485760 -> 1048576")


def test_pruning_removes_only_what_exists_and_keeping_data_removes_no_topic() -> None:
    gone = tenant("gone")
    seen = TopicsSeen(partitions={"logs.gone.raw": 1, "logs.gone.dlq": 1}, configs={})
    [record] = wanted(removed=(gone,), prune=True).removed
    topics = Topics().removal(record, wanted(removed=(gone,), prune=True), seen)
    assert actions(topics) == [
        ("topic", "logs.gone.raw", "delete"),
        ("topic", "logs.gone.dlq", "delete"),
    ]
    assert Topics().removal(record, wanted(removed=(gone,), prune=True, keep_data=True), seen) == []


def test_a_template_is_made_updated_when_it_differs_and_left_when_equal() -> None:
    a, b, c = tenant("alpha"), tenant("beta"), tenant("gamma")
    templates = {
        index_template_name("beta"): index_template(b, 1),
        index_template_name("gamma"): index_template(c, 0),  # made on a one-node cluster
    }
    # As Elasticsearch gives it back: settings under "index", values as text.
    for have in templates.values():
        replicas = have["template"]["settings"]["number_of_replicas"]
        have["template"]["settings"] = {"index": {"number_of_replicas": str(replicas)}}
    seen = TemplatesSeen(templates, replicas=1, source="files")
    assert actions(Templates().diff(wanted(a, b, c), seen)) == [
        ("index template", "logs-alpha", "create"),
        ("index template", "logs-beta", "unchanged"),
        ("index template", "logs-gamma", "update"),
    ]


def test_users_are_made_once() -> None:
    seen = UsersSeen(frozenset({"old"}))
    assert [c.action for c in Users().diff(wanted(tenant("old"), tenant("new")), seen)] == [
        "unchanged",
        "create",
    ]


def test_acls_held_are_kept_missing_ones_made_and_an_old_prefix_removed() -> None:
    t = tenant("pay", sources={"namespaces": ["pay"]})
    grants = sorted(tenant_grants(t))
    old_prefix = Grant("User:pay", "GROUP", "pay-", "PREFIXED", "READ")
    by_hand = Grant("User:pay", "TOPIC", "elsewhere", "LITERAL", "READ")
    forwarder = Grant(FORWARDER_PRINCIPAL, "TOPIC", "logs.pay.raw", "LITERAL", "WRITE")
    seen = AclsSeen(
        {
            "User:pay": frozenset([*grants[:2], old_prefix, by_hand]),
            FORWARDER_PRINCIPAL: frozenset([forwarder]),
        }
    )
    changes = {c.grant: c for c in Acls().diff(wanted(t), seen)}
    assert {changes[g].action for g in grants[:2]} == {"unchanged"}
    assert {changes[g].action for g in grants[2:]} == {"create"}
    assert changes[old_prefix].action == "delete"
    assert changes[by_hand].action == "not declared"  # kept: somebody made it by hand
    assert changes[forwarder].action == "unchanged"
    describe = Grant(FORWARDER_PRINCIPAL, "TOPIC", "logs.pay.raw", "LITERAL", "DESCRIBE")
    assert changes[describe].action == "create"


def test_without_an_authorizer_acls_are_unsupported_not_planned() -> None:
    [change] = Acls().diff(wanted(tenant("pay")), AclsSeen({}, authorizer=False))
    assert change.action == "unsupported"


def test_quotas_follow_the_limit_and_the_forwarders_ends_with_the_last_namespace() -> None:
    t = tenant("pay", limits={"produce_bytes_per_s": 2_000_000})
    seen = QuotasSeen({("pay", None): 1_000_000.0, (FORWARDER_USER, "pay"): 1_000_000.0})
    assert actions(Quotas().diff(wanted(t), seen)) == [
        ("quota", "User:pay", "update"),
        ("forwarder quota", f"{FORWARDER_PRINCIPAL} client.id=pay", "delete"),
    ]


def test_roles_and_keys_without_security_say_so_and_plan_no_key() -> None:
    t = tenant("pay")
    [role] = Roles().diff(wanted(t), RolesSeen({}, security=False))
    assert role.action == "unsupported"
    assert Keys().diff(wanted(t), KeysSeen(frozenset(), security=False)) == []


def test_a_key_is_made_unless_the_platform_logs_in_with_one() -> None:
    t = tenant("pay")
    [made] = Keys().diff(wanted(t), KeysSeen(frozenset()))
    assert (made.name, made.action) == (reader_role_name("pay"), "create")
    [refused] = Keys().diff(wanted(t), KeysSeen(frozenset(), platform_key=True))
    assert refused.action == "unsupported"
    [kept] = Keys().diff(wanted(t), KeysSeen(frozenset({"pay"})))
    assert kept.action == "unchanged"


def test_a_version_is_published_when_new_or_changed() -> None:
    same, changed = tenant("same"), tenant("changed")
    published = {"same": live(same), "changed": live(tenant("changed", topics={"partitions": 5}))}
    plan = Versions().diff(Wanted((same, changed, tenant("new")), (), published), None)
    assert [c.action for c in plan] == ["unchanged", "publish", "publish"]
    assert plan[2].detail == f"new: {tenant_version(tenant('new'))}"

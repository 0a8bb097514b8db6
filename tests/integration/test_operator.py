"""Tenants as LoggingPipeline resources, through a real kube-apiserver and etcd, Kafka and
Elasticsearch: the operator (`logway run operator`) reconciles them into topics, grants,
templates and published versions, writes status and Events, refuses what is invalid or
claimed (at admission, or in status when the webhook was down), unpublishes on delete, and
converges after a kill -9."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from logway.core.names import tenant_topics
from logway.core.settings import Endpoints
from tests.integration.operator_support import (
    Operator,
    Pipelines,
    condition,
    forwarder_state,
    pipeline,
    ready,
    refused,
    spec,
)
from tests.integration.support import (
    logway,
    tenant_yaml,
    wait_for,
)
from topology.crd import GROUP, PLURAL, VERSION
from topology.ownership import (
    ADOPT_ANNOTATION,
    CONSENT_LABEL,
    DELETE_DATA_ANNOTATION,
    PRODUCERS_ANNOTATION,
)
from topology.publish import read_published

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).parents[2] / "examples" / "kubernetes"


def published_version(endpoints: Endpoints, tenant: str) -> tuple[str, str] | None:
    live = read_published(endpoints.kafka).get(tenant)
    return (live.version, live.source) if live is not None else None


def topics(endpoints: Endpoints) -> set[str]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(endpoints.kafka.admin())
    return set(admin.list_topics(timeout=15).topics)


def test_a_resource_becomes_a_ready_tenant_and_an_update_publishes_its_new_version(
    endpoints: Endpoints, running: Operator, pipelines: Pipelines, ns: str, tenant_prefix: str
) -> None:
    name = f"{tenant_prefix}-pay"
    pipelines.create(ns, pipeline(name, spec(name, sources={"namespaces": [ns]})))
    body = pipelines.wait_condition(ns, name, ready, "Ready", alive=running.alive)

    status = body["status"]
    assert [c["type"] for c in status["conditions"]] == ["Validated", "Applied", "Ready"]
    assert status["observedGeneration"] == 1
    assert status["topics"] == list(tenant_topics(name))
    assert status["indexPattern"] == f"logs-{name}.*"
    assert set(tenant_topics(name)) <= topics(endpoints)
    assert published_version(endpoints, name) == (
        status["liveVersion"],
        f"LoggingPipeline {ns}/{name}",
    )
    secret = pipelines.core.read_namespaced_secret(f"logway-{name}", ns)
    assert sorted(secret.data) == ["elasticsearch.properties", "kafka.properties"]
    assert ("Applied", f"version {status['liveVersion']} is live: ") in [
        (reason, message[: len(f"version {status['liveVersion']} is live: ")])
        for reason, message in pipelines.events(ns, name)
    ]
    first = status["liveVersion"]

    routes = [{"index": "audit", "when": 'kind == "audit"'}, {"index": "default"}]
    pipelines.patch(ns, name, {"spec": {"routes": routes}})
    body = pipelines.wait_condition(ns, name, ready, "Ready at generation 2", alive=running.alive)
    assert body["status"]["observedGeneration"] == 2
    assert body["status"]["liveVersion"] != first
    assert published_version(endpoints, name) == (
        body["status"]["liveVersion"],
        f"LoggingPipeline {ns}/{name}",
    )


def test_the_example_resource_becomes_ready(
    running: Operator, pipelines: Pipelines, ns: str, tenant_prefix: str
) -> None:
    example = yaml.safe_load((EXAMPLES / "orders.yaml").read_text())
    name = f"{tenant_prefix}-orders"
    example["metadata"] = {"name": name}
    example["spec"]["sources"]["namespaces"] = [ns]
    pipelines.create(ns, example)
    body = pipelines.wait_condition(ns, name, ready, "Ready", alive=running.alive)
    assert body["status"]["indexPattern"] == f"logs-{name}.*"


def test_the_forwarders_route_a_claimed_namespace_to_its_tenant_and_stop_when_it_is_deleted(
    api: client.ApiClient, running: Operator, pipelines: Pipelines, ns: str, tenant_prefix: str
) -> None:
    name = f"{tenant_prefix}-routed"
    _config, before = forwarder_state(api)
    pipelines.create(ns, pipeline(name, spec(name, sources={"namespaces": [ns]})))
    pipelines.wait_condition(ns, name, ready, "Ready", alive=running.alive)
    config, rolled = wait_for(
        "the route in the forwarders' ConfigMap",
        lambda: forwarder_state(api),
        lambda state: f"logs.{name}.raw" in state[0],
        30,
        running.alive,
    )
    assert f"^kube\\.({re.escape(ns)})\\." in config
    assert rolled is not None
    assert rolled != before  # the DaemonSet's pods roll onto the new routes

    pipelines.delete(ns, name)
    config, unrolled = wait_for(
        "the route gone",
        lambda: forwarder_state(api),
        lambda state: f"logs.{name}.raw" not in state[0],
        60,
        running.alive,
    )
    assert unrolled != rolled


def test_an_invalid_resource_is_refused_at_admission_naming_the_field(
    running: Operator, pipelines: Pipelines, ns: str, tenant_prefix: str
) -> None:
    name = f"{tenant_prefix}-bad"
    bad = spec(name, routes=[{"index": "audit", "when": "kind ==="}, {"index": "default"}])
    with pytest.raises(ApiException) as refusal:
        pipelines.create(ns, pipeline(name, bad))
    assert refusal.value.status == 422
    assert "spec.routes.0.when" in refusal.value.body
    # The schema (from the model) refuses a wrong type before the webhook is asked.
    with pytest.raises(ApiException) as schema:
        pipelines.create(ns, pipeline(name, spec(name, topics={"partitions": "many"})))
    assert schema.value.status == 422
    assert "spec.topics.partitions" in schema.value.body
    # And the name, which is the tenant's, by the CRD's own rule.
    with pytest.raises(ApiException) as named:
        pipelines.create(ns, pipeline("Logs_Of-Pay", spec("x")))
    assert named.value.status == 422
    # Over the platform's ceiling (the tenant's own limit would not keep it from the others).
    with pytest.raises(ApiException) as greedy:
        pipelines.create(ns, pipeline(name, spec(name, limits={"records_per_s": 1_000_000})))
    assert greedy.value.status == 422
    assert "spec.limits.records_per_s: 1000000 is over the platform's ceiling of 900000" in (
        greedy.value.body
    )
    assert pipelines.get(ns, name) is None
    running.alive()


def test_a_spec_stored_while_the_operator_was_down_is_refused_in_status_the_last_good_stays(
    endpoints: Endpoints, running: Operator, pipelines: Pipelines, ns: str, tenant_prefix: str
) -> None:
    name = f"{tenant_prefix}-keep"
    pipelines.create(ns, pipeline(name, spec(name)))
    good = pipelines.wait_condition(ns, name, ready, "Ready", alive=running.alive)
    live = good["status"]["liveVersion"]

    running.stop()  # the webhook fails open: the API server stores what it cannot check
    bad = spec(name, routes=[{"index": "a", "when": "level >>> 3"}, {"index": "default"}])
    pipelines.patch(ns, name, {"spec": bad})
    running.start()

    body = pipelines.wait_condition(
        ns, name, refused("Invalid"), "refused as Invalid", alive=running.alive
    )
    assert condition(body, "Validated")["status"] == "False"
    assert "spec.routes.0.when" in condition(body, "Validated")["message"]
    assert condition(body, "Applied")["reason"] == "NotApplied"
    assert f"version {live} stays live" in condition(body, "Applied")["message"]
    assert body["status"]["liveVersion"] == live
    assert published_version(endpoints, name) == (live, f"LoggingPipeline {ns}/{name}")
    assert "Invalid" in [reason for reason, _ in pipelines.events(ns, name)]


def test_claims_need_consent_and_the_older_resource_keeps_what_two_claim(
    endpoints: Endpoints, running: Operator, pipelines: Pipelines, tenant_prefix: str
) -> None:
    home, other, shop = (f"{tenant_prefix}-{n}" for n in ("home", "other", "shop"))
    principal = f"User:{tenant_prefix}-svc"
    pipelines.namespace(home, **{PRODUCERS_ANNOTATION: principal})
    pipelines.namespace(other, **{PRODUCERS_ANNOTATION: principal})
    pipelines.namespace(shop)
    first, second = f"{tenant_prefix}-one", f"{tenant_prefix}-two"

    # Another namespace's logs: refused until that namespace consents.
    claims_shop = spec(first, sources={"namespaces": [shop], "producers": [principal]})
    with pytest.raises(ApiException) as refusal:
        pipelines.create(home, pipeline(first, claims_shop))
    assert refusal.value.status == 409
    assert f"{CONSENT_LABEL}={first}" in refusal.value.body
    pipelines.namespace(shop, labels={CONSENT_LABEL: first})

    pipelines.create_once_consented(home, pipeline(first, claims_shop), running.alive)
    pipelines.wait_condition(home, first, ready, "Ready", alive=running.alive)

    # The same principal from another team: refused at admission, naming the owner...
    claims_principal = spec(second, sources={"producers": [principal]})
    with pytest.raises(ApiException) as taken:
        pipelines.create(other, pipeline(second, claims_principal))
    assert taken.value.status == 409
    assert f"LoggingPipeline {home}/{first}" in taken.value.body
    # ...and in status when it got past a webhook that was down; kept until the owner lets go.
    running.stop()
    pipelines.create(other, pipeline(second, claims_principal))
    running.start()
    body = pipelines.wait_condition(
        other, second, refused("ClaimTaken"), "refused: ClaimTaken", alive=running.alive
    )
    assert body["status"]["owner"] == f"{home}/{first}"
    assert published_version(endpoints, second) is None

    pipelines.patch(home, first, {"spec": {"sources": {"namespaces": [shop], "producers": []}}})
    pipelines.wait_condition(other, second, ready, "Ready once released", alive=running.alive)
    # The same tenant name in another namespace is the name's second claim.
    with pytest.raises(ApiException) as twin:
        pipelines.create(other, pipeline(first, spec(first)))
    assert f"LoggingPipeline {home}/{first}" in twin.value.body


def test_a_deleted_resource_is_unpublished_and_keeps_its_data_unless_annotated(
    endpoints: Endpoints, running: Operator, pipelines: Pipelines, ns: str, tenant_prefix: str
) -> None:
    kept, dropped = f"{tenant_prefix}-kept", f"{tenant_prefix}-gone"
    pipelines.create(ns, pipeline(kept, spec(kept)))
    annotated = {DELETE_DATA_ANNOTATION: "true"}
    pipelines.create(ns, pipeline(dropped, spec(dropped), annotated))
    for name in (kept, dropped):
        pipelines.wait_condition(ns, name, ready, "Ready", alive=running.alive)
        assert pipelines.get(ns, name)["metadata"]["finalizers"] == ["logway.dev/unpublish"]  # type: ignore[index]
        es = endpoints.es.client()
        es.index(index=f"logs-{name}.default-2026.11.30", document={"message": "x"}, refresh=True)

    for name in (kept, dropped):
        pipelines.delete(ns, name)
        wait_for(f"{name} deleted", lambda n=name: pipelines.get(ns, n), lambda b: b is None, 60)  # type: ignore[misc]
        assert published_version(endpoints, name) is None
    have = topics(endpoints)
    assert set(tenant_topics(kept)) <= have  # data stays
    assert not set(tenant_topics(dropped)) & have
    es = endpoints.es.client()
    assert es.indices.exists(index=f"logs-{kept}.default-2026.11.30")
    assert not es.indices.exists(index=f"logs-{dropped}.default-2026.11.30")


def test_files_and_resources_never_declare_the_same_tenant(  # noqa: PLR0917 - fixtures
    endpoints: Endpoints,
    running: Operator,
    pipelines: Pipelines,
    ns: str,
    tenant_prefix: str,
    tmp_path: Path,
) -> None:
    name = f"{tenant_prefix}-both"
    pipelines.create(ns, pipeline(name, spec(name)))
    pipelines.wait_condition(ns, name, ready, "Ready", alive=running.alive)
    (tmp_path / "t.yaml").write_text(tenant_yaml(name))
    result = logway(endpoints, "apply", str(tmp_path), check=False)
    assert result.returncode == 1
    assert f"declared by LoggingPipeline {ns}/{name}" in result.stderr
    pruned = logway(endpoints, "plan", "--prune", str(tmp_path), check=False)
    assert f"- tenant version  {name}" not in pruned.stdout  # never pruned from files

    filed = f"{tenant_prefix}-filed"
    (tmp_path / "t.yaml").write_text(tenant_yaml(filed, partitions=1))
    logway(endpoints, "apply", str(tmp_path))
    pipelines.create(ns, pipeline(filed, spec(filed)))
    body = pipelines.wait_condition(
        ns, filed, refused("Conflict"), "refused: published from files", alive=running.alive
    )
    assert "published from files" in condition(body, "Ready")["message"]
    # The team cannot adopt it by itself...
    pipelines.patch(ns, filed, {"metadata": {"annotations": {ADOPT_ANNOTATION: filed}}})
    time.sleep(5)
    assert refused("Conflict")(pipelines.get(ns, filed))  # type: ignore[arg-type]
    # ...the platform lists it on the namespace.
    pipelines.namespace(ns, **{ADOPT_ANNOTATION: filed})
    pipelines.wait_condition(ns, filed, ready, "Ready once adopted", alive=running.alive)
    assert published_version(endpoints, filed)[1] == f"LoggingPipeline {ns}/{filed}"  # type: ignore[index]


def test_the_operator_killed_mid_reconcile_converges_after_a_restart(
    endpoints: Endpoints, running: Operator, pipelines: Pipelines, ns: str, tenant_prefix: str
) -> None:
    names = [f"{tenant_prefix}-k{i:02d}" for i in range(12)]
    for name in names:
        pipelines.create(ns, pipeline(name, spec(name)))
    time.sleep(2)  # some applied, some half way, some not started
    running.stop(signal.SIGKILL)
    running.start()
    for name in names:
        body = pipelines.wait_condition(ns, name, ready, "Ready", timeout=120, alive=running.alive)
        assert published_version(endpoints, name) == (
            body["status"]["liveVersion"],
            f"LoggingPipeline {ns}/{name}",
        )
        assert set(tenant_topics(name)) <= topics(endpoints)


SCALE = 300


def test_300_resources_are_reconciled_and_reconciled_again_after_a_restart(
    endpoints: Endpoints, running: Operator, pipelines: Pipelines, tenant_prefix: str
) -> None:
    ns = f"{tenant_prefix}-many"
    pipelines.namespace(ns)
    names = [f"{tenant_prefix}-m{i:03d}" for i in range(SCALE)]
    started = time.monotonic()
    for name in names:
        pipelines.create(ns, pipeline(name, spec(name)))

    def ready_count() -> int:
        listed = pipelines.api.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)
        return sum(1 for body in listed["items"] if ready(body))

    wait_for(f"{SCALE} resources Ready", ready_count, lambda n: n == SCALE, 600, running.alive)
    created = time.monotonic() - started
    live = read_published(endpoints.kafka)
    assert all(live[name].source == f"LoggingPipeline {ns}/{name}" for name in names)

    running.stop()
    restarted = time.monotonic()
    running.start()
    # Every resource in the cluster is resumed: these and what earlier tests left.
    total = len(pipelines.listed())
    outcomes = ("applied", "invalid", "refused", "failed")  # earlier tests left a refused one
    wait_for(
        f"all {total} resources reconciled after the restart",
        lambda: sum(running.reconciles(outcome) for outcome in outcomes),
        lambda n: n >= total,
        300,
        running.alive,
    )
    resumed = time.monotonic() - restarted
    assert ready_count() == SCALE
    print(f"\n{SCALE} created -> Ready: {created:.1f} s; {total} resumed: {resumed:.1f} s")

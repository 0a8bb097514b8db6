"""The operator over a platform's life, on the real kube-apiserver, as the chart installs it:
the operator logs in as the chart's ServiceAccount with exactly the chart's RBAC (a token from
the TokenRequest API), and teams act as ServiceAccounts bound to the chart's pipeline-editor
role in their own namespace. Each test is one case of what broke before (issue 26): kopf's
machinery without a permission, consent withdrawn, a deleted tenant still processed, a name
reused, credentials lost between the servers and the Secret, an adopted tenant without a
Secret, a partition shrink let in, a spec over kopf's annotation limit."""

from __future__ import annotations

import base64
import re
import signal
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from logway.core.elastic import ElasticConnection
from logway.core.kafka import KafkaConnection
from logway.core.names import raw_topic, reader_role_name
from logway.core.settings import Endpoints
from tests.chart import render
from tests.integration.operator_support import (
    CHART_NAME,
    OPERATOR_ACCOUNT,
    Operator,
    Pipelines,
    admin_client,
    chart_kubeconfig,
    condition,
    forwarder_state,
    operator,
    pipeline,
    ready,
    refused,
    spec,
    wait_for_webhook,
)
from tests.integration.support import (
    PipelineProcess,
    free_port,
    group_lag,
    indexed_count,
    logway,
    processor,
    sink,
    tenant_yaml,
    wait_for,
    write_lines,
)
from topology.ownership import ADOPT_ANNOTATION, CONSENT_LABEL
from topology.publish import read_published

pytestmark = pytest.mark.integration


def team(api: client.ApiClient, namespace: str) -> Pipelines:
    """A team: the ServiceAccount `team` of `namespace`, bound there to the chart's
    pipeline-editor role (which a cluster aggregates into `edit`; no controller-manager runs
    here to aggregate it, so the binding names the role itself), through impersonation."""
    admin = Pipelines(api)
    admin.namespace(namespace)
    rbac = client.RbacAuthorizationV1Api(api)
    try:
        rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": "team-edits-pipelines"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": f"{CHART_NAME}-pipeline-editor",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "team", "namespace": namespace}],
            },
        )
    except ApiException as exc:
        if exc.status != 409:
            raise
    as_team = admin_client()
    as_team.set_default_header("Impersonate-User", f"system:serviceaccount:{namespace}:team")
    return Pipelines(as_team)


def secret_data(pipelines: Pipelines, namespace: str, tenant: str) -> dict[str, str]:
    try:
        found = pipelines.core.read_namespaced_secret(f"logway-{tenant}", namespace)
    except ApiException as exc:
        if exc.status == 404:
            return {}
        raise
    return {k: base64.b64decode(v).decode() for k, v in (found.data or {}).items()}


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#")


def assert_secret_works(endpoints: Endpoints, data: dict[str, str], tenant: str) -> None:
    """The Secret's Kafka login logs in (SCRAM, the dev broker's SASL listener) and sees its
    raw topic; its Elasticsearch key is accepted."""
    kafka = properties(data["kafka.properties"])
    sasl = KafkaConnection(
        bootstrap=endpoints.kafka.bootstrap.replace(":9092", ":9094"),
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        username=kafka["sasl.username"],
        password=kafka["sasl.password"],
    )
    listed = AdminClient(sasl.admin()).list_topics(raw_topic(tenant), timeout=15)
    assert raw_topic(tenant) in listed.topics
    key = properties(data["elasticsearch.properties"])["encoded"]
    es = ElasticConnection(url=endpoints.es.url, api_key=key, ca_file=endpoints.es.ca_file).client()
    assert es.security.authenticate()["api_key"]["name"] == reader_role_name(tenant)


@pytest.fixture
def home(tenant_prefix: str) -> str:
    return f"{tenant_prefix}-home"


def test_kopfs_machinery_failing_for_want_of_a_permission_ends_the_operator(
    endpoints: Endpoints, api: client.ApiClient, tmp_path: Path
) -> None:
    """Before, the chart's role lacked mutatingwebhookconfigurations: kopf's admission manager
    failed after about a minute of retries, and a live process admitted and reconciled
    nothing. The chart's role now has what kopf needs (every test here runs under it); and
    should a permission still be missing, the process ends non-zero for Kubernetes to restart."""
    process = operator(endpoints, tmp_path, webhook_port=free_port())
    rbac = client.RbacAuthorizationV1Api(api)
    role = rbac.read_cluster_role(OPERATOR_ACCOUNT)
    try:
        rbac.patch_cluster_role(
            OPERATOR_ACCOUNT,
            {
                "rules": [
                    rule
                    for rule in api.sanitize_for_serialization(role)["rules"]
                    if "mutatingwebhookconfigurations" not in (rule.get("resources") or [])
                ]
            },
        )
        process.start()
        deadline = time.monotonic() + 150
        while process.process is not None and process.process.poll() is None:
            assert time.monotonic() < deadline, "a live operator whose admission machinery died"
            time.sleep(1)
        assert process.process is not None
        assert process.process.returncode != 0
        log = process.log_path.read_text()
        assert "mutatingwebhookconfigurations" in log
        assert "exiting 71 so the process is restarted" in log
    finally:
        process.stop()
        chart_kubeconfig(api, tmp_path)  # the chart's role as it ships


def test_withdrawn_consent_unpublishes_the_claim_and_its_route_within_seconds(
    endpoints: Endpoints, api: client.ApiClient, running: Operator, tenant_prefix: str, home: str
) -> None:
    shared = f"{tenant_prefix}-shared"
    teams = team(api, home)
    admin = Pipelines(api)
    admin.namespace(shared, labels={CONSENT_LABEL: f"{tenant_prefix}-web"})
    name = f"{tenant_prefix}-web"

    body = pipeline(name, spec(name, sources={"namespaces": [shared]}))
    teams.create_once_consented(home, body, running.alive)
    admin.wait_condition(home, name, ready, "Ready", alive=running.alive)
    wait_for(
        "the shared namespace's route",
        lambda: forwarder_state(api)[0],
        lambda config: re.escape(shared) in config and raw_topic(name) in config,
        30,
        running.alive,
    )

    admin.core.patch_namespace(shared, {"metadata": {"labels": {CONSENT_LABEL: None}}})
    started = time.monotonic()
    body = admin.wait_condition(
        home, name, refused("NotConsented"), "NotConsented", timeout=30, alive=running.alive
    )
    assert "unpublished until then" in condition(body, "Ready")["message"]
    assert body["status"].get("liveVersion") is None
    assert name not in read_published(endpoints.kafka)
    wait_for(
        "the route gone",
        lambda: forwarder_state(api)[0],
        lambda config: raw_topic(name) not in config,
        30,
        running.alive,
    )
    took = time.monotonic() - started
    assert took < 20, f"the claim stayed {took:.1f} s after consent was withdrawn"

    admin.core.patch_namespace(shared, {"metadata": {"labels": {CONSENT_LABEL: name}}})
    admin.wait_condition(home, name, ready, "Ready again", timeout=30, alive=running.alive)
    assert name in read_published(endpoints.kafka)


def test_a_deleted_tenant_is_no_longer_processed_its_records_wait_in_kafka(  # noqa: PLR0917
    endpoints: Endpoints,
    api: client.ApiClient,
    running: Operator,
    tenant_prefix: str,
    home: str,
    tmp_path: Path,
) -> None:
    name = f"{tenant_prefix}-leaves"
    teams = team(api, home)
    teams.create(home, pipeline(name, spec(name)))
    Pipelines(api).wait_condition(home, name, ready, "Ready", alive=running.alive)
    workers: list[PipelineProcess] = [
        processor(endpoints, name, f"{name}-proc", tmp_path).start(),
        sink(endpoints, name, f"{name}-sink", tmp_path).start(),
    ]
    es = endpoints.es.client()
    try:
        write_lines(endpoints, name, 5)
        wait_for("5 documents", lambda: indexed_count(es, name), lambda n: n == 5, 90)
        teams.delete(home, name)
        wait_for(
            "unpublished", lambda: read_published(endpoints.kafka), lambda p: name not in p, 30
        )
        time.sleep(5)  # the workers have read the tombstone
        write_lines(endpoints, name, 10, start=5)
        time.sleep(10)
        for worker in workers:
            worker.assert_running()
        assert indexed_count(es, name) == 5  # none processed with the deleted version
        lag = group_lag(endpoints.kafka, f"{name}-proc", [raw_topic(name)])
        assert lag == 10  # they wait in Kafka, uncommitted
    finally:
        for worker in workers:
            worker.stop()


def test_a_name_kept_with_its_data_is_reserved_for_its_owner(
    endpoints: Endpoints, api: client.ApiClient, running: Operator, tenant_prefix: str, home: str
) -> None:
    """Before, team B's new resource with team A's old name became Ready, and B's key read all
    of A's documents. Now the name is reserved for A while A's data is kept."""
    other = f"{tenant_prefix}-other"
    team_a, team_b = team(api, home), team(api, other)
    admin = Pipelines(api)
    name = f"{tenant_prefix}-orders"
    team_a.create(home, pipeline(name, spec(name)))
    admin.wait_condition(home, name, ready, "Ready", alive=running.alive)
    es = endpoints.es.client()
    es.index(index=f"logs-{name}.default-2026.12.01", document={"secret": "A"}, refresh=True)
    team_a.delete(home, name)
    wait_for("A's resource gone", lambda: admin.get(home, name), lambda b: b is None, 60)

    with pytest.raises(ApiException) as taken:
        team_b.create(other, pipeline(name, spec(name)))
    assert taken.value.status == 409
    assert f"reserved for LoggingPipeline {home}/{name}" in taken.value.body
    # Past a webhook that was down, it is refused in status; nothing of it is published.
    running.stop()
    team_b.create(other, pipeline(name, spec(name)))
    running.start()
    body = admin.wait_condition(
        other, name, refused("NameReserved"), "NameReserved", alive=running.alive
    )
    assert body["status"]["owner"] == f"LoggingPipeline {home}/{name}"
    assert name not in read_published(endpoints.kafka)
    assert secret_data(admin, other, name) == {}
    team_b.delete(other, name)
    wait_for("B's resource gone", lambda: admin.get(other, name), lambda b: b is None, 60)

    # A comes back to its data.
    team_a.create(home, pipeline(name, spec(name)))
    admin.wait_condition(home, name, ready, "Ready for its owner", alive=running.alive)
    team_a.delete(home, name)
    wait_for("A's resource gone again", lambda: admin.get(home, name), lambda b: b is None, 60)
    # The platform releases it: B may have it, with what was kept.
    released = logway(endpoints, "release", name)
    assert f"it was kept for LoggingPipeline {home}/{name}" in released.stdout
    team_b.create(other, pipeline(name, spec(name)))
    admin.wait_condition(other, name, ready, "Ready once released", alive=running.alive)


def test_every_ready_tenant_has_a_working_secret_after_kill_9_and_a_replaced_pod(
    endpoints: Endpoints, api: client.ApiClient, running: Operator, tenant_prefix: str, home: str
) -> None:
    """Before, kill -9 mid-reconcile left tenants Ready whose Secret lacked a key, and a
    restart with an empty credentials folder left them with none. The operator now keeps no
    local state: what it made goes straight into the Secret, and a Secret lacking a key the
    servers have gets that credential made anew."""
    teams, admin = team(api, home), Pipelines(api)
    names = [f"{tenant_prefix}-c{i:02d}" for i in range(12)]
    for name in names:
        teams.create(home, pipeline(name, spec(name)))
    time.sleep(2)  # some applied, some half way, some not started
    running.stop(signal.SIGKILL)
    running.start()  # a new process: nothing but what Kubernetes and the servers hold
    for name in names:
        admin.wait_condition(home, name, ready, "Ready", timeout=120, alive=running.alive)
        data = secret_data(admin, home, name)
        assert sorted(data) == ["elasticsearch.properties", "kafka.properties"], name
    for name in names[:3]:
        assert_secret_works(endpoints, secret_data(admin, home, name), name)

    # A Secret lost (deleted by hand) is made again, with new credentials, at the next reconcile.
    lost = names[0]
    old = secret_data(admin, home, lost)
    admin.core.delete_namespaced_secret(f"logway-{lost}", home)
    admin.patch(home, lost, {"metadata": {"labels": {"reconcile": "now"}}})
    renewed = wait_for(
        "the Secret made again",
        lambda: secret_data(admin, home, lost),
        lambda data: len(data) == 2,
        60,
        running.alive,
    )
    assert renewed["kafka.properties"] != old["kafka.properties"]
    assert_secret_works(endpoints, renewed, lost)


def test_an_adopted_tenant_gets_its_secret(
    endpoints: Endpoints, api: client.ApiClient, running: Operator, tenant_prefix: str, home: str
) -> None:
    teams, admin = team(api, home), Pipelines(api)
    filed = f"{tenant_prefix}-filed"
    folder = Path(running.folder) / filed
    folder.mkdir()
    (folder / "t.yaml").write_text(tenant_yaml(filed, partitions=1))
    logway(endpoints, "apply", str(folder), "--credentials-dir", str(folder / "creds"))
    admin.namespace(home, **{ADOPT_ANNOTATION: filed})
    teams.create(home, pipeline(filed, spec(filed)))
    admin.wait_condition(home, filed, ready, "Ready once adopted", alive=running.alive)
    data = secret_data(admin, home, filed)
    assert sorted(data) == ["elasticsearch.properties", "kafka.properties"]
    assert_secret_works(endpoints, data, filed)


def test_a_partition_shrink_is_refused_at_admission(
    api: client.ApiClient, running: Operator, tenant_prefix: str, home: str
) -> None:
    teams, admin = team(api, home), Pipelines(api)
    name = f"{tenant_prefix}-wide"
    teams.create(home, pipeline(name, spec(name, topics={"partitions": 3})))
    admin.wait_condition(home, name, ready, "Ready", alive=running.alive)
    with pytest.raises(ApiException) as shrink:
        teams.patch(home, name, {"spec": {"topics": {"partitions": 2}}})
    assert shrink.value.status == 422
    assert "spec.topics.partitions: the tenant's topics have 3 partitions" in shrink.value.body
    assert admin.get(home, name)["spec"]["topics"]["partitions"] == 3  # type: ignore[index]


def largest_spec(name: str, pad: int) -> dict[str, object]:
    """A valid spec padded by two samples of `pad` bytes each (each at most 256 KiB)."""
    samples = [{"input": c * pad, "dead_letter": "invalid_json"} for c in "xy"]
    return spec(name, samples=samples)


def test_the_largest_valid_spec_becomes_ready_and_a_larger_one_is_refused(
    api: client.ApiClient, running: Operator, tenant_prefix: str, home: str
) -> None:
    """Before, a 300 KB spec never became Ready: kopf's copy of it in an annotation went over
    Kubernetes' 256 KiB. kopf now keeps a digest, and the model bounds a declaration at
    512 KiB, which etcd and `_logway.tenants` hold."""
    teams, admin = team(api, home), Pipelines(api)
    name = f"{tenant_prefix}-big"
    teams.create(home, pipeline(name, largest_spec(name, 261_000)))
    body = admin.wait_condition(home, name, ready, "Ready", timeout=90, alive=running.alive)
    annotations = body["metadata"].get("annotations") or {}
    assert sum(len(v) for v in annotations.values()) < 4096
    with pytest.raises(ApiException) as over:
        teams.create(home, pipeline(f"{name}x", largest_spec(f"{name}x", 262_144)))
    assert over.value.status == 422
    assert "over the 524288 a tenant may take" in over.value.body


def test_the_chart_gives_the_operator_no_more_than_it_uses() -> None:
    """The role rendered by the chart, read back: the kinds kopf and the operator use, and
    no write to namespaces, CRDs or anything cluster-wide beyond the webhook configurations."""
    import yaml

    [role] = [
        o
        for o in yaml.safe_load_all(render(["--set", "forwarder.kafka.userSecret=fw"]))
        if o and o["kind"] == "ClusterRole" and o["metadata"]["name"] == OPERATOR_ACCOUNT
    ]
    writes = {
        resource
        for rule in role["rules"]
        for resource in rule["resources"]
        if set(rule["verbs"]) & {"create", "update", "patch", "delete"}
    }
    assert writes == {
        "loggingpipelines",
        "loggingpipelines/status",
        "secrets",
        "events",
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
    }
    assert not any("delete" in rule["verbs"] for rule in role["rules"])


def test_the_webhook_still_works_after_kopfs_retries_would_have_given_up(
    running: Operator, pipelines: Pipelines, tenant_prefix: str, home: str
) -> None:
    """kopf gave up its admission manager about a minute after start under the old role:
    past that, the webhook still refuses, and a new resource still becomes Ready."""
    pipelines.namespace(home)
    assert running.process is not None
    wait_for_webhook(admin_client(), running.webhook, running.alive)
    time.sleep(max(0.0, 70 - running.up_for()))
    name = f"{tenant_prefix}-late"
    bad = spec(name, routes=[{"index": "a", "when": "level >>> 3"}, {"index": "default"}])
    with pytest.raises(ApiException) as refusal:
        pipelines.create(home, pipeline(name, bad))
    assert refusal.value.status == 422
    pipelines.create(home, pipeline(name, spec(name)))
    pipelines.wait_condition(home, name, ready, "Ready", alive=running.alive)

"""The Helm chart: `helm lint`, `helm template`, every object valid for Kubernetes 1.34
(kubeconform -strict, schemas made offline by helm/schemas.sh), and the chart's contents pinned:
the forwarder routes are the tenants', the PrometheusRule is prometheus/rules.yaml."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from logway.cli import app
from tests.chart import CHART, HELM, KUBECONFORM, KUBERNETES, ROOT, SCHEMAS, TENANTS, tool
from tests.chart import render as render_chart
from tests.chart import values_args as chart_values
from topology.ceilings import Ceilings


@pytest.fixture(scope="module")
def values_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return chart_values(tmp_path_factory.mktemp("chart"))


@pytest.fixture(scope="module")
def manifest(values_args: list[str]) -> str:
    return render_chart(values_args)


@pytest.fixture(scope="module")
def objects(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    return found


def test_helm_lint_passes(values_args: list[str]) -> None:
    result = subprocess.run(
        [tool(HELM), "lint", "--strict", "--kube-version", KUBERNETES, str(CHART), *values_args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rendered_object_is_valid_for_kubernetes(manifest: str, tmp_path: Path) -> None:
    assert_valid_for_kubernetes(manifest, tmp_path)


def assert_valid_for_kubernetes(manifest: str, tmp_path: Path) -> None:
    """kubeconform, strict, on the Kubernetes version the chart targets."""
    assert SCHEMAS.exists(), "the kubeconform schemas are missing: `make tools` makes them"
    rendered = tmp_path / "manifest.yaml"
    rendered.write_text(manifest)
    result = subprocess.run(
        [
            tool(KUBECONFORM),
            "-strict",
            "-summary",
            "-kubernetes-version",
            "1.34.2",
            "-schema-location",
            f"{SCHEMAS}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
            str(rendered),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in result.stdout, result.stdout


def test_the_chart_installs_every_component(objects: list[dict[str, Any]]) -> None:
    kinds = {(o["kind"], o["metadata"]["name"].removeprefix("logway-logway-")) for o in objects}
    for component in ("processor", "sink", "gateway", "notifier"):
        assert ("Deployment", component) in kinds
        assert ("Service", component) in kinds
    for component in ("processor", "sink", "gateway"):
        assert ("PodDisruptionBudget", component) in kinds
    assert ("HorizontalPodAutoscaler", "processor") in kinds
    assert ("DaemonSet", "forwarder") in kinds
    assert ("Job", "apply-1") in kinds
    assert {("ServiceMonitor", "logway-logway"), ("PrometheusRule", "logway-logway")} <= {
        (o["kind"], o["metadata"]["name"]) for o in objects
    }


def test_the_pod_watcher_may_read_pods_and_nothing_else(objects: list[dict[str, Any]]) -> None:
    pod = by_kind(objects, "Deployment", "-podwatch")["spec"]["template"]["spec"]
    account = pod["serviceAccountName"]
    binding = by_kind(objects, "ClusterRoleBinding", "-podwatch")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": "logging"}
    ]
    role = by_kind(objects, "ClusterRole", "-podwatch")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]


def test_the_forwarder_routes_are_the_tenants(objects: list[dict[str, Any]]) -> None:
    config = by_kind(objects, "ConfigMap", "-forwarder")["data"]["fluent-bit.conf"]
    expected = (ROOT / "tests" / "golden" / "forwarder" / "fluent-bit-scram.conf").read_text()
    assert config.strip() == expected.strip()
    for tenant in ("payments", "search-api", "checkout"):
        assert f"Topics                        logs.{tenant}.raw" in config


def test_the_prometheus_rule_is_the_shipped_rules_file(objects: list[dict[str, Any]]) -> None:
    shipped = (ROOT / "prometheus" / "rules.yaml").read_text()
    assert (CHART / "files" / "rules.yaml").read_text() == shipped
    assert by_kind(objects, "PrometheusRule")["spec"] == yaml.safe_load(shipped)


def test_apply_creates_replicated_topics(objects: list[dict[str, Any]]) -> None:
    job = by_kind(objects, "Job")
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["LOGWAY_TOPIC_REPLICATION_FACTOR"] == "3"
    assert env["LOGWAY_TOPIC_MIN_INSYNC_REPLICAS"] == "2"
    tenants = by_kind(objects, "ConfigMap", "-tenants")["data"]
    assert sorted(tenants) == ["checkout.yaml", "payments.yaml", "search-api.yaml"]


def test_every_client_logs_in_to_kafka_and_elasticsearch_with_the_secrets_as_files(
    objects: list[dict[str, Any]],
) -> None:
    pods = [o["spec"]["template"]["spec"] for o in objects if o["kind"] in ("Deployment", "Job")]
    assert (
        len(pods) == 8
    )  # processor, sink, gateway, notifier, podwatch, retention, operator, apply
    for pod in pods:
        [container] = pod["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["LOGWAY_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["LOGWAY_KAFKA_USERNAME"] == "logway"
        assert "LOGWAY_KAFKA_PASSWORD" not in env  # never as a value in the pod spec
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert env["LOGWAY_ES_USERNAME"] == "elastic"
        assert "LOGWAY_ES_PASSWORD" not in env
        for variable, secret, key in (
            ("LOGWAY_KAFKA_PASSWORD_FILE", "logway", "password"),
            ("LOGWAY_KAFKA_CA_FILE", "logway-kafka-cluster-ca-cert", "ca.crt"),
            ("LOGWAY_ES_PASSWORD_FILE", "logway-es-elastic-user", "elastic"),
            ("LOGWAY_ES_CA_FILE", "logway-es-http-certs-public", "ca.crt"),
        ):
            folder, file = env[variable].rsplit("/", 1)
            volume = volumes[mounts[folder]]["secret"]
            assert volume["secretName"] == secret
            assert volume["items"] == [{"key": key, "path": file}]


def test_the_forwarder_logs_in_as_its_kafka_user_with_the_secrets_it_names(
    objects: list[dict[str, Any]],
) -> None:
    pod = by_kind(objects, "DaemonSet", "-forwarder")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["KAFKA_USERNAME"]["value"] == "logway-forwarder"
    assert "value" not in env["KAFKA_PASSWORD"]
    secret = env["KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert secret == {"name": "logway-forwarder", "key": "password"}
    config = by_kind(objects, "ConfigMap", "-forwarder")["data"]["fluent-bit.conf"]
    [ca_path] = set(re.findall(r"rdkafka\.ssl\.ca\.location\s+(\S+)", config))
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    folder, file = ca_path.rsplit("/", 1)
    volume = {v["name"]: v for v in pod["volumes"]}[mounts[folder]]["secret"]
    assert volume["secretName"] == "logway-kafka-cluster-ca-cert"
    assert volume["items"] == [{"key": "ca.crt", "path": file}]


def render_forwarder(
    login: str, tmp_path: Path, *values: str, agent: str = "fluent-bit"
) -> subprocess.CompletedProcess[str]:
    """The chart with a forwarder config rendered with `--kafka-login login --format agent`."""
    config = tmp_path / f"{agent}-{login}.conf"
    args = ["--format", agent, "--kafka-login", login, str(TENANTS), "-o", str(config)]
    result = CliRunner().invoke(app, ["render", "forwarder", *args])
    assert result.exit_code == 0, result.output
    return render(*values, files=(f"forwarder.config={config}",))


def test_a_tls_forwarder_mounts_its_certificate_and_key_where_the_config_reads_them(
    tmp_path: Path,
) -> None:
    result = render_forwarder(
        "tls",
        tmp_path,
        "forwarder.kafka.login=tls",
        "forwarder.kafka.userSecret=logway-forwarder",
        "forwarder.kafka.bootstrap=logway-kafka-bootstrap.kafka:9094",
        "kafka.caSecret.name=logway-kafka-cluster-ca-cert",
    )
    assert result.returncode == 0, result.stderr
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    pod = by_kind(objects, "DaemonSet", "-forwarder")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env == {"KAFKA_BROKERS": "logway-kafka-bootstrap.kafka:9094"}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    config = by_kind(objects, "ConfigMap", "-forwarder")["data"]["fluent-bit.conf"]
    for setting, secret, key in (
        ("ssl.certificate.location", "logway-forwarder", "user.crt"),
        ("ssl.key.location", "logway-forwarder", "user.key"),
        ("ssl.ca.location", "logway-kafka-cluster-ca-cert", "ca.crt"),
    ):
        [path] = set(re.findall(rf"rdkafka\.{re.escape(setting)}\s+(\S+)", config))
        folder, file = path.rsplit("/", 1)
        volume = volumes[mounts[folder]]["secret"]
        assert volume["secretName"] == secret
        assert {"key": key, "path": file} in volume["items"]


def test_a_forwarder_config_and_login_that_disagree_are_refused(tmp_path: Path) -> None:
    plain = render_forwarder(
        "none", tmp_path, "forwarder.kafka.login=scram", "forwarder.kafka.userSecret=fw"
    )
    assert plain.returncode != 0
    assert "--kafka-login scram" in plain.stderr
    secured = render_forwarder("scram", tmp_path)
    assert secured.returncode != 0
    assert "forwarder.kafka.login is none" in secured.stderr
    no_secret = render_forwarder("tls", tmp_path, "forwarder.kafka.login=tls")
    assert no_secret.returncode != 0
    assert "/forwarder/kafka/userSecret" in no_secret.stderr


FORWARDER_SECRETS = (
    "forwarder.kafka.userSecret=logway-forwarder",
    "kafka.caSecret.name=logway-kafka-cluster-ca-cert",
)


def test_the_collector_as_node_agent_reads_the_pods_logs_and_keeps_its_state_on_the_node(
    tmp_path: Path,
) -> None:
    result = render_forwarder(
        "scram",
        tmp_path,
        "forwarder.agent=otel-collector",
        "forwarder.kafka.login=scram",
        *FORWARDER_SECRETS,
        agent="otel-collector",
    )
    assert result.returncode == 0, result.stderr
    assert_valid_for_kubernetes(result.stdout, tmp_path)
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    config = yaml.safe_load(
        by_kind(objects, "ConfigMap", "-forwarder")["data"]["otel-collector.yaml"]
    )
    pod = by_kind(objects, "DaemonSet", "-forwarder")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "otel/opentelemetry-collector-contrib:0.165.0"
    assert container["args"] == [
        "--config=/etc/logway-agent/config/otel-collector.yaml",
        "--feature-gates=stanza.synchronousLogEmitter",  # positions saved once lines are queued
    ]
    assert container["securityContext"]["runAsUser"] == 0
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["/var/log"] == "varlog"  # the files under /var/log/pods it reads
    state = config["extensions"]["file_storage"]["directory"]
    assert volumes[mounts[state]]["hostPath"]["path"] == state  # positions and queue survive
    ca = config["exporters"]["kafka/payments"]["tls"]["ca_file"]
    folder, file = ca.rsplit("/", 1)
    assert volumes[mounts[folder]]["secret"]["secretName"] == "logway-kafka-cluster-ca-cert"
    assert {"key": "ca.crt", "path": file} in volumes[mounts[folder]]["secret"]["items"]
    # A Fluent Bit config given to the collector (or the other way round) is refused.
    wrong = render_forwarder(
        "scram",
        tmp_path,
        "forwarder.agent=otel-collector",
        "forwarder.kafka.login=scram",
        *FORWARDER_SECRETS,
    )
    assert wrong.returncode != 0
    assert "render it with `logway render forwarder --format otel-collector`" in wrong.stderr
    # A config that logs in with SCRAM, given with the login of a TLS certificate, is refused.
    other_login = render_forwarder(
        "scram",
        tmp_path,
        "forwarder.agent=otel-collector",
        "forwarder.kafka.login=tls",
        *FORWARDER_SECRETS,
        agent="otel-collector",
    )
    assert other_login.returncode != 0
    assert "logs in with scram, but forwarder.kafka.login is tls" in other_login.stderr


def test_otlp_on_the_gateway_needs_tls_or_plaintext_said_out_loud() -> None:
    refused = render("gateway.otlp.enabled=true")
    assert refused.returncode != 0
    assert "gateway.otlp needs gateway.tlsSecret" in refused.stderr
    served = render("gateway.otlp.enabled=true", "gateway.tlsSecret=logway-gateway-tls")
    assert served.returncode == 0, served.stderr
    objects = [doc for doc in yaml.safe_load_all(served.stdout) if doc]
    [container] = by_kind(objects, "Deployment", "-gateway")["spec"]["template"]["spec"][
        "containers"
    ]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LOGWAY_GATEWAY_OTLP_PORT"] == "4318"
    assert env["LOGWAY_GATEWAY_OTLP_PLAINTEXT"] == "false"
    assert {"name": "otlp", "containerPort": 4318} in container["ports"]
    service = by_kind(objects, "Service", "-gateway")
    assert {"name": "otlp", "port": 4318, "targetPort": "otlp"} in service["spec"]["ports"]


def render(*values: str, files: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    args = [a for value in values for a in ("--set", value)]
    args += [a for file in files for a in ("--set-file", file)]
    return subprocess.run(
        [tool(HELM), "template", "logway", str(CHART), "--kube-version", KUBERNETES, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_values_schema_refuses_a_misspelled_value() -> None:
    result = render("procesor.replicas=2")
    assert result.returncode != 0
    assert "procesor" in result.stderr


def test_values_schema_refuses_sasl_without_a_user_or_a_user_without_sasl() -> None:
    result = render("kafka.securityProtocol=SASL_SSL")
    assert result.returncode != 0
    assert "/kafka/username" in result.stderr
    assert "/kafka/passwordSecret" in result.stderr
    result = render("kafka.username=logway", "kafka.passwordSecret.name=logway")
    assert result.returncode != 0
    assert "/kafka/securityProtocol" in result.stderr


def test_values_schema_refuses_an_elasticsearch_login_in_the_url_or_without_a_password() -> None:
    result = render("elasticsearch.url=https://elastic:hunter2@es:9200")
    assert result.returncode != 0
    assert "/elasticsearch/url" in result.stderr
    result = render("elasticsearch.username=elastic")
    assert result.returncode != 0
    assert "/elasticsearch/passwordSecret" in result.stderr


def test_the_chart_ships_the_crd_the_model_renders() -> None:
    result = CliRunner().invoke(app, ["render", "crd"])
    assert result.exit_code == 0, result.output
    shipped = (CHART / "crds" / "loggingpipelines.yaml").read_text()
    assert shipped == result.output, "helm/logway/crds/ is stale: `logway render crd -o` it"


def test_teams_edit_loggingpipelines_by_the_edit_role_and_only_the_operator_writes_status(
    objects: list[dict[str, Any]],
) -> None:
    editor = by_kind(objects, "ClusterRole", "-pipeline-editor")
    assert editor["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert editor["rules"] == [
        {
            "apiGroups": ["logway.dev"],
            "resources": ["loggingpipelines"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        }
    ]
    operator = by_kind(objects, "ClusterRole", "-operator")
    writes_status = [r for r in operator["rules"] if "loggingpipelines/status" in r["resources"]]
    assert writes_status
    assert "patch" in writes_status[0]["verbs"]
    binding = by_kind(objects, "ClusterRoleBinding", "-operator")
    pod = by_kind(objects, "Deployment", "-operator")["spec"]["template"]["spec"]
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"]
    assert by_kind(objects, "Deployment", "-operator")["spec"]["replicas"] == 1


def test_without_a_rendered_config_the_operator_keeps_the_forwarders_routes(
    tmp_path: Path,
) -> None:
    values = [
        "forwarder.kafka.login=scram",
        "forwarder.kafka.userSecret=fw",
        "kafka.caSecret.name=ca",
    ]
    manifest = render_chart([a for value in values for a in ("--set", value)])
    objects = [doc for doc in yaml.safe_load_all(manifest) if doc]
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("DaemonSet", "logway-logway-forwarder") in names
    assert ("ConfigMap", "logway-logway-forwarder") not in names  # the operator's to write
    pod = by_kind(objects, "Deployment", "-operator")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["LOGWAY_OPERATOR_FORWARDER_CONFIGMAP"] == "logway-logway-forwarder"
    assert env["LOGWAY_OPERATOR_FORWARDER_DAEMONSET"] == "logway-logway-forwarder"
    assert env["LOGWAY_OPERATOR_FORWARDER_LOGIN"] == "scram"
    assert env["LOGWAY_OPERATOR_FORWARDER_AGENT"] == "fluent-bit"
    role = by_kind(objects, "Role", "-forwarder-routes")
    assert {
        "apiGroups": ["apps"],
        "resources": ["daemonsets"],
        "resourceNames": ["logway-logway-forwarder"],
        "verbs": ["get", "patch"],
    } in role["rules"]
    del tmp_path


def test_the_operator_gets_the_tenant_ceilings_that_are_set_and_no_others() -> None:
    manifest = render_chart(
        [
            "--set",
            "operator.tenantCeilings.recordsPerS=20000",
            "--set",
            "operator.tenantCeilings.storageBytes=100000000000",
            "--set",
            "operator.tenantCeilings.shards=450",
        ]
    )
    objects = [doc for doc in yaml.safe_load_all(manifest) if doc]
    pod = by_kind(objects, "Deployment", "-operator")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    ceilings = {name: value for name, value in env.items() if name.startswith("LOGWAY_TENANT_MAX")}
    assert ceilings == {
        "LOGWAY_TENANT_MAX_RECORDS_PER_S": "20000",
        "LOGWAY_TENANT_MAX_STORAGE_BYTES": "100000000000",
        "LOGWAY_TENANT_MAX_SHARDS": "450",
    }
    assert Ceilings.from_env(ceilings) == Ceilings(
        records_per_s=20000, storage_bytes=10**11, shards=450
    )


def test_the_dashboards_ship_as_configmaps_for_grafanas_sidecar_on_known_figures(
    objects: list[dict[str, Any]],
) -> None:
    import json

    shipped = sorted((CHART / "files" / "dashboards").glob("*.json"))
    assert [path.name for path in shipped] == ["logway-platform.json", "logway-tenant.json"]
    maps = [o for o in objects if o["kind"] == "ConfigMap" and "dashboard" in o["metadata"]["name"]]
    assert len(maps) == 2
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        [(name, text)] = config_map["data"].items()
        assert json.loads(text) == json.loads((CHART / "files" / "dashboards" / name).read_text())
    # every figure a panel asks for is a recording rule or a metric of docs/metrics.md
    rules = yaml.safe_load((CHART / "files" / "rules.yaml").read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    metrics = set(re.findall(r"`(logway_[a-z_]+)`", (ROOT / "docs" / "metrics.md").read_text()))
    known = recorded | metrics | {"up"}
    for path in shipped:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                query = re.sub(r'"[^"]*"', '""', target["expr"])  # not the labels' values
                names = set(re.findall(r"[a-z_:]*logway[a-z0-9_:]*|\bup\b", query))
                names = {n.removesuffix("_bucket") for n in names}
                assert names <= known, (path.name, panel["title"], names - known)

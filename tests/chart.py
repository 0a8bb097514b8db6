"""The Helm chart rendered as a production install would render it, for the chart's tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from typer.testing import CliRunner

from logway.cli import app

ROOT = Path(__file__).parents[1]
CHART = ROOT / "helm" / "logway"
TOOLS = ROOT / ".logway" / "tools"
HELM, KUBECONFORM, SCHEMAS = TOOLS / "helm", TOOLS / "kubeconform", TOOLS / "k8s-schemas"
TENANTS = ROOT / "examples" / "tenants"
KUBERNETES = "1.34.2"  # the schemas helm/schemas.sh makes


def tool(path: Path) -> str:
    assert path.exists(), f"{path.name} is missing: `make tools` builds it"
    return str(path)


def values_args(folder: Path) -> list[str]:
    """The values a production install gives: a forwarder config rendered from the example
    tenants, Strimzi and ECK logins and secrets."""
    forwarder = folder / "fluent-bit.conf"
    result = CliRunner().invoke(
        app, ["render", "forwarder", "--kafka-login", "scram", str(TENANTS), "-o", str(forwarder)]
    )
    assert result.exit_code == 0, result.output
    args = ["--set-file", f"forwarder.config={forwarder}"]
    # The forwarder's own login: the Strimzi KafkaUser logway-forwarder, over SCRAM and TLS.
    args += ["--set", "forwarder.kafka.login=scram"]
    args += ["--set", "forwarder.kafka.userSecret=logway-forwarder"]
    for tenant in sorted(TENANTS.glob("*.yaml")):
        args += ["--set-file", f"tenants.{tenant.stem}\\.yaml={tenant}"]
    return [
        *args,
        "--set",
        "gateway.tlsSecret=gateway-tls",
        "--set",
        "notifier.webhooksSecret=slack-webhooks",
        "--set",
        "gateway.keysSecret=forward-keys",
        # The workers' own Kafka login, as on a Strimzi cluster with a SCRAM-over-TLS listener.
        "--set",
        "kafka.securityProtocol=SASL_SSL",
        "--set",
        "kafka.username=logway",
        "--set",
        "kafka.passwordSecret.name=logway",
        "--set",
        "kafka.caSecret.name=logway-kafka-cluster-ca-cert",
        # Elasticsearch's, as on an ECK cluster: its elastic user and its HTTP CA.
        "--set",
        "elasticsearch.username=elastic",
        "--set",
        "elasticsearch.passwordSecret.name=logway-es-elastic-user",
        "--set",
        "elasticsearch.passwordSecret.key=elastic",
        "--set",
        "elasticsearch.caSecret.name=logway-es-http-certs-public",
    ]


def render(values: list[str], *more: str) -> str:
    """`helm template` of the chart with `values` (and `more` arguments)."""
    result = subprocess.run(
        [
            tool(HELM),
            "template",
            "logway",
            str(CHART),
            "--namespace",
            "logging",
            "--kube-version",
            KUBERNETES,
            *values,
            *more,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout

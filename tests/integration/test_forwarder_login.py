"""The node forwarder's login, through the real broker's SCRAM-over-TLS listener.

Fluent Bit does not run here; librdkafka does, and it is what Fluent Bit's kafka output is
built on. Each rendered output's `rdkafka.*` settings are handed to librdkafka as Fluent Bit
would hand them: `${VAR}` from the environment the chart sets, the CA at the file the chart
mounts (here the dev CA). What must hold: the forwarder writes the raw topic of each tenant
that claims namespaces and nothing else, and each tenant's namespaces are throttled as that
tenant (its quota on the pair forwarder user, client id <tenant>), not as one shared identity.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from logway.core.names import FORWARDER_USER, processed_topic, raw_topic
from logway.core.settings import Endpoints
from logway.dev.servers import DevConfig, Kafka
from tests.integration.support import logway, tenant_yaml
from tests.integration.test_isolation import produce_throttles, send
from topology.forwarder import UNCLAIMED_TOPIC

pytestmark = pytest.mark.integration


@pytest.fixture
def forwarder_password(endpoints: Endpoints) -> str:
    """The forwarder's SCRAM user, as a Strimzi KafkaUser `logway-forwarder` would make it."""
    if endpoints.kafka.bootstrap != DevConfig.from_env().kafka_bootstrap:
        pytest.skip("needs the dev runner's broker, which has the SCRAM listener and authorizer")
    password = secrets.token_urlsafe(18)
    admin = AdminClient(endpoints.kafka.admin())
    upsert = UserScramCredentialUpsertion(
        FORWARDER_USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result()
    return password


def outputs(config: str, password: str) -> dict[str, dict[str, str | int]]:
    """topic -> the librdkafka settings of the Fluent Bit output that sends to it."""
    environment = {"KAFKA_USERNAME": FORWARDER_USER, "KAFKA_PASSWORD": password}
    ca = str(Kafka(DevConfig.from_env()).ca_file)
    found: dict[str, dict[str, str | int]] = {}
    for block in config.split("[OUTPUT]")[1:]:
        settings = dict(line.split(None, 1) for line in block.strip().splitlines())
        librdkafka: dict[str, str | int] = {
            "bootstrap.servers": DevConfig.from_env().kafka_tls_bootstrap,
            "log_level": 0,
        }
        for key, value in settings.items():
            if key.startswith("rdkafka."):
                expanded = re.sub(r"\$\{(\w+)\}", lambda m: environment[m.group(1)], value)
                librdkafka[key.removeprefix("rdkafka.")] = (
                    ca if key == "rdkafka.ssl.ca.location" else expanded
                )
        found[settings["Topics"]] = librdkafka
    return found


def test_each_tenants_namespaces_go_out_under_its_own_quota_and_nowhere_else(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path, forwarder_password: str
) -> None:
    slow, fast = f"{tenant_prefix}-fslow", f"{tenant_prefix}-ffast"
    namespaces = f"sources:\n  namespaces: [{tenant_prefix}-ns-slow]\n"
    (tmp_path / "slow.yaml").write_text(
        tenant_yaml(slow, extra=namespaces + "limits:\n  produce_bytes_per_s: 4096\n")
    )
    (tmp_path / "fast.yaml").write_text(
        tenant_yaml(fast, extra=f"sources:\n  namespaces: [{tenant_prefix}-ns-fast]\n")
    )
    applied = logway(endpoints, "apply", str(tmp_path)).stdout
    assert f"User:{FORWARDER_USER} client.id={slow}" in applied, applied
    assert "producer_byte_rate none -> 4096" in applied, applied

    rendered = logway(
        endpoints, "render", "forwarder", "--kafka-login", "scram", str(tmp_path)
    ).stdout
    by_topic = outputs(rendered, forwarder_password)
    as_slow, as_fast = by_topic[raw_topic(slow)], by_topic[raw_topic(fast)]
    assert as_slow["client.id"] == slow
    assert as_slow["security.protocol"] == "SASL_SSL"

    # It writes each claiming tenant's raw topic, and the unclaimed topic...
    assert send(as_fast, raw_topic(fast)) is None
    assert send(by_topic[UNCLAIMED_TOPIC], UNCLAIMED_TOPIC) is None
    # ...and nothing else, whatever its client id says.
    refused = send(as_slow, processed_topic(slow))
    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    # Kafka measures the rate over at least 10 s: 2 x 30 kB is ~1.5x the slow tenant's quota
    # (the payloads are random: the outputs compress with lz4, and quotas count wire bytes).
    slow_throttles = produce_throttles(as_slow, raw_topic(slow), 2)
    fast_throttles = produce_throttles(as_fast, raw_topic(fast), 2)
    assert any(t > 0 for t in slow_throttles), slow_throttles
    assert not any(t > 0 for t in fast_throttles), fast_throttles

    # A tenant that stops claiming namespaces loses the forwarder's write and its quota.
    (tmp_path / "fast.yaml").write_text(tenant_yaml(fast))
    again = logway(endpoints, "apply", str(tmp_path)).stdout
    revoked = [line for line in again.splitlines() if fast in line and "forwarder" in line]
    assert any("forwarder quota" in line and "delete" in line for line in revoked), again
    assert any(f"WRITE topic {raw_topic(fast)}" in line for line in again.splitlines()), again
    refused = send(as_fast, raw_topic(fast))
    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

"""Forwarder routing: the node forwarders' configuration, rendered from the tenants.

Each Kubernetes namespace a tenant claims is sent to that tenant's `logs.<tenant>.raw`; every
other namespace goes to the platform topic `_logway.unclaimed` (so nothing is sent nowhere).
Records are keyed by their source log file, so all pieces of one container stream land in one
partition, in order. Docker json-file and CRI lines are read with the forwarders' own
`docker`/`cri` parsers.

Files: a file found without a position in the forwarder's database is read from its head
(`Read_from_Head`), so the lines a pod wrote before the forwarder started, or while it was
down, are sent; new and rotated files are looked for every 5 s (`Refresh_Interval`, 60 s by
default). Fluent Bit writes the record's time, which is when the container runtime wrote the
line, as `@timestamp` (microseconds, ISO 8601), which the pipeline keeps as the document's.

Identity: every node's forwarder logs in as one Kafka user, `logway-forwarder` (a Strimzi
KafkaUser), and each tenant's output names the tenant as its `client.id`. `apply` grants that
user WRITE on each claiming tenant's raw topic and gives the pair (user `logway-forwarder`,
client id `<tenant>`) the tenant's `limits.produce_bytes_per_s`, so one tenant's namespaces are
throttled at the broker as that tenant, across all nodes, and never slow another tenant's.
How it logs in (`KafkaLogin`) is chosen at render time and matches the chart's
`forwarder.kafka.login`: the secrets come from the environment (SCRAM) or from files the chart
mounts from Strimzi's Secrets (the cluster CA, and a TLS KafkaUser's certificate and key).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Literal

from logway.core.names import raw_topic
from topology.model import Tenant

UNCLAIMED_TOPIC = "_logway.unclaimed"
UNCLAIMED_CLIENT_ID = "logway-unclaimed"
Format = Literal["fluent-bit", "fluentd"]  # the agents this module renders
KafkaLogin = Literal["none", "scram", "tls"]
KAFKA_LOGINS: tuple[KafkaLogin, ...] = ("none", "scram", "tls")
HEADER = (
    "# Rendered by `logway render forwarder` from the tenant declarations; do not edit by hand.\n"
    "# Kafka brokers come from the KAFKA_BROKERS environment variable.\n"
)
LOGIN_HEADER: dict[KafkaLogin, str] = {
    "none": "",
    "scram": "# Logs in with SCRAM-SHA-512 over TLS as KAFKA_USERNAME, its password in\n"
    "# KAFKA_PASSWORD (environment); the cluster CA is the file {ca}.\n",
    "tls": "# Logs in with a TLS client certificate ({cert}, {key});\n"
    "# the cluster CA is the file {ca}.\n",
}
# Where the chart mounts Strimzi's Secrets: the cluster CA (`<cluster>-cluster-ca-cert`) and
# the KafkaUser's own Secret (`user.crt`, `user.key` of a TLS user).
SECRETS_DIR: dict[Format, str] = {"fluent-bit": "/fluent-bit/etc", "fluentd": "/fluentd/etc"}


def login_properties(login: KafkaLogin, fmt: Format) -> list[tuple[str, str]]:
    """The librdkafka settings that log the forwarder in; secrets by reference only."""
    ca = f"{SECRETS_DIR[fmt]}/kafka-ca/ca.crt"
    user = f"{SECRETS_DIR[fmt]}/kafka-user"
    if login == "scram":
        username, password = (
            ("${KAFKA_USERNAME}", "${KAFKA_PASSWORD}")
            if fmt == "fluent-bit"
            else ("#{ENV['KAFKA_USERNAME']}", "#{ENV['KAFKA_PASSWORD']}")
        )
        return [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", username),
            ("sasl.password", password),
            ("ssl.ca.location", ca),
        ]
    if login == "tls":
        return [
            ("security.protocol", "SSL"),
            ("ssl.ca.location", ca),
            ("ssl.certificate.location", f"{user}/user.crt"),
            ("ssl.key.location", f"{user}/user.key"),
        ]
    return []


def _header(login: KafkaLogin, fmt: Format) -> str:
    files = dict(login_properties(login, fmt))
    return HEADER + LOGIN_HEADER[login].format(
        ca=files.get("ssl.ca.location"),
        cert=files.get("ssl.certificate.location"),
        key=files.get("ssl.key.location"),
    )


def _alternatives(namespaces: Sequence[str]) -> str:
    return "|".join(re.escape(ns) for ns in namespaces)


def render_fluent_bit(tenants: Sequence[Tenant], login: KafkaLogin = "none") -> str:
    """Fluent Bit (classic mode): tail container logs, one Kafka output per tenant."""
    claimed = [ns for _tenant, _topic, namespaces in routes(tenants) for ns in namespaces]
    secured = login_properties(login, "fluent-bit")
    parts = [
        _header(login, "fluent-bit"),
        "[SERVICE]\n"
        "    Flush        1\n"
        "    Log_Level    info\n"
        "    storage.path /var/lib/fluent-bit/storage\n",
        "[INPUT]\n"
        "    Name             tail\n"
        "    Path             /var/log/containers/*.log\n"
        "    multiline.parser docker, cri\n"
        "    Tag              kube.<namespace_name>.<pod_name>.<container_name>\n"
        "    Tag_Regex        ^/var/log/containers/(?<pod_name>[^_]+)_(?<namespace_name>[^_]+)"
        "_(?<container_name>.+)-(?<container_id>[a-z0-9]{64})\\.log$\n"
        "    Path_Key         source_file\n"
        "    Read_from_Head   true\n"
        "    Refresh_Interval 5\n"
        "    DB               /var/lib/fluent-bit/tail.db\n"
        "    storage.type     filesystem\n"
        "    Mem_Buf_Limit    64MB\n",
    ]
    for tenant, topic, namespaces in routes(tenants):
        match = rf"^kube\.({_alternatives(namespaces)})\..*"
        parts.append(_fluent_bit_output(match, topic, tenant, secured))
    unclaimed = rf"^kube\.(?!({_alternatives(claimed)})\.).*" if claimed else r"^kube\..*"
    parts.append(_fluent_bit_output(unclaimed, UNCLAIMED_TOPIC, UNCLAIMED_CLIENT_ID, secured))
    return "\n".join(parts)


def routes(tenants: Sequence[Tenant]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(tenant, topic, namespaces) for every tenant that claims namespaces, in name order; the
    tenant's name is also its output's client id."""
    return [
        (t.name, raw_topic(t.name), tuple(sorted(t.sources.namespaces)))
        for t in sorted(tenants, key=lambda t: t.name)
        if t.sources.namespaces
    ]


def _fluent_bit_output(
    match_regex: str, topic: str, client_id: str, secured: list[tuple[str, str]]
) -> str:
    login = "".join(f"    {'rdkafka.' + key:<29} {value}\n" for key, value in secured)
    return (
        "[OUTPUT]\n"
        "    Name                          kafka\n"
        f"    Match_Regex                   {match_regex}\n"
        "    Brokers                       ${KAFKA_BROKERS}\n"
        f"    Topics                        {topic}\n"
        "    Message_Key_Field             source_file\n"
        "    Format                        json\n"
        "    Timestamp_Key                 @timestamp\n"
        "    Timestamp_Format              iso8601\n"
        "    rdkafka.request.required.acks -1\n"
        "    rdkafka.enable.idempotence    true\n"
        "    rdkafka.compression.codec     lz4\n"
        f"    rdkafka.client.id             {client_id}\n" + login
    )


def render_fluentd(tenants: Sequence[Tenant], login: KafkaLogin = "none") -> str:
    """Fluentd with fluent-plugin-kafka's `rdkafka2` output; the first matching route wins."""
    secured = login_properties(login, "fluentd")
    parts = [
        _header(login, "fluentd") + "# Needs the plugins fluent-plugin-kafka (with rdkafka), "
        "fluent-plugin-multi-format-parser and fluent-plugin-parser-cri.\n",
        "<source>\n"
        "  @type tail\n"
        "  path /var/log/containers/*.log\n"
        "  pos_file /var/lib/fluentd/containers.log.pos\n"
        "  tag kube.*\n"
        "  path_key source_file\n"
        "  read_from_head true\n"
        "  refresh_interval 5\n"
        "  follow_inodes true\n"
        "  <parse>\n"
        "    @type multi_format\n"
        "    <pattern>\n"
        "      format json\n"
        "      time_key time\n"
        "      keep_time_key true\n"
        "    </pattern>\n"
        "    <pattern>\n"
        "      format cri\n"
        "    </pattern>\n"
        "  </parse>\n"
        "</source>\n",
    ]
    for tenant, topic, namespaces in routes(tenants):
        patterns = " ".join(f"kube.var.log.containers.*_{ns}_*.log" for ns in namespaces)
        parts.append(_fluentd_match(patterns, topic, tenant, secured))
    parts.append(_fluentd_match("kube.**", UNCLAIMED_TOPIC, UNCLAIMED_CLIENT_ID, secured))
    return "\n".join(parts)


def _fluentd_login(client_id: str, secured: list[tuple[str, str]]) -> str:
    """rdkafka2's own parameters for the secrets (so Fluentd expands `#{ENV[...]}` in them),
    and `rdkafka_options` for what it has none for; those options are applied last."""
    settings = dict(secured)
    params = {
        "username": settings.get("sasl.username"),
        "password": settings.get("sasl.password"),
        "ssl_ca_cert": settings.get("ssl.ca.location"),
        "ssl_client_cert": settings.get("ssl.certificate.location"),
        "ssl_client_cert_key": settings.get("ssl.key.location"),
    }
    options = {"client.id": client_id}
    for key in ("security.protocol", "sasl.mechanisms"):
        if key in settings:
            options[key] = settings[key]
    lines = [f'  {name} "{value}"\n' for name, value in params.items() if value]
    lines.append(f"  rdkafka_options {json.dumps(options, separators=(',', ':'))}\n")
    return "".join(lines)


def _fluentd_match(
    patterns: str, topic: str, client_id: str, secured: list[tuple[str, str]]
) -> str:
    buffer = topic.replace(".", "_")
    return (
        f"<match {patterns}>\n"
        "  @type rdkafka2\n"
        "  brokers \"#{ENV['KAFKA_BROKERS']}\"\n"
        f"  default_topic {topic}\n"
        "  message_key_key source_file\n"
        "  required_acks -1\n"
        "  compression_codec lz4\n"
        "  idempotent true\n" + _fluentd_login(client_id, secured) + "  <format>\n"
        "    @type json\n"
        "  </format>\n"
        "  <buffer>\n"
        "    @type file\n"
        f"    path /var/lib/fluentd/buffers/{buffer}\n"
        "    flush_interval 1s\n"
        "    retry_forever true\n"
        "  </buffer>\n"
        "</match>\n"
    )

"""Forwarder routing: the node forwarders' configuration, rendered from the tenants.

Each Kubernetes namespace a tenant claims is sent to that tenant's `logs.<tenant>.raw`; every
other namespace goes to the platform topic `_logway.unclaimed` (so nothing is sent nowhere).
Records are keyed by their source log file, so all pieces of one container stream land in one
partition, in order. Docker json-file and CRI lines are read with the forwarders' own
`docker`/`cri` parsers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from logway.core.names import raw_topic
from topology.model import Tenant

UNCLAIMED_TOPIC = "_logway.unclaimed"
Format = Literal["fluent-bit", "fluentd"]
HEADER = (
    "# Rendered by `logway render forwarder` from the tenant declarations; do not edit by hand.\n"
    "# Kafka brokers come from the KAFKA_BROKERS environment variable.\n"
)


def routes(tenants: Sequence[Tenant]) -> list[tuple[str, tuple[str, ...]]]:
    """(topic, namespaces) for every tenant that claims namespaces, in name order."""
    return [
        (raw_topic(t.name), tuple(sorted(t.sources.namespaces)))
        for t in sorted(tenants, key=lambda t: t.name)
        if t.sources.namespaces
    ]


def render(tenants: Sequence[Tenant], fmt: Format) -> str:
    return render_fluent_bit(tenants) if fmt == "fluent-bit" else render_fluentd(tenants)


def _alternatives(namespaces: Sequence[str]) -> str:
    return "|".join(re.escape(ns) for ns in namespaces)


def render_fluent_bit(tenants: Sequence[Tenant]) -> str:
    """Fluent Bit (classic mode): tail container logs, one Kafka output per tenant."""
    claimed = [ns for _topic, namespaces in routes(tenants) for ns in namespaces]
    parts = [
        HEADER,
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
        "    DB               /var/lib/fluent-bit/tail.db\n"
        "    storage.type     filesystem\n"
        "    Mem_Buf_Limit    64MB\n",
    ]
    for topic, namespaces in routes(tenants):
        parts.append(_fluent_bit_output(rf"^kube\.({_alternatives(namespaces)})\..*", topic))
    unclaimed = rf"^kube\.(?!({_alternatives(claimed)})\.).*" if claimed else r"^kube\..*"
    parts.append(_fluent_bit_output(unclaimed, UNCLAIMED_TOPIC))
    return "\n".join(parts)


def _fluent_bit_output(match_regex: str, topic: str) -> str:
    return (
        "[OUTPUT]\n"
        "    Name                          kafka\n"
        f"    Match_Regex                   {match_regex}\n"
        "    Brokers                       ${KAFKA_BROKERS}\n"
        f"    Topics                        {topic}\n"
        "    Message_Key_Field             source_file\n"
        "    Format                        json\n"
        "    Timestamp_Key                 @forwarded_at\n"
        "    Timestamp_Format              iso8601_ns\n"
        "    rdkafka.request.required.acks -1\n"
        "    rdkafka.enable.idempotence    true\n"
        "    rdkafka.compression.codec     lz4\n"
    )


def render_fluentd(tenants: Sequence[Tenant]) -> str:
    """Fluentd with fluent-plugin-kafka's `rdkafka2` output; the first matching route wins."""
    parts = [
        HEADER + "# Needs the plugins fluent-plugin-kafka (with rdkafka), "
        "fluent-plugin-multi-format-parser and fluent-plugin-parser-cri.\n",
        "<source>\n"
        "  @type tail\n"
        "  path /var/log/containers/*.log\n"
        "  pos_file /var/lib/fluentd/containers.log.pos\n"
        "  tag kube.*\n"
        "  path_key source_file\n"
        "  read_from_head true\n"
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
    for topic, namespaces in routes(tenants):
        patterns = " ".join(f"kube.var.log.containers.*_{ns}_*.log" for ns in namespaces)
        parts.append(_fluentd_match(patterns, topic))
    parts.append(_fluentd_match("kube.**", UNCLAIMED_TOPIC))
    return "\n".join(parts)


def _fluentd_match(patterns: str, topic: str) -> str:
    buffer = topic.replace(".", "_")
    return (
        f"<match {patterns}>\n"
        "  @type rdkafka2\n"
        "  brokers \"#{ENV['KAFKA_BROKERS']}\"\n"
        f"  default_topic {topic}\n"
        "  message_key_key source_file\n"
        "  required_acks -1\n"
        "  compression_codec lz4\n"
        "  <format>\n"
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

"""The node agent as an OpenTelemetry Collector: its configuration, rendered from the tenants.

Routing is Fluent Bit's (`topology.forwarder`): each tenant's namespaces to its raw topic,
under the tenant's name as Kafka client id (its produce quota), every other namespace to
`_logway.unclaimed`. The collector has no per-record routing without a connector, so each
tenant gets a pipeline of its own: a `file_log` receiver reading only its namespaces' files and
a `kafka` exporter writing only its topic.

What each line becomes (`logway.core.agent`): two `container` operators read the Docker and
CRI formats (`_container_parsers`), the CRI one joining `P`/`F` pieces, a `recombine` joins
Docker's 16 KiB pieces, and the line goes to Kafka as one JSON record, `{"message", "stream",
"@timestamp", "source_file", "offset"}`, with the header `logway-agent: otel-filelog`; the
processor takes the file as the record's key, and the file, offset, time and line as its
event id, so a line sent twice is indexed once.

Nothing is lost to a restart or to Kafka being away, as far as the collector allows:
- files are read as bytes kept as they are (`utf-8-raw`, whitespace preserved), so a character
  cut at a split is whole again once the pieces are joined;
- a file without a saved position is read from its head; positions and the sending queue are
  kept on the node's disk (`file_storage`), so a killed agent sends again what Kafka had not
  acknowledged (duplicates, which the ids absorb); with `FEATURE_GATES` on, a position is saved
  only once its lines are in the queue. What a kill still loses: the first pieces of a line
  split by the runtime whose last piece was not yet read (the operators hold them in memory);
- the exporter retries without a deadline and a full queue blocks the reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from logway.core.agent import AGENT_HEADER, FILELOG
from topology.forwarder import (
    HEADER,
    LOGIN_HEADER,
    UNCLAIMED_CLIENT_ID,
    UNCLAIMED_TOPIC,
    KafkaLogin,
    routes,
)
from topology.model import Tenant

# The collector must run with this gate on (the chart passes it): the filelog receiver then
# saves a file's position only once its lines are in the sending queue; off (the default), lines
# in its in-memory batch at a kill are skipped on restart. `--feature-gates=` + this.
FEATURE_GATES = "stanza.synchronousLogEmitter"
LOG_DIR = "/var/log/pods"  # the kubelet's files, where it rotates them
STATE_DIR = "/var/lib/logway-agent"  # a hostPath: positions and the sending queue
SECRETS_DIR = "/etc/logway-agent"  # the chart's mounts of Strimzi's Secrets
ROTATED = "????????-??????"  # the kubelet's suffix of a rotated file
STORAGE = "file_storage"
RECEIVER = "file_log"
EXPORTER = "kafka"
UNCLAIMED = "unclaimed"
# A line is at most this share of its topic's record size: the exporter's JSON writes `<`, `>`,
# `&`, control characters and bytes that are not UTF-8 as six bytes each. A longer line goes
# out in several records (the `container` and `recombine` operators flush at the size), never
# refused by Kafka (which the exporter would take as final, and drop the batch).
LINE_SHARE = 6


def _files(log_dir: str, namespace: str) -> list[str]:
    """Every container log file of one namespace (no namespace or pod name holds `_`), and
    those the kubelet rotated (`0.log.<yyyymmdd-hhmmss>`, not yet compressed): the rest of a
    file rotated while the agent was down is read from its saved position (the receiver knows
    a file by its first bytes, not its name)."""
    return [f"{log_dir}/{namespace}_*/*/*.log", f"{log_dir}/{namespace}_*/*/*.log.{ROTATED}"]


def _operators(max_line_bytes: int) -> list[dict[str, Any]]:
    """The line, joined and described: see the module docstring."""
    return [
        *_container_parsers(max_line_bytes),
        _stream_id(),
        {  # CRI pieces are joined by `container`; Docker's (a `log` without "\n") here
            "type": "recombine",
            "if": "attributes.logtag == nil",
            "combine_field": "body",
            "combine_with": "",
            "is_last_entry": 'body endsWith "\\n"',
            "source_identifier": 'attributes["logway.stream"]',
            "max_log_size": max_line_bytes,
        },
        {"type": "regex_replace", "field": "body", "regex": "\\n$", "replace_with": ""},
        {"type": "move", "from": "body", "to": "body.message"},
        {"type": "move", "from": 'attributes["log.iostream"]', "to": "body.stream"},
        {
            "type": "add",
            "field": 'body["@timestamp"]',
            "value": 'EXPR(timestamp.UTC().Format("2006-01-02T15:04:05.000000Z"))',
        },
        {"type": "move", "from": 'attributes["log.file.path"]', "to": "body.source_file"},
        {"type": "move", "from": 'attributes["log.file.record_offset"]', "to": "body.offset"},
        {"type": "remove", "field": 'attributes["logway.stream"]'},
    ]


CRI_LINE = 'attributes["log.iostream"] == nil and not (body startsWith "{")'


def _container_parsers(max_line_bytes: int) -> list[dict[str, Any]]:
    """Docker's lines (JSON) and CRI's, each by a `container` operator of its own. One operator
    that tells the formats apart keeps the time layout of the line it parsed last in a field
    that the receiver's readers (a goroutine per file) write and read at once: with a Docker
    file and a CRI file on one node, a reader read half of each layout ("...05.999Zfailed to
    p"), and its line was refused, then held by `recombine` and lost at a kill (1 line in
    about 5 runs of the killed-agent test, collector 0.165). Each operator here only ever
    writes one layout."""
    common = {"add_metadata_from_filepath": True, "max_log_size": max_line_bytes}
    return [
        {"type": "container", "id": "docker", "format": "docker", "if": 'body startsWith "{"'}
        | common,
        # containerd or CRI-O, told apart by their times; both parsed with the CRI layout. Not
        # a `{` line the `docker` one could not parse: this one would take it for Docker's.
        {"type": "container", "id": "cri", "if": CRI_LINE} | common,
    ]


def _stream_id() -> dict[str, Any]:
    """Docker writes stdout and stderr into one file: pieces are joined per file and stream."""
    return {
        "type": "add",
        "field": 'attributes["logway.stream"]',
        "value": 'EXPR(attributes["log.file.path"] + " " + attributes["log.iostream"])',
    }


def _receiver(include: list[str], exclude: list[str], max_line_bytes: int) -> dict[str, Any]:
    operators = _operators(max_line_bytes)
    receiver: dict[str, Any] = {
        "include": include,
        "start_at": "beginning",
        "poll_interval": "200ms",
        "include_file_path": True,
        "include_file_name": False,
        "include_file_record_offset": True,
        "encoding": "utf-8-raw",
        "preserve_leading_whitespaces": True,
        "preserve_trailing_whitespaces": True,
        "max_log_size": max_line_bytes,
        "storage": STORAGE,
        "operators": operators,
    }
    if exclude:
        receiver["exclude"] = exclude
    return receiver


def _login(login: KafkaLogin, secrets_dir: str) -> dict[str, Any]:
    if login == "scram":
        return {
            "auth": {
                "sasl": {
                    "mechanism": "SCRAM-SHA-512",
                    "username": "${env:KAFKA_USERNAME}",
                    "password": "${env:KAFKA_PASSWORD}",
                }
            },
            "tls": {"ca_file": f"{secrets_dir}/kafka-ca/ca.crt"},
        }
    if login == "tls":
        return {
            "tls": {
                "ca_file": f"{secrets_dir}/kafka-ca/ca.crt",
                "cert_file": f"{secrets_dir}/kafka-user/user.crt",
                "key_file": f"{secrets_dir}/kafka-user/user.key",
            }
        }
    return {}


def _exporter(
    topic: str, client_id: str, login: KafkaLogin, secrets_dir: str, max_record_bytes: int
) -> dict[str, Any]:
    return {
        "brokers": "${env:KAFKA_BROKERS}",
        "client_id": client_id,
        **_login(login, secrets_dir),
        "logs": {"topic": topic, "encoding": "raw"},
        "partition_logs_by_resource_attributes": True,  # one container, one partition: in order
        "record_headers": [{"name": AGENT_HEADER, "value": FILELOG.decode()}],
        "producer": {
            "required_acks": -1,
            "compression": "lz4",
            "max_message_bytes": max_record_bytes,
        },
        "sending_queue": {"storage": STORAGE, "block_on_overflow": True},
        "retry_on_failure": {"max_elapsed_time": 0},  # never give a batch up
    }


def render_otel_collector(
    tenants: Sequence[Tenant],
    login: KafkaLogin = "none",
    *,
    log_dir: str = LOG_DIR,
    state_dir: str = STATE_DIR,
    secrets_dir: str = SECRETS_DIR,
    unclaimed_max_record_bytes: int = 1_000_000,  # under the broker's default message.max.bytes
) -> str:
    """The collector's configuration (YAML). The folders default to the chart's mounts."""
    by_name = {t.name: t for t in tenants}
    receivers: dict[str, Any] = {}
    exporters: dict[str, Any] = {}
    pipelines: dict[str, Any] = {}
    claimed: list[str] = []
    for tenant, topic, namespaces in routes(tenants):
        size = by_name[tenant].topics.max_record_bytes
        include = [glob for ns in namespaces for glob in _files(log_dir, ns)]
        claimed += include
        receivers[f"{RECEIVER}/{tenant}"] = _receiver(include, [], size // LINE_SHARE)
        exporters[f"{EXPORTER}/{tenant}"] = _exporter(topic, tenant, login, secrets_dir, size)
        pipelines[f"logs/{tenant}"] = {
            "receivers": [f"{RECEIVER}/{tenant}"],
            "exporters": [f"{EXPORTER}/{tenant}"],
        }
    size = unclaimed_max_record_bytes
    receivers[f"{RECEIVER}/{UNCLAIMED}"] = _receiver(
        [f"{log_dir}/*/*/*.log", f"{log_dir}/*/*/*.log.{ROTATED}"], claimed, size // LINE_SHARE
    )
    exporters[f"{EXPORTER}/{UNCLAIMED}"] = _exporter(
        UNCLAIMED_TOPIC, UNCLAIMED_CLIENT_ID, login, secrets_dir, size
    )
    pipelines[f"logs/{UNCLAIMED}"] = {
        "receivers": [f"{RECEIVER}/{UNCLAIMED}"],
        "exporters": [f"{EXPORTER}/{UNCLAIMED}"],
    }
    config = {
        "extensions": {STORAGE: {"directory": state_dir, "create_directory": True}},
        "receivers": receivers,
        "exporters": exporters,
        "service": {"extensions": [STORAGE], "pipelines": pipelines},
    }
    header = HEADER.replace("KAFKA_BROKERS", "KAFKA_BROKERS (comma-separated)")
    header += LOGIN_HEADER[login].format(
        ca=f"{secrets_dir}/kafka-ca/ca.crt",
        cert=f"{secrets_dir}/kafka-user/user.crt",
        key=f"{secrets_dir}/kafka-user/user.key",
    )
    header += f"# Reads {log_dir}; keeps file positions and the sending queue in {state_dir}.\n"
    header += (
        f"# Run it with --feature-gates={FEATURE_GATES} (a file's position saved only once\n"
        "# its lines are queued), as the chart does.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False, width=100)

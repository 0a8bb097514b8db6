"""One producer configuration and one group-consumer configuration for every logway client."""

from __future__ import annotations

import re
from pathlib import Path

from connectors.processor.faust_settings import faust_group
from logway.core.kafka import (
    CONSUMER_PRESET,
    HEARTBEAT_INTERVAL_S,
    PRODUCER_PRESET,
    SESSION_TIMEOUT_S,
    KafkaConnection,
)

ROOT = Path(__file__).parents[3]
# Settings that decide delivery, batching or group membership: only the presets set them.
PRESET_KEYS = re.compile(
    r'"(acks|enable\.idempotence|linger\.ms|compression\.type|batch\.size|'
    r"session\.timeout\.ms|heartbeat\.interval\.ms|partition\.assignment\.strategy|"
    r'group\.instance\.id|auto\.offset\.reset|log_level|enable\.auto\.commit)"'
)


def test_the_producer_preset_waits_for_every_replica_and_does_not_linger() -> None:
    config = KafkaConnection().producer()
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert config["linger.ms"] == 0
    assert config["log_level"] == 0
    assert config["bootstrap.servers"] == "127.0.0.1:9092"


def test_a_consumer_with_an_instance_id_is_a_static_member() -> None:
    kafka = KafkaConnection()
    static = kafka.consumer("logway-sink", "sink-0")
    assert static["group.instance.id"] == "sink-0"
    assert static["group.id"] == "logway-sink"
    assert static["enable.auto.commit"] is False
    assert static["partition.assignment.strategy"] == "cooperative-sticky"
    assert "group.instance.id" not in kafka.consumer("logway-sink")


def test_the_processor_joins_its_group_with_the_same_session_as_the_other_workers() -> None:
    settings = faust_group("processor-0")
    assert settings["broker_session_timeout"] * 1000 == CONSUMER_PRESET["session.timeout.ms"]
    assert settings["broker_heartbeat_interval"] == HEARTBEAT_INTERVAL_S
    assert settings["consumer_group_instance_id"] == "processor-0"
    assert HEARTBEAT_INTERVAL_S * 3 <= SESSION_TIMEOUT_S


# The presets, and their spelling for Faust (from them).
PRESETS_SPELLED = {
    ROOT / "logway" / "core" / "kafka.py",
    ROOT / "connectors" / "processor" / "faust_settings.py",
}


def test_no_client_outside_the_presets_sets_delivery_or_membership_itself() -> None:
    offenders = []
    for package in ["connectors", "topology", "streams", "logway"]:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path in PRESETS_SPELLED:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if PRESET_KEYS.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "use KafkaConnection.producer/consumer/admin/reader:\n" + "\n".join(
        offenders
    )
    assert {"acks", "linger.ms"} <= set(PRODUCER_PRESET)


def test_admin_clients_and_readers_are_quiet_and_readers_never_commit() -> None:
    kafka = KafkaConnection()
    assert kafka.admin()["log_level"] == 0
    assert kafka.admin({"error_cb": print})["error_cb"] is print
    reader = kafka.reader("logway-status")
    assert reader["group.id"] == "logway-status"
    assert reader["enable.auto.commit"] is False
    assert reader["enable.partition.eof"] is True
    assert reader["log_level"] == 0

"""The Kafka login settings: read from LOGWAY_KAFKA_*, checked for coherence with errors that
name the variable to fix, and spelled the same way for all three client libraries."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import AuthProtocol

from connectors.processor.faust_settings import faust_credentials
from logway.core.kafka import KafkaConnection, KafkaSettingsError

SCRAM = {
    "LOGWAY_KAFKA_BOOTSTRAP": "kafka-0:9093,kafka-1:9093",
    "LOGWAY_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "LOGWAY_KAFKA_USERNAME": "logway-platform",
    "LOGWAY_KAFKA_PASSWORD": "s3cret",
}


def test_nothing_set_is_plaintext_on_the_default_bootstrap() -> None:
    kafka = KafkaConnection.from_env({})
    assert kafka.client() == {"bootstrap.servers": "127.0.0.1:9092"}
    assert faust_credentials(kafka) is None
    assert kafka.kafka_python() == {
        "bootstrap_servers": ["127.0.0.1:9092"],
        "security_protocol": "PLAINTEXT",
    }


def test_scram_is_spelled_for_each_client_library() -> None:
    kafka = KafkaConnection.from_env(SCRAM)
    assert kafka.client({"acks": "all"}) == {
        "bootstrap.servers": "kafka-0:9093,kafka-1:9093",
        "acks": "all",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "logway-platform",
        "sasl.password": "s3cret",
    }
    credentials = faust_credentials(kafka)
    assert isinstance(credentials, SASLCredentials)
    assert (credentials.username, credentials.password) == ("logway-platform", "s3cret")
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol is AuthProtocol.SASL_PLAINTEXT
    assert kafka.kafka_python()["sasl_plain_password"] == "s3cret"
    assert kafka.kafka_python()["bootstrap_servers"] == ["kafka-0:9093", "kafka-1:9093"]


def test_the_password_never_shows_in_text() -> None:
    kafka = KafkaConnection.from_env(SCRAM)
    assert "s3cret" not in str(kafka)
    assert "s3cret" not in repr(kafka)
    assert str(kafka) == "kafka-0:9093,kafka-1:9093 (SASL_PLAINTEXT as logway-platform)"


def test_the_password_is_read_from_a_mounted_file(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("from-a-secret\n")
    env = {**SCRAM, "LOGWAY_KAFKA_PASSWORD_FILE": str(tmp_path / "password")}
    del env["LOGWAY_KAFKA_PASSWORD"]
    assert KafkaConnection.from_env(env).client()["sasl.password"] == "from-a-secret"


def test_a_child_process_gets_the_same_connection(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    kafka = KafkaConnection.from_env(
        {**SCRAM, "LOGWAY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LOGWAY_KAFKA_CA_FILE": str(ca)}
    )
    assert KafkaConnection.from_env(kafka.environment()) == kafka


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"LOGWAY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            "SASL_SSL needs a username and a password (LOGWAY_KAFKA_USERNAME",
        ),
        (
            {"LOGWAY_KAFKA_USERNAME": "u", "LOGWAY_KAFKA_PASSWORD": "p"},
            "LOGWAY_KAFKA_SECURITY_PROTOCOL is PLAINTEXT; set it to SASL_SSL",
        ),
        (
            {"LOGWAY_KAFKA_SECURITY_PROTOCOL": "TLS"},
            "LOGWAY_KAFKA_SECURITY_PROTOCOL: Input should be 'PLAINTEXT', 'SSL'",
        ),
        (
            {"LOGWAY_KAFKA_SECURITY_PROTOCOL": "SSL", "LOGWAY_KAFKA_CA_FILE": "/no/such/ca.crt"},
            "LOGWAY_KAFKA_CA_FILE: /no/such/ca.crt is not a readable file",
        ),
        (
            {"LOGWAY_KAFKA_CA_FILE": "/etc/hostname"},
            "TLS files are set but LOGWAY_KAFKA_SECURITY_PROTOCOL is PLAINTEXT",
        ),
        (
            {"LOGWAY_KAFKA_SECURITY_PROTOCOL": "SSL", "LOGWAY_KAFKA_CERT_FILE": "/etc/hostname"},
            "a client certificate needs its key",
        ),
        (
            {**SCRAM, "LOGWAY_KAFKA_SASL_MECHANISM": "GSSAPI"},
            "LOGWAY_KAFKA_SASL_MECHANISM: Input should be 'SCRAM-SHA-512'",
        ),
        (
            {**SCRAM, "LOGWAY_KAFKA_PASSWORD_FILE": "/no/such/password"},
            "LOGWAY_KAFKA_PASSWORD_FILE: cannot read /no/such/password",
        ),
    ],
)
def test_incoherent_settings_name_the_variable_to_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(KafkaSettingsError) as caught:
        KafkaConnection.from_env(env)
    assert message in str(caught.value)


def test_tls_builds_a_verifying_context_for_the_python_clients(tmp_path: Path) -> None:
    kafka = KafkaConnection(bootstrap="k:9093", security_protocol="SSL")
    context = kafka.ssl_context()
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    credentials = faust_credentials(kafka)
    assert isinstance(credentials, SSLCredentials)
    assert credentials.context.verify_mode is ssl.CERT_REQUIRED
    assert kafka.kafka_python()["security_protocol"] == "SSL"
    assert KafkaConnection(bootstrap="k:9092").ssl_context() is None

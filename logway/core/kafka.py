"""How a logway process reaches Kafka: the bootstrap servers and, on a secured cluster, its login.

One `KafkaConnection` is read from the environment at start-up (`KafkaConnection.from_env`) and
handed to every client the process makes. Three client libraries talk to Kafka here, each with
its own spelling of the same settings; this module is the only place that knows all three:

- confluent-kafka (librdkafka): producers, consumers and the admin client (`client`);
- aiokafka through Faust: the processor's group membership and fetches (its spelling of these
  settings is `connectors.processor.faust_settings`, the one module outside the processor's
  app that names Faust);
- kafka-python: the client-quota requests `apply` sends (`kafka_python`).

It also holds the client presets: the one producer configuration (`producer`) and the one group
consumer configuration (`consumer`) every
logway client uses, each setting with its reason, so that no worker drifts from the others.

| variable | meaning |
| --- | --- |
| `LOGWAY_KAFKA_BOOTSTRAP` | host:port,... (default `127.0.0.1:9092`) |
| `LOGWAY_KAFKA_SECURITY_PROTOCOL` | `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT`, `SASL_SSL` |
| `LOGWAY_KAFKA_SASL_MECHANISM` | `SCRAM-SHA-512` (default), `SCRAM-SHA-256`, `PLAIN` |
| `LOGWAY_KAFKA_USERNAME` | the SASL user |
| `LOGWAY_KAFKA_PASSWORD_FILE` | a file holding the SASL password (a mounted Secret) |
| `LOGWAY_KAFKA_PASSWORD` | the password itself, when no file is given |
| `LOGWAY_KAFKA_CA_FILE` | PEM of the CA that signed the brokers' certificates |
| `LOGWAY_KAFKA_CERT_FILE`, `LOGWAY_KAFKA_KEY_FILE` | PEM client certificate and key (mTLS) |
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from logway.core.login import check_tls_files, problems

DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
# Producers' own size limit (librdkafka's default is 1,000,000): above every tenant topic's
# max.message.bytes (at most 8 MiB, topics.max_record_bytes), so the topic's limit is the one
# that counts, and the pipeline keeps under it.
PRODUCER_MAX_MESSAGE_BYTES = 8_388_608 + 65_536

# The producer every logway process uses (the gateway, the processor, the sink's dead letters,
# replay, apply's publishing).
PRODUCER_PRESET: Mapping[str, Any] = MappingProxyType(
    {
        # A record counts as written only once every in-sync replica has it: what the gateway
        # acks to a client and what a worker commits past must survive a broker's loss.
        "acks": "all",
        # A retry after a lost ack does not write the record twice, and order per partition
        # holds across retries.
        "enable.idempotence": True,
        "message.max.bytes": PRODUCER_MAX_MESSAGE_BYTES,
        # No linger: a client that waits for each ack (fluent-logger with RequestAck) sends one
        # event at a time, and 5 ms of linger made each ack cost about 7 ms (143 events/s).
        # Under load records still travel in batches: they gather while earlier requests are
        # in flight, and the processor and the sink produce a batch, then flush.
        "linger.ms": 0,
        "batch.size": 1_000_000,
        # Log lines compress 5-10x with lz4 at little CPU; the brokers keep them compressed.
        "compression.type": "lz4",
        # Room for the gateway's many connections' chunks awaiting their acks at once.
        "queue.buffering.max.messages": 500_000,
        # librdkafka would log every failed connection attempt; a failed delivery is the
        # producer's caller's to report, once.
        "log_level": 0,
    }
)

# Admin clients: their requests fail with the reason, which the caller reports once.
ADMIN_PRESET: Mapping[str, Any] = MappingProxyType({"log_level": 0})

# Consumers that only read or look (control topics, status, lag, dead letters): they name a
# group because the client requires one, never join it, never commit, and know when they have
# read a partition to its end.
READER_PRESET: Mapping[str, Any] = MappingProxyType(
    {"enable.auto.commit": False, "enable.partition.eof": True, "log_level": 0}
)

# Group membership of every worker that shares partitions (processor, sink, notifier).
# A worker that dies is noticed after SESSION_TIMEOUT_S; one restarted in place with the same
# instance id (static membership, `group.instance.id`) takes back its partitions at once.
SESSION_TIMEOUT_S = 10.0
# A third of the session: two heartbeats may be lost before the member is. Both clients send
# heartbeats apart from record handling (librdkafka from its own thread, aiokafka from its own
# task), so a long batch does not cost a worker its partitions.
HEARTBEAT_INTERVAL_S = 3.0
INSTANCE_ID = r"^[A-Za-z0-9._-]{1,200}$"

CONSUMER_PREFETCH_KIB = 16 * 1024
# A fetch waits up to FETCH_MAX_WAIT_MS for FETCH_MIN_BYTES instead of returning the first
# byte: over 1,000 tenants' partitions, answering many tiny fetches cost the workers and Kafka
# more than the records did (halved the workers' CPU per line in bench.tenants). Light traffic
# waits at most FETCH_MAX_WAIT_MS per hop; an idle worker fetches four times a second (100 ms
# made idle workers at 1,000 tenants cost the processor 0.15 and the broker 0.27 of a core).
# Both clients: librdkafka here, the processor's aiokafka in its transport.
FETCH_MIN_BYTES = 256 * 1024
FETCH_MAX_WAIT_MS = 250
CONSUMER_PRESET: Mapping[str, Any] = MappingProxyType(
    {
        # Offsets are committed by the worker after the work is safe (indexed, produced or
        # dead-lettered), never on a timer.
        "enable.auto.commit": False,
        # A group new to a topic starts at its beginning: records produced before a worker
        # first joined are not skipped.
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "session.timeout.ms": int(SESSION_TIMEOUT_S * 1000),
        "heartbeat.interval.ms": int(HEARTBEAT_INTERVAL_S * 1000),
        # A member joining or leaving moves only the partitions that change owner; the others
        # keep flowing through the rebalance (incremental, cooperative).
        "partition.assignment.strategy": "cooperative-sticky",
        # What librdkafka fetches ahead of the worker, over all its partitions: 64 MiB by
        # default, which a worker behind a backlog (a sink after an outage) holds on top of
        # its own batches. 16 MiB is still seconds of a sink's input, and bounds its memory.
        "queued.max.messages.kbytes": CONSUMER_PREFETCH_KIB,
        "fetch.min.bytes": FETCH_MIN_BYTES,
        "fetch.wait.max.ms": FETCH_MAX_WAIT_MS,
        # A partition whose read-ahead is full waits this long before its next fetch: 1 s by
        # default, which would leave a sink faster than 16 MiB a second idle part of it.
        "fetch.queue.backoff.ms": 100,
    }
)

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

ENVIRONMENT = {
    "bootstrap": "LOGWAY_KAFKA_BOOTSTRAP",
    "security_protocol": "LOGWAY_KAFKA_SECURITY_PROTOCOL",
    "sasl_mechanism": "LOGWAY_KAFKA_SASL_MECHANISM",
    "username": "LOGWAY_KAFKA_USERNAME",
    "password": "LOGWAY_KAFKA_PASSWORD",
    "ca_file": "LOGWAY_KAFKA_CA_FILE",
    "cert_file": "LOGWAY_KAFKA_CERT_FILE",
    "key_file": "LOGWAY_KAFKA_KEY_FILE",
}
PASSWORD_FILE = "LOGWAY_KAFKA_PASSWORD_FILE"  # noqa: S105 (a variable's name, not a password)


class KafkaSettingsError(ValueError):
    """The Kafka settings in the environment are incomplete or contradict each other."""


@dataclass(frozen=True)
class KafkaProblem:
    """Why Kafka did not answer. `refused`: it answered but would not let us in (a login or a
    certificate): waiting will not help, the settings must change."""

    message: str
    refused: bool

    def __str__(self) -> str:
        return self.message


class KafkaConnection(BaseModel):
    """The Kafka cluster one process talks to, and how it proves who it is.

    Contract: `client`, `kafka_python` and the processor's `faust_credentials` describe the
    same login, so
    every client of a process connects as the same principal with the same trust.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap: str = Field(
        DEFAULT_KAFKA_BOOTSTRAP,
        min_length=1,
        description="Kafka bootstrap servers, comma-separated host:port.",
        examples=["127.0.0.1:9092", "logway-kafka-bootstrap.kafka:9093"],
    )
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = Field(None, description="PEM CA bundle that signed the brokers.")
    cert_file: Path | None = Field(None, description="PEM client certificate (mTLS).")
    key_file: Path | None = Field(None, description="PEM key of the client certificate.")

    @model_validator(mode="after")
    def _coherent(self) -> KafkaConnection:
        sasl = self.security_protocol.startswith("SASL_")
        tls = self.security_protocol.endswith("SSL")
        if sasl and not (self.username and self.password):
            raise ValueError(
                f"{self.security_protocol} needs a username and a password "
                f"({ENVIRONMENT['username']} and {PASSWORD_FILE} or {ENVIRONMENT['password']})"
            )
        if not sasl and (self.username or self.password):
            raise ValueError(
                f"a username or password is set but {ENVIRONMENT['security_protocol']} is "
                f"{self.security_protocol}; set it to SASL_SSL or SASL_PLAINTEXT"
            )
        if not tls and (self.ca_file or self.cert_file or self.key_file):
            raise ValueError(
                f"TLS files are set but {ENVIRONMENT['security_protocol']} is "
                f"{self.security_protocol}; set it to SSL or SASL_SSL"
            )
        files = {"ca_file": self.ca_file, "cert_file": self.cert_file, "key_file": self.key_file}
        check_tls_files(files, ENVIRONMENT)
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaConnection:
        """Read the `LOGWAY_KAFKA_*` variables; raise `KafkaSettingsError` naming what to fix."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            field: env[variable] for field, variable in ENVIRONMENT.items() if env.get(variable)
        }
        if env.get(PASSWORD_FILE):
            path = Path(env[PASSWORD_FILE])
            try:
                values["password"] = path.read_text().rstrip("\r\n")
            except OSError as exc:
                raise KafkaSettingsError(
                    f"{PASSWORD_FILE}: cannot read {path}: {exc.strerror}"
                ) from exc
        try:
            return cls(**values)
        except ValidationError as exc:
            raise KafkaSettingsError(problems(exc, ENVIRONMENT)) from None

    @property
    def secured(self) -> bool:
        return self.security_protocol != "PLAINTEXT"

    def __str__(self) -> str:
        login = f" as {self.username}" if self.username else ""
        return f"{self.bootstrap} ({self.security_protocol}{login})"

    def environment(self) -> dict[str, str]:
        """The `LOGWAY_KAFKA_*` variables that make a child process connect the same way
        (`from_env` reads them back). The password is passed by value."""
        env: dict[str, str] = {}
        for field, variable in ENVIRONMENT.items():
            value = getattr(self, field)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is not None:
                env[variable] = str(value)
        return env

    def client(self, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A confluent-kafka configuration: `settings` plus the servers and the login."""
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap, **(settings or {})}
        if not self.secured:
            return config
        config["security.protocol"] = self.security_protocol
        if self.username and self.password:
            config["sasl.mechanisms"] = self.sasl_mechanism
            config["sasl.username"] = self.username
            config["sasl.password"] = self.password.get_secret_value()
        if self.ca_file:
            config["ssl.ca.location"] = str(self.ca_file)
        if self.cert_file and self.key_file:
            config["ssl.certificate.location"] = str(self.cert_file)
            config["ssl.key.location"] = str(self.key_file)
        return config

    def admin(self, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The admin preset (`ADMIN_PRESET`), with `settings` on top."""
        return self.client({**ADMIN_PRESET, **(settings or {})})

    def reader(self, group: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The reader preset (`READER_PRESET`) under the group name `group` (never joined)."""
        return self.client({**READER_PRESET, "group.id": group, **(settings or {})})

    def producer(self, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The producer preset (`PRODUCER_PRESET`), with `settings` on top (logging only)."""
        return self.client({**PRODUCER_PRESET, **(settings or {})})

    def consumer(
        self,
        group: str,
        instance_id: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The group-consumer preset (`CONSUMER_PRESET`) for `group`; with `instance_id`, a
        static member of it (see `SESSION_TIMEOUT_S`)."""
        config = {**CONSUMER_PRESET, "group.id": group, **(settings or {})}
        if instance_id:
            config["group.instance.id"] = instance_id
        return self.client(config)

    def diagnose(self, timeout_s: float = 5.0) -> KafkaProblem | None:
        """Connect once: None when Kafka answers, else why not, in the most specific words
        librdkafka has (a refused login or certificate, not its generic transport failure),
        with the setting to look at."""
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient

        errors: list[Any] = []
        admin = AdminClient(self.admin({"error_cb": errors.append}))
        try:
            admin.list_topics(timeout=timeout_s)
            return None
        except KafkaException as exc:
            admin.poll(0.5)  # error_cb is only served by poll
            failure = exc.args[0]
        hints = {
            KafkaError._AUTHENTICATION: f"check {ENVIRONMENT['username']} and the password",
            KafkaError._SSL: f"check {ENVIRONMENT['ca_file']} and the bootstrap host names",
        }
        for error in errors:
            if error.code() in hints:
                return KafkaProblem(f"{error.str()}; {hints[error.code()]}", refused=True)
        specific = [e for e in errors if e.code() != KafkaError._ALL_BROKERS_DOWN]
        return KafkaProblem(str((specific[0] if specific else failure).str()), refused=False)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of the Python clients (aiokafka, kafka-python); None without TLS."""
        if not self.security_protocol.endswith("SSL"):
            return None
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file and self.key_file:
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def kafka_python(self) -> dict[str, Any]:
        """kafka-python client keyword arguments for the servers and the login."""
        config: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.username and self.password:
            config["sasl_mechanism"] = self.sasl_mechanism
            config["sasl_plain_username"] = self.username
            config["sasl_plain_password"] = self.password.get_secret_value()
        context = self.ssl_context()
        if context is not None:
            config["ssl_context"] = context
        return config

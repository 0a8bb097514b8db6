"""The dev Kafka: KRaft brokers with plain, SCRAM and SCRAM-over-TLS listeners."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import uuid
from base64 import urlsafe_b64encode
from importlib import resources
from pathlib import Path

from pydantic import SecretStr

from logway.core.kafka import KafkaConnection
from logway.dev.config import NODE_PORT_STEP, PLATFORM_USER, DevConfig, DevError, Say
from logway.dev.fetch import require_java, require_tool, run_maven
from logway.dev.process import Server, port_in_use
from logway.dev.tls import dev_ca, issue_certificate


class Kafka(Server):
    """Apache Kafka in KRaft mode, each node broker and controller in one JVM: one node, or
    node `node` (from 0) of `kafka_brokers`, on the ports shifted by NODE_PORT_STEP * node."""

    name = "kafka"

    def __init__(self, config: DevConfig, node: int = 0) -> None:
        self.node = node
        if node:
            self.name = f"kafka-{node + 1}"
        super().__init__(config)
        self.first_dir = config.home / "run" / Kafka.name  # the node that keeps shared files

    @property
    def dist(self) -> Path:
        return self.config.dist / f"kafka-{self.config.kafka_version}"

    def _port(self, base: int) -> int:
        return base + NODE_PORT_STEP * self.node

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        return self._port(self.config.kafka_port)

    @property
    def ports(self) -> tuple[int, ...]:
        c = self.config
        return tuple(
            self._port(p)
            for p in (c.kafka_port, c.kafka_controller_port, c.kafka_sasl_port, c.kafka_tls_port)
        )

    @property
    def tls_dir(self) -> Path:
        return self.first_dir / "tls"

    @property
    def ca_file(self) -> Path:
        """The PEM certificate of the dev CA that signed the broker's TLS certificate."""
        return self.tls_dir / "ca.crt"

    @property
    def platform_password_file(self) -> Path:
        return self.first_dir / "platform.password"

    def platform_connection(self) -> KafkaConnection:
        """How logway's own workers log in on a secured cluster: SCRAM over TLS as the platform
        user, a super user like the operator-created user of a Strimzi cluster."""
        return KafkaConnection(
            bootstrap=self.config.kafka_tls_bootstrap,
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            username=PLATFORM_USER,
            password=SecretStr(self.platform_password_file.read_text().strip()),
            ca_file=self.ca_file,
        )

    def ready(self, say: Say) -> None:
        """Give the platform user its SCRAM credential (again: idempotent, and cheap)."""
        from confluent_kafka.admin import (
            AdminClient,
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialUpsertion,
        )

        if self.node:  # SCRAM credentials are the cluster's: the first node gave them
            return
        if not self.platform_password_file.exists():
            self.platform_password_file.write_text(secrets.token_urlsafe(24) + "\n")
            self.platform_password_file.chmod(0o600)
        password = self.platform_password_file.read_text().strip().encode()
        admin = AdminClient(KafkaConnection(bootstrap=self.address).admin())
        upsert = UserScramCredentialUpsertion(
            PLATFORM_USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password
        )
        for future in admin.alter_user_scram_credentials([upsert], request_timeout=30).values():
            future.result()

    def _write_certificates(self) -> None:
        """A dev CA and a broker certificate for 127.0.0.1/localhost, made once with openssl."""
        if self.ca_file.exists() and (self.tls_dir / "broker.pem").exists():
            return
        d = self.tls_dir
        d.mkdir(parents=True, exist_ok=True)
        dev_ca(d)
        issue_certificate(d, "broker")
        # Kafka's PEM key store: the unencrypted PKCS#8 key, then the certificate chain.
        (d / "broker.pem").write_text(
            (d / "broker.key").read_text()
            + (d / "broker.crt").read_text()
            + self.ca_file.read_text()
        )

    @property
    def properties(self) -> Path:
        return self.run_dir / "server.properties"

    @property
    def marker(self) -> str:
        return str(self.properties)

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "kafka.log"

    def fetch(self, say: Say) -> None:
        done = self.dist / ".complete"
        if done.exists():
            return
        mvn = require_tool("mvn", "Maven fetches Kafka from Maven Central: apt-get install maven")
        say(f"kafka: fetching Apache Kafka {self.config.kafka_version} with Maven")
        self.dist.mkdir(parents=True, exist_ok=True)
        pom = self.dist / "pom.xml"
        pom.write_bytes(resources.files("logway.dev").joinpath("kafka-pom.xml").read_bytes())
        libs = self.dist / "libs"
        shutil.rmtree(libs, ignore_errors=True)
        run_maven(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-Dkafka.version={self.config.kafka_version}",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            f"Apache Kafka {self.config.kafka_version}",
        )
        done.touch()

    def _write_config(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        c = self.config
        plain, controller, sasl, tls = self.ports
        voters = ",".join(
            f"{n + 1}@127.0.0.1:{c.kafka_controller_port + NODE_PORT_STEP * n}"
            for n in range(c.kafka_brokers)
        )
        replicas = min(3, c.kafka_brokers)
        insync = 2 if replicas == 3 else 1
        self.properties.write_text(
            "\n".join(
                [
                    "# Written by `logway dev up`; edits are overwritten.",
                    "process.roles=broker,controller",
                    f"node.id={self.node + 1}",
                    f"controller.quorum.voters={voters}",
                    f"listeners=PLAINTEXT://127.0.0.1:{plain},"
                    f"CONTROLLER://127.0.0.1:{controller},"
                    f"SASL_PLAINTEXT://127.0.0.1:{sasl},"
                    f"SASL_SSL://127.0.0.1:{tls}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{plain},"
                    f"SASL_PLAINTEXT://127.0.0.1:{sasl},"
                    f"SASL_SSL://127.0.0.1:{tls}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
                    "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
                    "inter.broker.listener.name=PLAINTEXT",
                    # Tenants' producers log in with SCRAM on the SASL listener and are held to
                    # the ACLs `logway apply` grants; the plain listener (loopback only) is the
                    # platform's own, its anonymous principal a super user.
                    "sasl.enabled.mechanisms=SCRAM-SHA-512",
                    "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                    "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                    "listener.name.sasl_ssl.ssl.keystore.type=PEM",
                    f"listener.name.sasl_ssl.ssl.keystore.location={self.tls_dir / 'broker.pem'}",
                    # The TLS listener is how production clusters are reached; logway's own
                    # workers log in there as the platform user, a super user as on Strimzi.
                    f"super.users=User:ANONYMOUS;User:{PLATFORM_USER}",
                    "allow.everyone.if.no.acl.found=false",
                    f"log.dirs={self.data_dir}",
                    "num.partitions=1",
                    # One node: 1. Three, as in production: every partition on all three, a
                    # write acknowledged by two (acks=all), so one node may go at any time.
                    f"default.replication.factor={replicas}",
                    f"min.insync.replicas={insync}",
                    f"offsets.topic.replication.factor={replicas}",
                    f"transaction.state.log.replication.factor={replicas}",
                    f"transaction.state.log.min.isr={insync}",
                    "group.initial.rebalance.delay.ms=0",
                    # Topics are created by `logway apply`, never by a typo in a producer.
                    "auto.create.topics.enable=false",
                    "",
                ]
            )
        )
        (self.run_dir / "log4j2.properties").write_text(
            "\n".join(
                [
                    "rootLogger.level=INFO",
                    "rootLogger.appenderRef.stdout.ref=STDOUT",
                    "appender.stdout.type=Console",
                    "appender.stdout.name=STDOUT",
                    "appender.stdout.layout.type=PatternLayout",
                    "appender.stdout.layout.pattern=[%d] %p %m (%c)%n",
                    "logger.kafka.name=kafka",
                    "logger.kafka.level=WARN",
                    "logger.apache.name=org.apache.kafka",
                    "logger.apache.level=WARN",
                    "",
                ]
            )
        )

    def _java(self) -> list[str]:
        java = require_java(17, "LOGWAY_KAFKA_JAVA_HOME", "Kafka 4 needs Java 17 or newer")
        return [
            java,
            f"-Xms{self.config.kafka_heap}",
            f"-Xmx{self.config.kafka_heap}",
            "-XX:+UseG1GC",
            "-cp",
            str(self.dist / "libs" / "*"),
            f"-Dlog4j2.configurationFile={self.run_dir / 'log4j2.properties'}",
        ]

    def _cluster_id(self) -> str:
        """One id for every node of the cluster, kept beside the first node's files."""
        if self.config.kafka_brokers == 1:
            return kafka_cluster_id()
        kept = self.first_dir / "cluster.id"
        if not kept.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(kafka_cluster_id())
        return kept.read_text().strip()

    def launch(self) -> subprocess.Popen[bytes]:
        self._write_certificates()
        self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            cluster_id = self._cluster_id()
            result = subprocess.run(
                [
                    *self._java(),
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(self.properties),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise DevError(
                    f"formatting Kafka's storage failed:\n{result.stdout}{result.stderr}"
                )
        log = self.log_file.open("ab")
        return subprocess.Popen(
            [*self._java(), "kafka.Kafka", str(self.properties)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def answers(self) -> bool:
        if not port_in_use(self.port):
            return False
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(KafkaConnection(bootstrap=self.address).admin())
        try:
            metadata = admin.list_topics(timeout=2)
        except Exception:
            return False
        return bool(metadata.brokers)


def kafka_cluster_id() -> str:
    """A new KRaft cluster id: 16 random bytes in URL-safe base64, unpadded, as Kafka's own
    `Uuid.randomUuid()` makes them, and like it never starting with `-`, which the storage
    tool's argument parser would read as an option (1 id in 64 would fail the format)."""
    while True:
        cluster_id = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id

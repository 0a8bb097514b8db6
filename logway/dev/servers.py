"""Fetch, start, watch and stop a single-node Kafka (KRaft) and Elasticsearch on loopback.

Both come from Maven Central through `mvn` and are kept under `$LOGWAY_HOME/dist` (default
`.logway/dist`, ignored by git); a second `up` reuses them and starts in seconds. Data and logs
live under `$LOGWAY_HOME/run`. `down` stops exactly the processes `up` started: each has a pid
file, and a pid is only signalled if its command line still names our config.

Elasticsearch refuses to run as root; when we are root it runs as `nobody` (via `setpriv`) from
a folder under /var/tmp that `nobody` can reach, whatever the checkout's permissions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from base64 import urlsafe_b64encode
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from logway.core.elastic import ElasticConnection
from logway.core.kafka import KafkaConnection
from logway.core.settings import Endpoints
from logway.dev.es_plugin import PLUGIN, PluginBuildError, install_analysis_plugin

KAFKA_VERSION = "4.0.2"
# The newest 9.x integ-test distribution served on Maven Central when this was written; 9.3+
# are not published there. The Python client is pinned to the same major.minor (9.2).
ES_VERSION = "9.2.0"
ES_ARTIFACT = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"
PLATFORM_USER = "logway-platform"
NOBODY_UID = 65534
NOBODY_GID = 65534

Say = Callable[[str], None]


class DevError(RuntimeError):
    """Something the person running `logway dev` must fix; the message says what to do."""


NODE_PORT_STEP = 100  # a cluster's node n (from 0) listens on each port + this * n


class DevConfig(BaseModel):
    """Where the embedded servers live and listen. Every field has a LOGWAY_DEV_* variable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Field(Path(".logway"), description="State folder: data, logs (LOGWAY_HOME).")
    dist: Path = Field(
        Path(".logway/dist"),
        description="Fetched server distributions (LOGWAY_DIST, default $LOGWAY_HOME/dist).",
    )
    kafka_version: str = KAFKA_VERSION
    es_version: str = ES_VERSION
    kafka_port: int = Field(9092, ge=1, le=65535)
    kafka_controller_port: int = Field(9093, ge=1, le=65535)
    kafka_sasl_port: int = Field(
        9094, ge=1, le=65535, description="SASL/SCRAM listener, for tenants' own producers."
    )
    kafka_tls_port: int = Field(
        9095,
        ge=1,
        le=65535,
        description="SASL/SCRAM over TLS: how a production cluster is reached; the platform's "
        "own user (logway-platform) and tenants log in here.",
    )
    es_port: int = Field(9200, ge=1, le=65535)
    es_transport_port: int = Field(9300, ge=1, le=65535)
    etcd_port: int = Field(12379, ge=1, le=65535, description="etcd, for kube-apiserver.")
    etcd_peer_port: int = Field(12380, ge=1, le=65535)
    kube_port: int = Field(16443, ge=1, le=65535, description="kube-apiserver (HTTPS).")
    kafka_brokers: int = Field(
        1,
        ge=1,
        le=3,
        description="Kafka brokers (LOGWAY_DEV_KAFKA_BROKERS): 1, or 3 for a cluster shaped like "
        "production (replication 3, min.insync.replicas 2, each node broker and controller); "
        f"node n listens on each port + {NODE_PORT_STEP} * (n - 1).",
    )
    kafka_heap: str = "1g"
    es_heap: str = "1g"
    start_timeout_s: float = 120.0

    @classmethod
    def from_env(cls) -> DevConfig:
        env = os.environ
        home = Path(env.get("LOGWAY_HOME", ".logway")).absolute()
        fields: dict[str, object] = {
            "home": home,
            "dist": Path(env.get("LOGWAY_DIST", home / "dist")).absolute(),
        }
        for name in (
            "kafka_port",
            "kafka_controller_port",
            "kafka_sasl_port",
            "kafka_tls_port",
            "es_port",
            "es_transport_port",
            "etcd_port",
            "etcd_peer_port",
            "kube_port",
            "kafka_brokers",
        ):
            value = env.get(f"LOGWAY_DEV_{name.upper()}")
            if value:
                fields[name] = int(value)
        for name in ("kafka_version", "es_version", "kafka_heap", "es_heap"):
            value = env.get(f"LOGWAY_DEV_{name.upper()}")
            if value:
                fields[name] = value
        return cls.model_validate(fields)

    def _every_node(self, port: int) -> str:
        return ",".join(
            f"127.0.0.1:{port + NODE_PORT_STEP * node}" for node in range(self.kafka_brokers)
        )

    @property
    def kafka_bootstrap(self) -> str:
        return self._every_node(self.kafka_port)

    @property
    def kafka_sasl_bootstrap(self) -> str:
        return self._every_node(self.kafka_sasl_port)

    @property
    def kafka_tls_bootstrap(self) -> str:
        return self._every_node(self.kafka_tls_port)

    @property
    def es_url(self) -> str:
        return f"https://127.0.0.1:{self.es_port}"


@dataclass(frozen=True)
class ServerStatus:
    name: str
    running: bool
    answering: bool
    pid: int | None
    address: str
    data: Path
    log: Path

    def describe(self) -> str:
        if not self.running:
            return f"{self.name}: stopped ({self.address} not started by logway dev)"
        state = "up" if self.answering else "running, not answering yet"
        return f"{self.name}: {state} at {self.address} (pid {self.pid}); log {self.log}"


def running_as_root() -> bool:
    return os.geteuid() == 0


class Server:
    """One server process with a pid file."""

    name = ""

    def __init__(self, config: DevConfig) -> None:
        self.config = config
        self.run_dir = config.home / "run" / self.name
        self.pid_file = self.run_dir / "pid.json"
        self.process: subprocess.Popen[bytes] | None = None  # when started by this process

    # -- to be provided by each server --
    @property
    def address(self) -> str:
        raise NotImplementedError

    @property
    def port(self) -> int:
        """The port that answers when the server is up."""
        raise NotImplementedError

    @property
    def ports(self) -> tuple[int, ...]:
        """Every port the server listens on."""
        raise NotImplementedError

    @property
    def marker(self) -> str:
        """A string our process's command line contains, so a reused pid is never signalled."""
        raise NotImplementedError

    @property
    def data_dir(self) -> Path:
        raise NotImplementedError

    @property
    def log_file(self) -> Path:
        raise NotImplementedError

    def fetch(self, say: Say) -> None:
        raise NotImplementedError

    def launch(self) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    def ready(self, say: Say) -> None:
        """What the server needs once it answers, before anyone uses it (nothing by default)."""

    # -- shared --
    def pid(self) -> int | None:
        """The pid of our running server, or None (a stale pid file is removed)."""
        try:
            pid = int(json.loads(self.pid_file.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None
        if self.marker in _cmdline(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def status(self) -> ServerStatus:
        pid = self.pid()
        return ServerStatus(
            self.name,
            pid is not None,
            pid is not None and self.answers(),
            pid,
            self.address,
            self.data_dir,
            self.log_file,
        )

    def start(self, say: Say) -> bool:
        """Start the server unless ours already runs; True if this call started it."""
        if self.pid() is not None:
            say(f"{self.name}: already running at {self.address}")
            return False
        for port in self.ports:
            if port_in_use(port):
                raise DevError(
                    f"port {port} for {self.name} is in use by a process logway dev did not "
                    f"start; stop it, or pick another port (see `logway dev up --help`)"
                )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.process = self.launch()
        self.pid_file.write_text(json.dumps({"pid": self.process.pid, "started": time.time()}))
        return True

    def wait_until_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise DevError(
                    f"{self.name} exited during start-up; the end of {self.log_file}:\n"
                    + tail(self.log_file)
                )
            if self.answers():
                return
            time.sleep(0.5)
        raise DevError(
            f"{self.name} did not answer at {self.address} within {timeout:.0f}s; "
            f"the end of {self.log_file}:\n" + tail(self.log_file)
        )

    def stop(self, timeout: float = 30.0, *, hard: bool = False) -> bool:
        """Stop our server: SIGTERM to its process group, SIGKILL after `timeout`; with `hard`,
        SIGKILL at once (the fault tests' crash)."""
        pid = self.process.pid if self.process is not None else self.pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGKILL if hard else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._running(pid):
            time.sleep(0.2)
        if self._running(pid):
            _signal_group(pid, signal.SIGKILL)
            if self.process is not None:
                self.process.wait(10)
        self.process = None
        self.pid_file.unlink(missing_ok=True)
        return True

    def _running(self, pid: int) -> bool:
        if self.process is not None:
            return self.process.poll() is None  # also reaps it
        return _alive(pid)


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
        admin = AdminClient({"bootstrap.servers": self.address, "log_level": 0})
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

        admin = AdminClient({"bootstrap.servers": self.address, "log_level": 0})
        try:
            metadata = admin.list_topics(timeout=2)
        except Exception:
            return False
        return bool(metadata.brokers)


class Elasticsearch(Server):
    """Elasticsearch from the integ-test distribution, single node on loopback, with security
    and TLS on as ECK runs it: HTTPS with a certificate of the dev CA, and a file-realm super
    user for the platform (`logway-platform`, its password in `platform.password`)."""

    name = "elasticsearch"

    @property
    def base(self) -> Path:
        """Where the distribution is unpacked: readable by the user ES runs as."""
        if running_as_root():
            return _reachable_by_nobody("dist", self.config.dist)
        return self.config.dist

    @property
    def es_home(self) -> Path:
        return self.base / f"elasticsearch-{self.config.es_version}"

    @property
    def es_run(self) -> Path:
        return _reachable_by_nobody("run", self.config.home) if running_as_root() else self.run_dir

    @property
    def address(self) -> str:
        return self.config.es_url

    @property
    def port(self) -> int:
        return self.config.es_port

    @property
    def ports(self) -> tuple[int, ...]:
        return self.config.es_port, self.config.es_transport_port

    @property
    def marker(self) -> str:
        # setpriv, then bin/elasticsearch, then the launcher JVM: all name the ES home.
        return str(self.es_home)

    @property
    def data_dir(self) -> Path:
        return self.es_run / "data"

    @property
    def log_file(self) -> Path:
        return self.es_run / "logs" / "stdout.log"

    def fetch(self, say: Say) -> None:
        done = self.es_home / ".complete"
        if not done.exists():
            self._unpack(say)
            done.touch()
        java_home = find_java_home(21, "LOGWAY_ES_JAVA_HOME", "Elasticsearch 9 needs Java 21+")
        try:
            if install_analysis_plugin(self.es_home, self.config.es_version, java_home):
                say(f"elasticsearch: built the {PLUGIN} plugin (the security index needs it)")
        except PluginBuildError as error:
            raise DevError(f"elasticsearch: {error}") from error

    def _unpack(self, say: Say) -> None:
        mvn = require_tool(
            "mvn", "Maven fetches Elasticsearch from Maven Central: apt-get install maven"
        )
        version = self.config.es_version
        zips = self.config.dist / "zips"
        zips.mkdir(parents=True, exist_ok=True)
        archive = zips / f"elasticsearch-{version}.zip"
        if not archive.exists():
            say(f"elasticsearch: fetching Elasticsearch {version} (integ-test zip) with Maven")
            run_maven(
                [
                    mvn,
                    "-q",
                    "-B",
                    "dependency:copy",
                    f"-Dartifact={ES_ARTIFACT.format(version=version)}",
                    f"-DoutputDirectory={zips}",
                ],
                f"Elasticsearch {version}",
            )
        say(f"elasticsearch: unpacking into {self.base}")
        shutil.rmtree(self.es_home, ignore_errors=True)
        self.base.mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o755)
        unzip_keeping_modes(archive, self.base)

    @property
    def ca_file(self) -> Path:
        """The dev CA, the same one that signed Kafka's TLS listener."""
        return Kafka(self.config).ca_file

    @property
    def platform_password_file(self) -> Path:
        return self.run_dir / "platform.password"

    def platform_connection(self) -> ElasticConnection:
        """How logway's processes log in: the platform's super user over HTTPS, trusting the
        dev CA, as they would log in to an ECK cluster as its `elastic` user."""
        return ElasticConnection(
            url=self.config.es_url,
            username=PLATFORM_USER,
            password=SecretStr(self.platform_password_file.read_text().strip()),
            ca_file=self.ca_file.absolute(),
        )

    def _write_certificates(self, conf: Path) -> None:
        """The HTTP certificate, issued by the dev CA once, copied where ES reads it."""
        tls = self.ca_file.parent
        dev_ca(tls)
        if not (tls / "elasticsearch.crt").exists():
            issue_certificate(tls, "elasticsearch")
        (conf / "tls").mkdir(exist_ok=True)
        for source, target in [("ca.crt", "ca.crt"), ("elasticsearch.crt", "http.crt")]:
            shutil.copyfile(tls / source, conf / "tls" / target)
        shutil.copyfile(tls / "elasticsearch.key", conf / "tls" / "http.key")

    def _write_platform_user(self, conf: Path, env: dict[str, str]) -> None:
        """The platform's super user in the file realm, made once with elasticsearch-users."""
        if not self.platform_password_file.exists():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.platform_password_file.write_text(secrets.token_urlsafe(24) + "\n")
            self.platform_password_file.chmod(0o600)
        users = conf / "users"
        if users.exists() and any(
            line.startswith(f"{PLATFORM_USER}:") for line in users.read_text().splitlines()
        ):
            return
        password = self.platform_password_file.read_text().strip()
        tool = self.es_home / "bin" / "elasticsearch-users"
        result = subprocess.run(
            [str(tool), "useradd", PLATFORM_USER, "-p", password, "-r", "superuser"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise DevError(f"elasticsearch-users useradd failed: {result.stdout}{result.stderr}")

    def _forget_an_earlier_checkout(self) -> None:
        """Start from nothing when this checkout has no platform password yet. Run as root, ES
        keeps its state under /var/tmp, named after the checkout's path; a new checkout at the
        same path (CI's) would otherwise find the last one's users file, data and security
        index there, and its new password would be refused."""
        if self.es_run != self.run_dir and not self.platform_password_file.exists():
            shutil.rmtree(self.es_run, ignore_errors=True)

    def _write_config(self, env: dict[str, str]) -> Path:
        conf = self.es_run / "config"
        for sub in ("data", "logs", "tmp"):
            (self.es_run / sub).mkdir(parents=True, exist_ok=True)
        if not (conf / "jvm.options").exists():
            shutil.copytree(self.es_home / "config", conf, dirs_exist_ok=True)
        self._write_certificates(conf)
        self._write_platform_user(conf, env)
        c = self.config
        (conf / "elasticsearch.yml").write_text(
            "\n".join(
                [
                    "# Written by `logway dev up`; edits are overwritten.",
                    "cluster.name: logway-dev",
                    "node.name: logway-dev-1",
                    "discovery.type: single-node",
                    "network.host: 127.0.0.1",
                    f"http.port: {c.es_port}",
                    f"transport.port: {c.es_transport_port}",
                    f"path.data: {self.data_dir}",
                    f"path.logs: {self.es_run / 'logs'}",
                    "xpack.security.enabled: true",
                    "xpack.security.http.ssl.enabled: true",
                    "xpack.security.http.ssl.certificate: tls/http.crt",
                    "xpack.security.http.ssl.key: tls/http.key",
                    "xpack.security.http.ssl.certificate_authorities: [tls/ca.crt]",
                    # One node on loopback: nothing travels between nodes to protect.
                    "xpack.security.transport.ssl.enabled: false",
                    # A dev box's disk fills for other reasons; don't turn indices read-only.
                    "cluster.routing.allocation.disk.threshold_enabled: false",
                    "",
                ]
            )
        )
        (conf / "jvm.options.d").mkdir(exist_ok=True)
        (conf / "jvm.options.d" / "heap.options").write_text(f"-Xms{c.es_heap}\n-Xmx{c.es_heap}\n")
        if running_as_root():
            for path in [self.es_run, *self.es_run.rglob("*")]:
                os.chown(path, NOBODY_UID, NOBODY_GID)
        return conf

    def launch(self) -> subprocess.Popen[bytes]:
        java_home = find_java_home(21, "LOGWAY_ES_JAVA_HOME", "Elasticsearch 9 needs Java 21+")
        conf = self.es_run / "config"
        env = {
            **os.environ,
            "ES_JAVA_HOME": str(java_home),
            "ES_PATH_CONF": str(conf),
            "ES_TMPDIR": str(self.es_run / "tmp"),
        }
        self._forget_an_earlier_checkout()
        self._write_config(env)
        argv = [str(self.es_home / "bin" / "elasticsearch")]
        if running_as_root():
            setpriv = require_tool("setpriv", "setpriv (util-linux) runs ES as nobody when root")
            argv = [
                setpriv,
                f"--reuid={NOBODY_UID}",
                f"--regid={NOBODY_GID}",
                "--clear-groups",
                "--",
                *argv,
            ]
            env["HOME"] = str(self.es_run / "tmp")
        log = self.log_file.open("ab")
        return subprocess.Popen(
            argv,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def answers(self) -> bool:
        if not self.platform_password_file.exists() or not self.ca_file.exists():
            return False
        request = urllib.request.Request(  # noqa: S310 - our own loopback URL
            f"{self.address}/_cluster/health?wait_for_status=yellow&timeout=1s",
            headers={"Authorization": _basic(PLATFORM_USER, self.platform_password_file)},
        )
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(request, timeout=3, context=context) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


# -- the dev CA and logins --


def _basic(user: str, password_file: Path) -> str:
    token = base64.b64encode(f"{user}:{password_file.read_text().strip()}".encode()).decode()
    return f"Basic {token}"


def _openssl(*args: str) -> None:
    openssl = require_tool("openssl", "the dev servers' TLS certificates: apt-get install openssl")
    result = subprocess.run([openssl, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DevError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def dev_ca(tls_dir: Path) -> Path:
    """The dev CA in `tls_dir` (`ca.crt`, `ca.key`), made once: it signs both servers'
    certificates, so one CA file trusts both. Returns the CA certificate."""
    ca = tls_dir / "ca.crt"
    if ca.exists() and (tls_dir / "ca.key").exists():
        return ca
    tls_dir.mkdir(parents=True, exist_ok=True)
    _openssl(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650"),
        *("-subj", "/CN=logway dev CA", "-keyout", str(tls_dir / "ca.key"), "-out", str(ca)),
    )
    return ca


def issue_certificate(tls_dir: Path, name: str) -> None:
    """`<name>.key` and `<name>.crt` for 127.0.0.1 and localhost, signed by the dev CA."""
    key, csr, crt = (tls_dir / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    _openssl(
        *("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"),
        *("-keyout", str(key), "-out", str(csr)),
    )
    extensions = tls_dir / f"{name}.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        *("x509", "-req", "-in", str(csr), "-CA", str(tls_dir / "ca.crt")),
        *("-CAkey", str(tls_dir / "ca.key"), "-CAcreateserial", "-days", "3650"),
        *("-extfile", str(extensions), "-out", str(crt)),
    )


def servers(config: DevConfig) -> list[Server]:
    from logway.dev.kube import Etcd, KubeApiServer  # below: kube.py builds on this module

    nodes: list[Server] = [Kafka(config, node) for node in range(config.kafka_brokers)]
    return [*nodes, Elasticsearch(config), Etcd(config), KubeApiServer(config)]


def up(config: DevConfig, say: Say = print) -> list[ServerStatus]:
    """Fetch what is missing, start what is not running, wait until both answer.

    If anything fails, whatever this call started is stopped again before the error is raised.
    """
    started: list[Server] = []
    t0 = time.monotonic()
    try:
        all_servers = servers(config)
        for server in all_servers:
            server.fetch(say)
        for server in all_servers:
            if server.start(say):
                started.append(server)
                say(f"{server.name}: starting at {server.address}")
        for server in all_servers:
            server.wait_until_answering(config.start_timeout_s)
            server.ready(say)
    except BaseException:
        for server in started:
            server.stop()
        raise
    statuses = [server.status() for server in all_servers]
    say(f"ready in {time.monotonic() - t0:.1f}s")
    for status in statuses:
        say(f"  {status.describe()}")
        say(f"      data {status.data}")
    say('  every logway command reaches them after: eval "$(logway dev env)"')
    say(f"  export {' '.join(environment(config, secured_kafka=False))}")
    secured = " ".join(environment(config, secured_kafka=True))
    say(f"  or, Kafka over SCRAM and TLS too: export {secured}")
    return statuses


def endpoints(config: DevConfig) -> Endpoints:
    """The dev servers as the platform reaches them: Kafka's plain listener, Elasticsearch
    over HTTPS as the platform user."""
    return Endpoints(
        kafka=KafkaConnection(bootstrap=config.kafka_bootstrap),
        es=Elasticsearch(config).platform_connection(),
    )


def environment(config: DevConfig, *, secured_kafka: bool) -> list[str]:
    """`NAME=value` settings that point logway at the dev servers: Elasticsearch over HTTPS as
    the platform user, and Kafka on its plain platform listener or (`secured_kafka`) over SCRAM
    and TLS. Secrets are named by their files, never printed."""
    from logway.dev.kube import KubeApiServer  # below: kube.py builds on this module

    kafka = Kafka(config)
    es = Elasticsearch(config)
    ca = kafka.ca_file.absolute()
    variables = {
        "LOGWAY_KAFKA_BOOTSTRAP": config.kafka_bootstrap,
        "LOGWAY_ES_URL": config.es_url,
        "LOGWAY_ES_USERNAME": PLATFORM_USER,
        "LOGWAY_ES_PASSWORD_FILE": str(es.platform_password_file.absolute()),
        "LOGWAY_ES_CA_FILE": str(ca),
        "LOGWAY_PODWATCH_KUBECONFIG": str(KubeApiServer(config).kubeconfig),
        "LOGWAY_OPERATOR_KUBECONFIG": str(KubeApiServer(config).kubeconfig),
    }
    if secured_kafka:
        variables |= {
            "LOGWAY_KAFKA_BOOTSTRAP": config.kafka_tls_bootstrap,
            "LOGWAY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "LOGWAY_KAFKA_USERNAME": PLATFORM_USER,
            "LOGWAY_KAFKA_PASSWORD_FILE": str(kafka.platform_password_file.absolute()),
            "LOGWAY_KAFKA_CA_FILE": str(ca),
        }
    return [f"{name}={shlex.quote(value)}" for name, value in variables.items()]


def down(config: DevConfig, say: Say = print) -> None:
    for server in reversed(servers(config)):
        if server.stop():
            say(f"{server.name}: stopped")
        else:
            say(f"{server.name}: was not running")


def clean(config: DevConfig, *, downloads: bool, say: Say = print) -> None:
    """Stop the servers and delete their data and logs (and, with `downloads`, what was fetched)."""
    down(config, say)
    doomed = [config.home / "run", _reachable_by_nobody("run", config.home)]
    if downloads:
        doomed += [config.dist, _reachable_by_nobody("dist", config.dist)]
    for path in doomed:
        if path.exists():
            shutil.rmtree(path)
            say(f"removed {path}")


def status(config: DevConfig) -> list[ServerStatus]:
    return [server.status() for server in servers(config)]


# -- helpers --


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def require_tool(name: str, hint: str) -> str:
    found = shutil.which(name)
    if not found:
        raise DevError(f"`{name}` was not found on PATH. {hint}")
    return found


def run_maven(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        errors = [line for line in result.stdout.splitlines() if "ERROR" in line][:5]
        raise DevError(
            f"Maven could not fetch {what} (exit {result.returncode}). Is Maven Central "
            f"reachable from here (proxy settings in ~/.m2/settings.xml)?\n" + "\n".join(errors)
        )


def _java_version(java_home: Path) -> int | None:
    try:
        release = (java_home / "release").read_text()
    except OSError:
        return None
    for line in release.splitlines():
        if line.startswith("JAVA_VERSION="):
            version = line.split("=", 1)[1].strip('"')
            head = version.split(".")[0]
            return int(head) if head.isdigit() else None
    return None


def find_java_home(minimum: int, variable: str, why: str) -> Path:
    """A JDK of at least `minimum`: from `variable`, else the newest under /usr/lib/jvm."""
    explicit = os.environ.get(variable)
    if explicit:
        home = Path(explicit)
        version = _java_version(home)
        if version is None or version < minimum or not (home / "bin" / "java").exists():
            raise DevError(f"{variable}={explicit} is not a Java {minimum}+ home. {why}.")
        return home
    candidates = []
    for home in Path("/usr/lib/jvm").glob("*"):
        version = _java_version(home)
        if version and version >= minimum and (home / "bin" / "java").exists():
            candidates.append((version, home))
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (_java_version(Path(java_home)) or 0) >= minimum:
        candidates.append((_java_version(Path(java_home)) or 0, Path(java_home)))
    if not candidates:
        raise DevError(
            f"{why}, and none was found under /usr/lib/jvm. Install one "
            f"(e.g. apt-get install openjdk-21-jdk-headless) or set {variable}."
        )
    return max(candidates)[1]


def kafka_cluster_id() -> str:
    """A new KRaft cluster id: 16 random bytes in URL-safe base64, unpadded, as Kafka's own
    `Uuid.randomUuid()` makes them, and like it never starting with `-`, which the storage
    tool's argument parser would read as an option (1 id in 64 would fail the format)."""
    while True:
        cluster_id = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def require_java(minimum: int, variable: str, why: str) -> str:
    if os.environ.get(variable):
        return str(find_java_home(minimum, variable, why) / "bin" / "java")
    java = shutil.which("java")
    if java:
        return java
    return str(find_java_home(minimum, variable, why) / "bin" / "java")


def unzip_keeping_modes(archive: Path, target: Path) -> None:
    """Unpack a zip, restoring the Unix permission bits (Python's zipfile drops them)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                path = Path(zf.extract(info, target))
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    path.chmod(mode)
    except zipfile.BadZipFile as exc:
        archive.unlink(missing_ok=True)
        raise DevError(f"{archive} is not a valid zip ({exc}); removed it, run again") from exc


def _cmdline(pid: int) -> str:
    """The command line of `pid`, or "" if it is gone.

    Right after exec, /proc/<pid>/cmdline is briefly empty; read again before concluding.
    """
    for _ in range(40):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return ""
        if raw:
            return raw.replace(b"\0", b" ").decode(errors="replace")
        time.sleep(0.025)
    return ""


def _reachable_by_nobody(kind: str, path: Path) -> Path:
    """A folder under /var/tmp standing for `path`, which `nobody` may not be able to reach."""
    digest = hashlib.sha256(str(path.absolute()).encode()).hexdigest()[:10]
    return Path("/var/tmp") / f"logway-es-{kind}-{digest}"  # noqa: S108 - nobody must reach it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.split(")")[-1].split()[0] != "Z"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)

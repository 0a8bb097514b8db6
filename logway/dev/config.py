"""The dev runner's settings, versions and errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

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

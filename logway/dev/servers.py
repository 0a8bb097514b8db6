"""Fetch, start, watch and stop a single-node Kafka (KRaft) and Elasticsearch on loopback.

Both come from Maven Central through `mvn` and are kept under `$LOGWAY_HOME/dist` (default
`.logway/dist`, ignored by git); a second `up` reuses them and starts in seconds. Data and logs
live under `$LOGWAY_HOME/run`. `down` stops exactly the processes `up` started: each has a pid
file, and a pid is only signalled if its command line still names our config.

Elasticsearch refuses to run as root; when we are root it runs as `nobody` (via `setpriv`) from
a folder under /var/tmp that `nobody` can reach, whatever the checkout's permissions.
"""

from __future__ import annotations

import shlex
import shutil
import time

from logway.core.kafka import KafkaConnection
from logway.core.settings import Endpoints
from logway.dev.config import PLATFORM_USER, DevConfig, DevError, Say
from logway.dev.elasticsearch import Elasticsearch
from logway.dev.fetch import require_java
from logway.dev.kafka import Kafka, kafka_cluster_id
from logway.dev.kube import Etcd, KubeApiServer
from logway.dev.process import (
    Server,
    ServerStatus,
    port_in_use,
    reachable_by_nobody,
    running_as_root,
)

# The runner is the dev servers' front: what its callers use of the parts, it names here.
__all__ = [
    "DevConfig",
    "DevError",
    "Elasticsearch",
    "Kafka",
    "Server",
    "ServerStatus",
    "clean",
    "down",
    "endpoints",
    "environment",
    "healthy",
    "kafka_cluster_id",
    "port_in_use",
    "require_java",
    "running_as_root",
    "servers",
    "status",
    "up",
]


def servers(config: DevConfig, *, kubernetes: bool = True) -> list[Server]:
    """Kafka's nodes and Elasticsearch, and (with `kubernetes`) etcd and kube-apiserver."""
    nodes: list[Server] = [Kafka(config, node) for node in range(config.kafka_brokers)]
    cluster: list[Server] = [Etcd(config), KubeApiServer(config)] if kubernetes else []
    return [*nodes, Elasticsearch(config), *cluster]


def up(config: DevConfig, say: Say = print, *, kubernetes: bool = True) -> list[ServerStatus]:
    """Fetch what is missing, start what is not running, wait until all answer. Without
    `kubernetes`, etcd and kube-apiserver are neither built nor started: the pipeline does not
    need them, only the operator, the pod watcher and the tests of them do.

    If anything fails, whatever this call started is stopped again before the error is raised.
    """
    started: list[Server] = []
    t0 = time.monotonic()
    try:
        all_servers = servers(config, kubernetes=kubernetes)
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
    doomed = [config.home / "run", reachable_by_nobody("run", config.home)]
    if downloads:
        doomed += [config.dist, reachable_by_nobody("dist", config.dist)]
    for path in doomed:
        if path.exists():
            shutil.rmtree(path)
            say(f"removed {path}")


def status(config: DevConfig) -> list[ServerStatus]:
    return [server.status() for server in servers(config)]


def healthy(statuses: list[ServerStatus]) -> bool:
    """Kafka and Elasticsearch answer, and so does every other server that runs (etcd and
    kube-apiserver are started only when asked for)."""
    needed = [s for s in statuses if s.running or s.name.startswith(("kafka", "elasticsearch"))]
    return all(s.answering for s in needed)

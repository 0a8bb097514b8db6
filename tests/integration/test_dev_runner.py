"""The dev runner's promises: clear errors, and nothing half-started left behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from logway.core.settings import Endpoints
from logway.dev.servers import DevConfig, port_in_use, status
from tests.integration.support import free_port

pytestmark = pytest.mark.integration


def processes_naming(path: Path) -> list[str]:
    """Command lines of live processes that mention `path`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(path) in cmdline and state != "Z":
            found.append(cmdline)
    return found


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_busy_port_fails_clearly_and_stops_what_was_started(
    endpoints: Endpoints, tmp_path: Path, occupied_port: int
) -> None:
    # A second, separate dev setup sharing the fetched distributions: Kafka can start,
    # Elasticsearch's port is taken by someone else.
    dist = DevConfig.from_env().dist
    kafka_port = free_port()
    env = {
        **os.environ,
        "LOGWAY_HOME": str(tmp_path / "home"),
        "LOGWAY_DIST": str(dist),
        "LOGWAY_DEV_KAFKA_PORT": str(kafka_port),
        "LOGWAY_DEV_KAFKA_CONTROLLER_PORT": str(free_port()),
        "LOGWAY_DEV_KAFKA_SASL_PORT": str(free_port()),
        "LOGWAY_DEV_KAFKA_TLS_PORT": str(free_port()),
        "LOGWAY_DEV_ES_PORT": str(occupied_port),
        "LOGWAY_DEV_ES_TRANSPORT_PORT": str(free_port()),
    }
    result = subprocess.run(
        [sys.executable, "-m", "logway", "dev", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1
    assert f"port {occupied_port} for elasticsearch is in use" in result.stderr
    assert "kafka: starting" in result.stdout  # Kafka did start ...
    assert not port_in_use(kafka_port)  # ... and was stopped again,
    assert processes_naming(tmp_path) == []  # not merely forgotten
    config = DevConfig(
        home=tmp_path / "home", dist=dist, kafka_port=kafka_port, es_port=occupied_port
    )
    assert not any(s.running for s in status(config))


def test_status_reports_the_running_servers(endpoints: Endpoints) -> None:
    config = DevConfig.from_env()
    if endpoints.kafka.bootstrap != config.kafka_bootstrap:
        pytest.skip("servers come from the environment or containers, not the dev runner")
    result = subprocess.run(
        [sys.executable, "-m", "logway", "dev", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert f"kafka: up at {config.kafka_bootstrap}" in result.stdout
    assert f"elasticsearch: up at {config.es_url}" in result.stdout


def _own_servers(home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`logway dev ...` on a home and ports of its own, beside the test servers."""
    env = {
        **os.environ,
        "LOGWAY_HOME": str(home),
        "LOGWAY_DIST": str(DevConfig.from_env().dist),
        "LOGWAY_DEV_KAFKA_PORT": str(free_port()),
        "LOGWAY_DEV_KAFKA_CONTROLLER_PORT": str(free_port()),
        "LOGWAY_DEV_KAFKA_SASL_PORT": str(free_port()),
        "LOGWAY_DEV_KAFKA_TLS_PORT": str(free_port()),
        "LOGWAY_DEV_ES_PORT": str(free_port()),
        "LOGWAY_DEV_ES_TRANSPORT_PORT": str(free_port()),
        "LOGWAY_DEV_ETCD_PORT": str(free_port()),
        "LOGWAY_DEV_ETCD_PEER_PORT": str(free_port()),
        "LOGWAY_DEV_KUBE_PORT": str(free_port()),
    }

    def logway_dev(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "logway", "dev", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return logway_dev


def test_clean_stops_the_servers_and_deletes_their_state(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    logway_dev = _own_servers(home)
    up = logway_dev("up")
    assert up.returncode == 0, up.stderr
    assert logway_dev("status").returncode == 0
    assert (home / "run" / "kafka" / "data").is_dir()

    cleaned = logway_dev("clean")
    assert cleaned.returncode == 0, cleaned.stderr
    for server in ("kafka", "elasticsearch", "etcd", "kube-apiserver"):
        assert f"{server}: stopped" in cleaned.stdout
    assert not (home / "run").exists()
    assert processes_naming(home) == []
    assert logway_dev("status").returncode == 1


def test_up_without_kubernetes_starts_kafka_and_elasticsearch_only(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    """What `make run` does: the demo needs no Kubernetes, so neither etcd nor kube-apiserver
    is built or started, and the servers count as up."""
    home = tmp_path / "home"
    logway_dev = _own_servers(home)
    try:
        up = logway_dev("up", "--no-kubernetes")
        assert up.returncode == 0, up.stderr
        assert "kafka: starting" in up.stdout
        assert "elasticsearch: starting" in up.stdout
        assert "etcd: starting" not in up.stdout
        assert "kube-apiserver: starting" not in up.stdout
        status = logway_dev("status")
        assert status.returncode == 0, status.stdout
        assert "kube-apiserver: stopped" in status.stdout
        assert "tenant objects: " in status.stdout
    finally:
        logway_dev("clean")
    assert processes_naming(home) == []

"""A first install, as Helm does it: the servers empty (a Kafka of its own, without even
`_logway.tenants`), the processor, the sink, the pod watcher and the operator started first,
then the first tenant applied as a LoggingPipeline. Its first lines are searchable within 10 s
of being written once it is Ready, and nothing is restarted by hand: before, the processor's
registry died on `NOT_LEADER_FOR_PARTITION` when `_logway.tenants` was made, and the processor
waited for ever; the pod watcher exited, `_logway.pods` not made yet."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from logway.core.kafka import KafkaConnection
from logway.core.settings import Endpoints
from logway.dev.servers import DevConfig, Kafka
from tests.integration.operator_support import (
    FORWARDER,
    Pipelines,
    admin_client,
    forwarder_daemonset,
    kube,
    operator,
    pipeline,
    ready,
    spec,
    wait_for_webhook,
)
from tests.integration.support import (
    PipelineProcess,
    free_port,
    indexed_count,
    processor,
    sink,
    wait_for,
    write_lines,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def empty(endpoints: Endpoints, tmp_path: Path) -> Iterator[Endpoints]:
    """A new, empty Kafka (the fetched distribution shared), beside the shared Elasticsearch
    and API server."""
    main = DevConfig.from_env()
    config = main.model_copy(
        update={
            "home": tmp_path / "home",
            "kafka_port": free_port(),
            "kafka_controller_port": free_port(),
            "kafka_sasl_port": free_port(),
            "kafka_tls_port": free_port(),
            "kafka_heap": "512m",
        }
    )
    kafka = Kafka(config)
    kafka.fetch(print)
    kafka.start(print)
    try:
        kafka.wait_until_answering(config.start_timeout_s)
        kafka.ready(print)
        yield Endpoints(kafka=KafkaConnection(bootstrap=config.kafka_bootstrap), es=endpoints.es)
    finally:
        kafka.stop()


def test_a_first_install_serves_its_first_tenant_without_a_restart(
    empty: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    api = admin_client()
    forwarder_daemonset(api)
    name, home = f"{tenant_prefix}-first", f"{tenant_prefix}-first"
    Pipelines(api).namespace(home)
    webhook = free_port()
    workers: list[PipelineProcess] = [
        processor(empty, name, f"{name}-proc", tmp_path),
        sink(empty, name, f"{name}-sink", tmp_path),
        PipelineProcess(
            empty,
            ["podwatch", "--kubeconfig", str(kube().kubeconfig)],
            tmp_path / "podwatch.log",
        ),
        operator(empty, tmp_path, webhook_port=webhook, forwarder=FORWARDER),
    ]
    for worker in workers:
        worker.start()

    def alive() -> None:
        for worker in workers:
            worker.assert_running()

    es = empty.es.client()
    try:
        wait_for_webhook(api, webhook, alive)
        time.sleep(5)  # every worker is waiting for the first tenant
        alive()
        pipelines = Pipelines(api)
        pipelines.create(home, pipeline(name, spec(name, sources={"namespaces": [home]})))
        pipelines.wait_condition(home, name, ready, "Ready", timeout=60, alive=alive)
        written = time.monotonic()
        write_lines(empty, name, 5)
        wait_for("its first 5 lines", lambda: indexed_count(es, name), lambda n: n == 5, 60, alive)
        searchable = time.monotonic() - written
        print(f"\nfirst install: Ready -> 5 lines searchable in {searchable:.2f} s")
        assert searchable <= 10.0
        alive()
    finally:
        for worker in reversed(workers):
            worker.stop()
        pipelines = Pipelines(admin_client())
        if pipelines.get(home, name) is not None:
            pipelines.patch(home, name, {"metadata": {"finalizers": None}})
            pipelines.delete(home, name)

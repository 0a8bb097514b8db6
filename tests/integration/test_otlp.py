"""OTLP/HTTP logs in, with real clients: the OpenTelemetry Python SDK's OTLP log exporter
(protobuf, gzip) and the OpenTelemetry Collector's otlp_http exporter (built from the Go module
proxy), through the gateway, the processor and the sink. Counted in Elasticsearch: each event
once, with the fields teams search. And what a client is told: 401 without its tenant's key, a
partial success naming a record too large, the same request twice stored once; and, with Kafka
away, 503 and 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from confluent_kafka import Producer
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from connectors.gateway.config import GatewayConfig
from connectors.gateway.otlp_http import serve_otlp
from connectors.gateway.server import Gateway
from logway.core.settings import Endpoints
from logway.dev.otelcol import collector_binary
from tests.integration.support import (
    PipelineProcess,
    accepts,
    apply_tenant,
    free_port,
    indexed_count,
    processor,
    sink,
    tenant_documents,
    wait_for,
)
from tests.integration.test_node_agent import Agent
from topology.registry import TenantRegistry

pytestmark = pytest.mark.integration

PIPELINE = "pipeline:\n  - {step: parse, format: json}\n"


def forward_key(secret: str) -> str:
    return f"sources:\n  forward:\n    shared_key_secret: {secret}\n"


def post(port: int, body: bytes, key: str | None, content_type: str) -> tuple[int, bytes, Any]:
    headers = {"Content-Type": content_type}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/logs", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def json_request(messages: list[str]) -> bytes:
    records = [
        {"timeUnixNano": str(1_796_600_000_000_000_000 + n), "body": {"stringValue": text}}
        for n, text in enumerate(messages)
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "curl"}}]}
    return orjson.dumps(
        {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}
    )


# Python's logging through the SDK's handler: how services send today, deprecated for a
# handler in opentelemetry-instrumentation-logging that does the same.
@pytest.mark.filterwarnings("ignore:`LoggingHandler` in `opentelemetry-sdk`:DeprecationWarning")
def test_real_otlp_clients_through_the_gateway_each_event_indexed_once(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-otlp"
    secret = f"{tenant_prefix.upper()}_OTLP_KEY"
    key = secrets.token_urlsafe(24)
    extra = forward_key(secret) + PIPELINE
    apply_tenant(endpoints, tmp_path, tenant, partitions=2, extra=extra)
    port, otlp_port = free_port(), free_port()
    gateway = PipelineProcess(
        endpoints,
        [
            "gateway",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--otlp-port",
            str(otlp_port),
            "--otlp-plaintext",
        ],
        tmp_path / "gateway.log",
        extra_env={secret: key},
    ).start()
    workers = [
        processor(endpoints, tenant, f"{tenant}-p", tmp_path, metrics_port=free_port()).start(),
        sink(endpoints, tenant, f"{tenant}-s", tmp_path, metrics_port=free_port()).start(),
    ]
    es = endpoints.es.client()
    try:
        wait_for("the OTLP port", lambda: accepts(otlp_port), bool, 60, gateway.assert_running)
        # Who may send, and what a client is told.
        assert post(otlp_port, json_request(["x"]), None, "application/json")[0] == 401
        assert post(otlp_port, json_request(["x"]), "not-the-key", "application/json")[0] == 401
        body = json_request(["kept 1", "x" * 1_100_000, "kept 2"])  # over the 1 MiB records
        status, answer, _headers = post(otlp_port, body, key, "application/json")
        assert status == 200
        partial = orjson.loads(answer)["partialSuccess"]
        assert partial["rejectedLogRecords"] == 1
        assert "topics.max_record_bytes" in partial["errorMessage"]
        again = post(otlp_port, body, key, "application/json")  # its answer lost: sent again
        assert again[0] == 200
        bad = post(otlp_port, b"\x00garbage", key, "application/x-protobuf")
        assert bad[0] == 400
        assert b"not an ExportLogsServiceRequest" in bad[1]

        sdk_events = send_with_the_python_sdk(otlp_port, key, 300)
        collector_events = 400
        workers.append(start_the_collector(otlp_port, key, tmp_path, collector_events))
        total = 2 + sdk_events + collector_events
        wait_for(
            f"{total} events indexed",
            lambda: indexed_count(es, tenant),
            lambda n: n >= total,
            120,
            gateway.assert_running,
        )
    finally:
        gateway.stop()
        for worker in workers:
            worker.stop()
    found = [hit["_source"] for hit in tenant_documents(es, tenant)]
    assert len(found) == total  # the request sent twice is stored once
    by_service: dict[str, list[dict[str, Any]]] = {}
    for doc in found:
        by_service.setdefault(doc["service"]["name"], []).append(doc)
    assert sorted(d["message"] for d in by_service["curl"]) == ["kept 1", "kept 2"]
    python = by_service["checkout-py"]
    assert len(python) == sdk_events
    assert len({d["message"] for d in python}) == sdk_events  # each once
    warned = [d for d in python if d["log"]["level"] == "warn"]
    assert len(warned) == sdk_events // 3
    assert all(d["kubernetes"]["namespace"] == "shop" for d in python)
    assert all(d["kubernetes"]["pod"]["name"] == "checkout-7f9c" for d in python)
    assert all(d["attributes"]["order.id"] >= 0 for d in python)
    traced = [d for d in python if "trace" in d]
    assert traced
    assert all(len(d["trace"]["id"]) == 32 for d in traced)
    agent = by_service["otelcol-agent"]
    assert sorted(d["message"] for d in agent) == sorted(
        f"agent line {n} é" for n in range(collector_events)
    )


def send_with_the_python_sdk(port: int, key: str, count: int) -> int:
    """`count` events through Python's logging, the SDK's batch processor and its OTLP/HTTP
    exporter (protobuf, gzip); every third a warning, some inside a span."""
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create(
        {
            "service.name": "checkout-py",
            "k8s.namespace.name": "shop",
            "k8s.pod.name": "checkout-7f9c",
        }
    )
    exporter = OTLPLogExporter(
        endpoint=f"http://127.0.0.1:{port}/v1/logs",
        headers={"Authorization": f"Bearer {key}"},
        compression=Compression.Gzip,
    )
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=64))
    handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    logger = logging.getLogger(f"checkout-{port}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    tracer = TracerProvider().get_tracer("checkout")
    try:
        for n in range(count):
            level = logging.WARNING if n % 3 == 0 else logging.INFO
            if n % 10 == 0:
                with tracer.start_as_current_span("charge"):
                    logger.log(level, "order %d charged", n, extra={"order.id": n})
            else:
                logger.log(level, "order %d charged", n, extra={"order.id": n})
        assert provider.force_flush(30_000)
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    assert SeverityNumber.WARN.value == 13  # what `warn` is read from
    return count


def start_the_collector(port: int, key: str, folder: Path, count: int) -> Agent:
    """The built collector reading a file of `count` lines and sending them with its
    otlp_http exporter (gzip), as the service `otelcol-agent`."""
    binary = collector_binary(lambda line: print(f"[otelcol] {line}"))
    lines = folder / "agent-lines.log"
    lines.write_text("".join(f"agent line {n} é\n" for n in range(count)))
    service = {"type": "add", "field": 'resource["service.name"]', "value": "otelcol-agent"}
    config = {
        "receivers": {
            "file_log": {"include": [str(lines)], "start_at": "beginning", "operators": [service]}
        },
        "processors": {"batch": {}},
        "exporters": {
            "otlp_http": {
                "endpoint": f"http://127.0.0.1:{port}",
                "headers": {"Authorization": f"Bearer {key}"},
                "compression": "gzip",
            }
        },
        "service": {
            "pipelines": {
                "logs": {
                    "receivers": ["file_log"],
                    "processors": ["batch"],
                    "exporters": ["otlp_http"],
                }
            },
            "telemetry": {"metrics": {"level": "none"}},
        },
    }
    path = folder / "otlp-agent.yaml"
    path.write_bytes(orjson.dumps(config))  # JSON is YAML
    return Agent(binary, path, {}, folder / "otlp-agent.log").start()


def test_with_kafka_away_a_request_waits_then_gets_503_and_one_too_many_gets_429(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's producer finds no broker (a real client, pointed at a closed port): a
    request is answered 503 once `otlp_store_timeout_s` passed, and a second one meanwhile,
    over `otlp_max_inflight`, at once 429; both with Retry-After."""
    tenant = f"{tenant_prefix}-otlpaway"
    secret = f"{tenant_prefix.upper()}_AWAY_KEY"
    key = secrets.token_urlsafe(24)
    apply_tenant(endpoints, tmp_path, tenant, partitions=1, extra=forward_key(secret))
    monkeypatch.setenv(secret, key)
    registry = TenantRegistry(endpoints.kafka, "gateway").start()
    assert registry.caught_up.wait(60)
    config = GatewayConfig(kafka=endpoints.kafka, otlp_max_inflight=1, otlp_store_timeout_s=2)
    away = Producer({"bootstrap.servers": f"127.0.0.1:{free_port()}", "message.timeout.ms": 60_000})
    gateway = Gateway(config, registry, away)
    gateway.start_polling()
    body = gzip.compress(json_request(["waits"]))
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }

    async def exchange() -> tuple[tuple[int, str | None, float], tuple[int, str | None]]:
        port = free_port()
        runner = await serve_otlp(gateway, "127.0.0.1", port, None)
        url = f"http://127.0.0.1:{port}/v1/logs"
        try:
            async with aiohttp.ClientSession() as client:
                loop = asyncio.get_running_loop()
                started = loop.time()
                first = asyncio.create_task(client.post(url, data=body, headers=headers))
                await asyncio.sleep(0.5)
                second = await client.post(url, data=body, headers=headers)
                answered = await first
                took = loop.time() - started
                return (
                    (answered.status, answered.headers.get("Retry-After"), took),
                    (second.status, second.headers.get("Retry-After")),
                )
        finally:
            await runner.cleanup()

    try:
        (status, retry, took), (busy, busy_retry) = asyncio.run(exchange())
    finally:
        gateway.stop_polling()
        registry.stop()
    assert (status, retry) == (503, "5")
    assert 2 <= took < 10
    assert (busy, busy_retry) == (429, "1")

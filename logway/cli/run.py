"""`logway run`: the workers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from connectors.elasticsearch.config import SinkConfig
from connectors.gateway.config import GatewayConfig
from connectors.notifier.config import NotifierConfig
from connectors.operator.config import OperatorConfig
from connectors.podwatch.config import PodWatchConfig
from connectors.processor.config import ProcessorConfig
from connectors.retention.config import RetentionConfig
from logway.cli.apps import run_app
from logway.cli.common import (
    TenantsMatching,
    fail,
    parse_settings,
    platform_ceilings,
    setup_logging,
    worker_endpoints,
)
from logway.options import options


@run_app.command("processor")
@options(
    ProcessorConfig,
    "LOGWAY_PROCESSOR_",
    [
        "tenants_matching",
        "app_id",
        "instance_id",
        "data_dir",
        "metrics_port",
        "batch_max",
        "batch_linger_s",
    ],
)
def run_processor(**flags: Any) -> None:
    """Run a processor worker: `logs.<tenant>.raw` -> parse -> `logs.<tenant>.processed`,
    failures -> `logs.<tenant>.dlq`. New tenants' topics are picked up without a restart."""
    from connectors.processor.app import run_processor as run

    config = parse_settings(ProcessorConfig, kafka=worker_endpoints().kafka, **flags)
    setup_logging()
    run(config)


@run_app.command("sink")
@options(
    SinkConfig,
    "LOGWAY_SINK_",
    [
        "tenants_matching",
        "group_id",
        "instance_id",
        "metrics_port",
        "batch_max_wait_s",
        "bulks_in_flight",
    ],
)
def run_sink(**flags: Any) -> None:
    """Run an Elasticsearch sink worker: `logs.<tenant>.processed` ->
    `logs-<tenant>.<route>-<date>`, offsets committed only after Elasticsearch accepted (or the
    DLQ took) each record."""
    from connectors.elasticsearch.sink import run_sink as run

    endpoints = worker_endpoints()
    problem = endpoints.es.diagnose()
    if problem is not None and problem.refused:
        raise fail(f"Elasticsearch at {endpoints.es} refused us: {problem}", code=2)
    config = parse_settings(SinkConfig, kafka=endpoints.kafka, es=endpoints.es, **flags)
    setup_logging()
    run(config)


@run_app.command("gateway")
@options(
    GatewayConfig,
    "LOGWAY_GATEWAY_",
    [
        "host",
        "port",
        "max_frame_bytes",
        "max_connections",
        "idle_timeout_s",
        "tls_cert",
        "tls_key",
        "metrics_port",
        "otlp_port",
        "otlp_plaintext",
        "otlp_max_request_bytes",
        "otlp_max_records",
        "otlp_max_inflight",
        "otlp_read_timeout_s",
        "otlp_store_timeout_s",
    ],
)
def run_gateway(**flags: Any) -> None:
    """Run a Fluentd forward-protocol gateway: fluent-logger clients (and Fluentd / Fluent Bit
    `forward` outputs) send with tags `<tenant>.<anything>`; each event goes to
    `logs.<tenant>.raw`, and a chunk is acked only after Kafka stored all of it. A tenant opts in
    with `sources.forward` (a shared key for the handshake, or trusted unauthenticated
    clients). The same process takes OTLP/HTTP logs on --otlp-port (POST /v1/logs, protobuf or
    JSON, gzip), each request for the tenant whose shared key it sends as a bearer token."""
    from connectors.gateway.server import run_gateway as run

    config = parse_settings(GatewayConfig, kafka=worker_endpoints().kafka, **flags)
    setup_logging()
    run(config)


@run_app.command("notifier")
@options(
    NotifierConfig,
    "LOGWAY_NOTIFIER_",
    ["tenants_matching", "group_id", "instance_id", "digest_interval_s", "metrics_port"],
)
def run_notifier(**flags: Any) -> None:
    """Run a notifier: each tenant's dead letters, summed up every `dlq.notify.digest_minutes`,
    posted to the Slack webhook named by `owners.webhook_secret` (read from the environment).
    Offsets are committed after Slack accepted the digest."""
    from connectors.notifier.notifier import run_notifier as run

    config = parse_settings(NotifierConfig, kafka=worker_endpoints().kafka, **flags)
    setup_logging()
    run(config)


@run_app.command("podwatch")
@options(
    PodWatchConfig,
    "LOGWAY_PODWATCH_",
    ["kubeconfig", "annotations", "resync_s", "metrics_port"],
)
def run_podwatch(**flags: Any) -> None:
    """Run the pod watcher: one watch of the API server for the whole cluster, each pod's uid,
    node, labels and chosen annotations published to _logway.pods, which the processors join
    onto the lines of that pod's containers (the `kubernetes` block). Run one."""
    from connectors.podwatch.watcher import run_podwatch as run

    config = parse_settings(PodWatchConfig, kafka=worker_endpoints().kafka, **flags)
    setup_logging()
    run(config)


@run_app.command("operator")
@options(
    OperatorConfig,
    "LOGWAY_OPERATOR_",
    [
        "kubeconfig",
        "topic_replication_factor",
        "topic_min_insync_replicas",
        "retry_s",
        "workers",
        "webhook_host",
        "webhook_listen",
        "webhook_port",
        "webhook_cert_file",
        "webhook_key_file",
        "webhook_ca_file",
        "forwarder_configmap",
        "forwarder_daemonset",
        "forwarder_namespace",
        "forwarder_login",
        "metrics_port",
    ],
)
def run_operator(**flags: Any) -> None:
    """Run the operator: every LoggingPipeline in the cluster (`logway render crd` gives its
    definition) validated, planned, applied and published as `logway apply` would, with its
    status, Events, the Secret `logway-<tenant>` in its namespace, and a finalizer that
    unpublishes the tenant on delete (its data stays unless annotated
    logway.dev/delete-data=true). Run one."""
    from connectors.operator.handlers import run_operator as run

    endpoints = worker_endpoints()
    config = parse_settings(
        OperatorConfig,
        kafka=endpoints.kafka,
        es=endpoints.es,
        ceilings=platform_ceilings(),
        **flags,
    )
    setup_logging()
    run(config)


@run_app.command("retention")
@options(
    RetentionConfig,
    "LOGWAY_RETENTION_",
    ["tenants_matching", "interval_s", "generation_max_bytes", "metrics_port"],
)
def run_retention(**flags: Any) -> None:
    """Run the retention worker: every `--interval-s`, each live tenant's indices measured
    (`logway_tenant_storage_*` metrics), the indices its `storage` no longer keeps deleted,
    whole, and routes rolled over to a new index (see `logway retention`). Run one: the
    sinks count on a rollover starting ten minutes after it is made."""
    from connectors.retention.worker import run_retention as run

    endpoints = worker_endpoints()
    config = parse_settings(RetentionConfig, kafka=endpoints.kafka, es=endpoints.es, **flags)
    setup_logging()
    run(config)


@run_app.command("all")
def run_all(
    tenants_matching: TenantsMatching = ".*",
    demo: Annotated[
        bool, typer.Option(help="Also feed demo traffic (a few broken lines included).")
    ] = False,
) -> None:
    """Run the processor and the sink, and show a live line per tenant (received, processed,
    indexed, dead-lettered) until Ctrl-C, which stops them."""
    from logway.supervisor import run_all as run

    run(
        worker_endpoints(),
        tenants_matching=tenants_matching,
        demo=demo,
        log_dir=Path(".logway/run/logs"),
    )

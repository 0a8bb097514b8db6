"""Every worker logway runs, each described once (`connectors.runtime.worker.Worker`)."""

from __future__ import annotations

from connectors.elasticsearch.config import SinkConfig
from connectors.gateway.config import GatewayConfig
from connectors.notifier.config import NotifierConfig
from connectors.operator.config import OperatorConfig
from connectors.podwatch.config import PodWatchConfig
from connectors.processor.config import ProcessorConfig
from connectors.retention.config import RetentionConfig
from connectors.runtime.worker import Worker

WORKERS: tuple[Worker, ...] = (
    Worker(
        name="processor",
        settings=ProcessorConfig,
        env_prefix="LOGWAY_PROCESSOR_",
        flags=(
            "tenants_matching",
            "app_id",
            "instance_id",
            "data_dir",
            "metrics_port",
            "batch_max",
            "batch_linger_s",
            "discovery_interval_s",
        ),
        run="connectors.processor.app:run_processor",
        help="Run a processor worker: `logs.<tenant>.raw` -> parse -> "
        "`logs.<tenant>.processed`, failures -> `logs.<tenant>.dlq`. New tenants' topics are "
        "picked up without a restart.",
    ),
    Worker(
        name="sink",
        settings=SinkConfig,
        env_prefix="LOGWAY_SINK_",
        flags=(
            "tenants_matching",
            "group_id",
            "instance_id",
            "metrics_port",
            "batch_max_wait_s",
            "batch_max_records",
            "batch_max_bytes",
            "bulks_in_flight",
            "retry_initial_s",
            "retry_max_s",
            "discovery_interval_s",
        ),
        run="connectors.elasticsearch.sink:run_sink",
        help="Run an Elasticsearch sink worker: `logs.<tenant>.processed` -> "
        "`logs-<tenant>.<route>-<start>`, offsets committed only after Elasticsearch accepted "
        "(or the DLQ took) each record.",
        handed=("kafka", "es"),
    ),
    Worker(
        name="gateway",
        settings=GatewayConfig,
        env_prefix="LOGWAY_GATEWAY_",
        flags=(
            "host",
            "port",
            "max_frame_bytes",
            "max_connections",
            "idle_timeout_s",
            "tls_cert",
            "tls_key",
            "server_hostname",
            "metrics_port",
            "otlp_port",
            "otlp_plaintext",
            "otlp_max_request_bytes",
            "otlp_max_records",
            "otlp_max_inflight",
            "otlp_read_timeout_s",
            "otlp_store_timeout_s",
        ),
        run="connectors.gateway.server:run_gateway",
        help="Run a Fluentd forward-protocol gateway: fluent-logger clients (and Fluentd / "
        "Fluent Bit `forward` outputs) send with tags `<tenant>.<anything>`; each event goes to "
        "`logs.<tenant>.raw`, and a chunk is acked only after Kafka stored all of it. A tenant "
        "opts in with `sources.forward` (a shared key for the handshake, or trusted "
        "unauthenticated clients). The same process takes OTLP/HTTP logs on --otlp-port (POST "
        "/v1/logs, protobuf or JSON, gzip), each request for the tenant whose shared key it "
        "sends as a bearer token.",
    ),
    Worker(
        name="notifier",
        settings=NotifierConfig,
        env_prefix="LOGWAY_NOTIFIER_",
        flags=(
            "tenants_matching",
            "group_id",
            "instance_id",
            "digest_interval_s",
            "max_age_hours",
            "retry_max_s",
            "discovery_interval_s",
            "metrics_port",
        ),
        run="connectors.notifier.notifier:run_notifier",
        help="Run a notifier: each tenant's dead letters, summed up every "
        "`dlq.notify.digest_minutes`, posted to the Slack webhook named by "
        "`owners.webhook_secret` (read from the environment). Offsets are committed after "
        "Slack accepted the digest.",
    ),
    Worker(
        name="podwatch",
        settings=PodWatchConfig,
        env_prefix="LOGWAY_PODWATCH_",
        flags=("kubeconfig", "annotations", "resync_s", "metrics_port"),
        run="connectors.podwatch.watcher:run_podwatch",
        help="Run the pod watcher: one watch of the API server for the whole cluster, each "
        "pod's uid, node, labels and chosen annotations published to _logway.pods, which the "
        "processors join onto the lines of that pod's containers (the `kubernetes` block). Run "
        "one.",
    ),
    Worker(
        name="operator",
        settings=OperatorConfig,
        env_prefix="LOGWAY_OPERATOR_",
        flags=(
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
            "forwarder_agent",
            "metrics_port",
        ),
        run="connectors.operator.handlers:run_operator",
        help="Run the operator: every LoggingPipeline in the cluster (`logway render crd` gives "
        "its definition) validated, planned, applied and published as `logway apply` would, "
        "with its status, Events, the Secret `logway-<tenant>` in its namespace, and a "
        "finalizer that unpublishes the tenant on delete (its data stays unless annotated "
        "logway.dev/delete-data=true). Run one.",
        handed=("kafka", "es", "ceilings"),
    ),
    Worker(
        name="retention",
        settings=RetentionConfig,
        env_prefix="LOGWAY_RETENTION_",
        flags=("tenants_matching", "interval_s", "generation_max_bytes", "metrics_port"),
        run="connectors.retention.worker:run_retention",
        help="Run the retention worker: every --interval-s, each live tenant's indices measured "
        "(`logway_tenant_storage_*` metrics), the indices its `storage` no longer keeps "
        "deleted, whole, and routes rolled over to a new index (see `logway retention`). Run "
        "one: the sinks count on a rollover starting ten minutes after it is made.",
        handed=("kafka", "es"),
    ),
)

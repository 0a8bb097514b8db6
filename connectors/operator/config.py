"""Settings of the operator."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from logway.core.elastic import ElasticConnection
from logway.core.kafka import KafkaConnection
from topology.agents import Agent
from topology.ceilings import Ceilings
from topology.forwarder import KafkaLogin


class OperatorConfig(BaseModel):
    """How the operator reaches the API server, Kafka and Elasticsearch, and how it retries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka: KafkaConnection = Field(description="Kafka's servers and the platform's login.")
    es: ElasticConnection = Field(description="Elasticsearch and the platform's login.")
    kubeconfig: Path | None = Field(
        None,
        description="A kubeconfig file to reach the API server; unset, the pod's own service "
        "account (in the cluster).",
    )
    topic_replication_factor: int = Field(
        -1,
        ge=-1,
        le=32,
        description="Replicas of each new tenant topic; -1: the broker's "
        "default.replication.factor (as `logway apply`'s LOGWAY_TOPIC_REPLICATION_FACTOR).",
    )
    topic_min_insync_replicas: int = Field(
        0,
        ge=0,
        le=32,
        description="min.insync.replicas kept on every tenant topic; 0: the broker's default.",
    )
    retry_s: float = Field(
        15,
        gt=0,
        le=3600,
        description="How soon a resource refused for a claim (taken, or not consented to) or "
        "left by a failed apply is reconciled again.",
    )
    workers: int = Field(
        4, ge=1, le=64, description="Resources reconciled at once (threads of apply)."
    )
    webhook_host: str | None = Field(
        None,
        description="Serve the admission webhook, which refuses an invalid resource at "
        "`kubectl apply` with the model's errors: the name the API server calls it by (in the "
        "webhook URL and the certificate), e.g. `logway-operator.logway.svc`. The operator "
        "registers it (ValidatingWebhookConfiguration `logway.dev`), failing open: while the "
        "operator is down, resources are accepted and then refused in status. Unset: no webhook.",
    )
    webhook_listen: str = Field(
        "0.0.0.0",  # noqa: S104 - the API server calls in from outside the pod
        description="Address the webhook server listens on.",
    )
    webhook_port: int = Field(9443, ge=1, le=65535, description="Port of the webhook server.")
    webhook_cert_file: Path | None = Field(
        None, description="The webhook's certificate (PEM), valid for --webhook-host."
    )
    webhook_key_file: Path | None = Field(None, description="Its private key (PEM).")
    webhook_ca_file: Path | None = Field(
        None, description="The CA that signed it, which the API server is told to trust."
    )
    forwarder_configmap: str | None = Field(
        None,
        description="Keep the node forwarders' routes in this ConfigMap (key fluent-bit.conf, "
        "or otel-collector.yaml), rendered from every published tenant whenever they change; "
        "unset: the routes are rendered by hand (`logway render forwarder`).",
    )
    forwarder_agent: Agent = Field(
        "fluent-bit",
        description="The node agent the routes are rendered for, as `logway render forwarder "
        "--format`: fluent-bit or otel-collector (the chart's forwarder.agent).",
    )
    forwarder_daemonset: str | None = Field(
        None,
        description="The forwarders' DaemonSet, whose pod template is annotated with the "
        "routes' hash when they change, so the forwarders roll onto them.",
    )
    forwarder_namespace: str | None = Field(
        None, description="The namespace of that ConfigMap and DaemonSet."
    )
    forwarder_login: KafkaLogin = Field(
        "none",
        description="How the forwarders log in to Kafka, as `logway render forwarder "
        "--kafka-login`: none, scram or tls.",
    )
    ceilings: Ceilings = Field(
        default_factory=Ceilings,
        description="The most a tenant may declare (LOGWAY_TENANT_MAX_*, as for `logway apply`).",
    )
    metrics_port: int = Field(
        9647, ge=0, le=65535, description="Port of the /metrics endpoint; 0 turns it off."
    )

    @model_validator(mode="after")
    def _webhook_complete(self) -> OperatorConfig:
        files = (self.webhook_cert_file, self.webhook_key_file, self.webhook_ca_file)
        if self.webhook_host is not None and None in files:
            raise ValueError(
                "a webhook needs --webhook-cert-file, --webhook-key-file and --webhook-ca-file"
            )
        if self.forwarder_configmap is not None and self.forwarder_namespace is None:
            raise ValueError("--forwarder-configmap needs --forwarder-namespace")
        return self

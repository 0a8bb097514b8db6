"""Applying tenants: the Kafka topics and the Elasticsearch index template each tenant needs.

Idempotent: applying the same tenants twice changes nothing the second time, and says so.
Partitions only grow (Kafka cannot shrink them); a smaller number is reported, not applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewPartitions, NewTopic
from elasticsearch import Elasticsearch

from topology.model import Tenant
from topology.names import (
    index_pattern,
    index_template_priority,
    tenant_topics,
)

Action = Literal["created", "updated", "unchanged", "partitions increased", "kept larger", "failed"]

DLQ_RETENTION_HOURS = 7 * 24


@dataclass(frozen=True)
class Change:
    """What apply did to one object."""

    kind: Literal["topic", "index template"]
    name: str
    action: Action
    detail: str = ""


def topic_configs(tenant: Tenant, topic: str) -> dict[str, str]:
    hours = tenant.topics.retention_hours
    if topic.endswith(".dlq"):
        # Dead letters wait for people; keep them at least a week.
        hours = max(hours, DLQ_RETENTION_HOURS)
    return {
        "retention.ms": str(hours * 3_600_000),
        "max.message.bytes": str(tenant.topics.max_record_bytes),
    }


def apply_topics(
    admin: AdminClient, tenants: Sequence[Tenant], timeout: float = 30.0
) -> list[Change]:
    """Create each tenant's raw, processed and dead-letter topics, or grow their partitions.

    Replication comes from the broker's `default.replication.factor`.
    """
    existing = admin.list_topics(timeout=timeout).topics
    changes: list[Change] = []
    to_create: list[NewTopic] = []
    to_grow: list[NewPartitions] = []
    for tenant in tenants:
        wanted = tenant.topics.partitions
        for topic in tenant_topics(tenant.name):
            have = existing.get(topic)
            if have is None:
                to_create.append(
                    NewTopic(topic, num_partitions=wanted, config=topic_configs(tenant, topic))
                )
            elif len(have.partitions) < wanted:
                to_grow.append(NewPartitions(topic, wanted))
            elif len(have.partitions) > wanted:
                changes.append(
                    Change(
                        "topic",
                        topic,
                        "kept larger",
                        f"has {len(have.partitions)} partitions, tenant asks {wanted}; "
                        "Kafka cannot shrink partitions",
                    )
                )
            else:
                changes.append(Change("topic", topic, "unchanged"))
    if to_create:
        for name, future in admin.create_topics(to_create, request_timeout=timeout).items():
            changes.append(_settle(name, future, "created"))
    if to_grow:
        for name, future in admin.create_partitions(to_grow, request_timeout=timeout).items():
            changes.append(_settle(name, future, "partitions increased"))
    return changes


def _settle(topic: str, future: Any, action: Action) -> Change:
    try:
        future.result()
    except KafkaException as exc:
        err: KafkaError = exc.args[0]
        if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return Change("topic", topic, "unchanged", "created concurrently")
        return Change("topic", topic, "failed", err.str())
    return Change("topic", topic, action)


def index_template(tenant: Tenant, replicas: int) -> dict[str, Any]:
    return {
        "index_patterns": [index_pattern(tenant.name)],
        "priority": index_template_priority(tenant.name),
        "template": {
            "settings": {"number_of_shards": 1, "number_of_replicas": replicas},
            "mappings": {
                "properties": {
                    "@timestamp": {"type": "date"},
                    "logway": {
                        "properties": {
                            "tenant": {"type": "keyword"},
                            "id": {"type": "keyword"},
                            "received_at": {"type": "date"},
                            "origin": {
                                "properties": {
                                    "topic": {"type": "keyword"},
                                    "partition": {"type": "integer"},
                                    "offset": {"type": "long"},
                                    "index": {"type": "integer"},
                                }
                            },
                        }
                    },
                }
            },
        },
        "_meta": {"managed_by": "logway", "tenant": tenant.name},
    }


def apply_index_templates(es: Elasticsearch, tenants: Sequence[Tenant]) -> list[Change]:
    """Install each tenant's index template (replicas: one, or none on a single-node cluster)."""
    data_nodes = int(es.cluster.health()["number_of_data_nodes"])
    replicas = min(1, max(0, data_nodes - 1))
    changes = []
    for tenant in tenants:
        name = f"logs-{tenant.name}"
        body = index_template(tenant, replicas)
        current = es.options(ignore_status=404).indices.get_index_template(name=name)
        templates = current.get("index_templates", [])
        if templates and _same_template(templates[0]["index_template"], body):
            changes.append(Change("index template", name, "unchanged"))
            continue
        es.indices.put_index_template(name=name, **body)
        changes.append(Change("index template", name, "updated" if templates else "created"))
    return changes


def _same_template(have: dict[str, Any], want: dict[str, Any]) -> bool:
    settings = have.get("template", {}).get("settings", {}).get("index", {})
    return (
        have.get("index_patterns") == want["index_patterns"]
        and have.get("priority") == want["priority"]
        and str(settings.get("number_of_replicas"))
        == str(want["template"]["settings"]["number_of_replicas"])
        and have.get("template", {}).get("mappings") == want["template"]["mappings"]
    )

"""The servers a plan is made against and applied to, and the clients `apply` shares."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from elasticsearch import Elasticsearch

from logway.core.control import FILES
from logway.core.kafka import KafkaConnection
from topology.ceilings import Ceilings
from topology.quotas import QuotaClient

_CLIENTS = threading.Lock()


@dataclass
class Targets:
    """The servers a plan is made against and applied to."""

    admin: AdminClient
    es: Elasticsearch
    kafka: KafkaConnection
    credentials_dir: Path = Path(".logway/credentials")
    timeout: float = 15.0
    replication_factor: int = -1  # of new topics; -1: the broker's default.replication.factor
    min_insync_replicas: int = 0  # kept on every tenant topic; 0: the broker's default
    source: str = FILES  # what the published versions say they were declared in
    ceilings: Ceilings = field(default_factory=Ceilings)  # the most a tenant may declare
    # Clients made on first use, shared by copies (`replace(targets, source=...)`): a
    # long-running caller (the operator) applies many times through one of each.
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def quotas(self) -> QuotaClient:
        with _CLIENTS:
            if "quotas" not in self._clients:
                self._clients["quotas"] = QuotaClient(self.kafka, self.timeout)
            quotas: QuotaClient = self._clients["quotas"]
        return quotas

    @property
    def producer(self) -> Producer:
        """The producer that publishes tenant versions."""
        with _CLIENTS:
            if "producer" not in self._clients:
                self._clients["producer"] = Producer(self.kafka.producer())
            producer: Producer = self._clients["producer"]
        return producer

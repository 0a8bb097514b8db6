"""Client quotas: how fast each tenant's principals may produce.

confluent-kafka's admin client has no AlterClientQuotas, so these two requests go through
kafka-python's admin connection (which handles the same security settings). It uses one private
attribute, `_manager`, of the pinned kafka-python 3.0.12; the integration tests pin that down.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from kafka import KafkaAdminClient
from kafka.protocol.admin.client_quotas import (
    AlterClientQuotasRequest,
    DescribeClientQuotasRequest,
)

from logway.core.kafka import KafkaConnection

PRODUCER_RATE = "producer_byte_rate"
EXACT = 0  # DescribeClientQuotas match_type: the entity name given
SPECIFIED = 2  # DescribeClientQuotas match_type: any entity with a name of that type

# A quota's entity: a user, or one client id of a user (None: the user's own quota).
Entity = tuple[str, str | None]


class QuotaError(RuntimeError):
    """The broker refused a quota change."""


class QuotaClient:
    """Reads and sets `producer_byte_rate` for a user principal, or for one client id of it
    (how the node forwarder's one login is throttled per tenant)."""

    def __init__(self, kafka: KafkaConnection, timeout_s: float = 15.0) -> None:
        # One request at a time: kafka-python's connection manager is not for several threads
        # (the operator applies from a pool; without it, requests stalled for a minute).
        self._lock = threading.Lock()
        self._admin = KafkaAdminClient(
            **kafka.kafka_python(),
            client_id="logway-quotas",
            request_timeout_ms=int(timeout_s * 1000),
        )

    def close(self) -> None:
        self._admin.close()

    def _send(self, request: Any) -> Any:
        async def send(message: Any) -> Any:
            return await self._admin._manager.send(message)

        with self._lock:
            return self._admin._manager.run(send, request)

    def producer_rate(self, user: str, client_id: str | None = None) -> float | None:
        """The entity's produce quota in bytes/s, or None when it has none. Strict: the user's
        own quota is not one of its client ids', nor the other way round."""
        component = DescribeClientQuotasRequest.ComponentData
        components = [component(entity_type="user", match_type=EXACT, match=user)]
        if client_id is not None:
            components.append(component(entity_type="client-id", match_type=EXACT, match=client_id))
        response = self._send(DescribeClientQuotasRequest(components=components, strict=True))
        if response.error_code:
            raise QuotaError(
                f"describing quotas of {_named(user, client_id)}: {response.error_message}"
            )
        for entry in response.entries or []:
            for value in entry.values:
                if value.key == PRODUCER_RATE:
                    return float(value.value)
        return None

    def producer_rates(self) -> dict[Entity, float]:
        """Every user's, and user's client id's, produce quota in bytes/s: one request."""
        component = DescribeClientQuotasRequest.ComponentData
        components = [component(entity_type="user", match_type=SPECIFIED, match=None)]
        response = self._send(DescribeClientQuotasRequest(components=components, strict=False))
        if response.error_code:
            raise QuotaError(f"describing the users' quotas: {response.error_message}")
        rates: dict[Entity, float] = {}
        for entry in response.entries or []:
            names = {e.entity_type: e.entity_name for e in entry.entity}
            if set(names) - {"user", "client-id"} or names.get("user") is None:
                continue
            for value in entry.values:
                if value.key == PRODUCER_RATE:
                    rates[(names["user"], names.get("client-id"))] = float(value.value)
        return rates

    def alter_producer_rates(
        self, rates: dict[Entity, float | None], settle_s: float = 5.0
    ) -> dict[Entity, str]:
        """Set (a rate) or remove (None) each entity's produce quota in one request, and wait
        (briefly) until the broker reports them. Returns {entity: error} for those refused."""
        entry = AlterClientQuotasRequest.EntryData
        entities = list(rates)
        request = AlterClientQuotasRequest(
            entries=[
                entry(
                    entity=_entity(user, client_id),
                    ops=[
                        entry.OpData(
                            key=PRODUCER_RATE,
                            value=rates[(user, client_id)] or 0.0,
                            remove=rates[(user, client_id)] is None,
                        )
                    ],
                )
                for user, client_id in entities
            ],
            validate_only=False,
        )
        errors = {
            entity: result.error_message or f"error {result.error_code}"
            for entity, result in zip(entities, self._send(request).entries, strict=True)
            if result.error_code
        }
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            have = self.producer_rates()
            if all(have.get(e) == rates[e] for e in entities if e not in errors):
                break
            time.sleep(0.2)
        return errors

    def remove_producer_rate(self, user: str, client_id: str | None = None) -> None:
        self._alter(user, client_id, 0.0, remove=True)

    def set_producer_rate(
        self, user: str, rate: float, settle_s: float = 5.0, client_id: str | None = None
    ) -> None:
        """Set the entity's produce quota and wait (briefly) until the broker reports it."""
        self._alter(user, client_id, float(rate), remove=False)
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and self.producer_rate(user, client_id) != float(rate):
            time.sleep(0.2)

    def _alter(self, user: str, client_id: str | None, rate: float, *, remove: bool) -> None:
        entry = AlterClientQuotasRequest.EntryData
        request = AlterClientQuotasRequest(
            entries=[
                entry(
                    entity=_entity(user, client_id),
                    ops=[entry.OpData(key=PRODUCER_RATE, value=rate, remove=remove)],
                )
            ],
            validate_only=False,
        )
        for result in self._send(request).entries:
            if result.error_code:
                what = "removing" if remove else "setting"
                raise QuotaError(
                    f"{what} the quota of {_named(user, client_id)}: {result.error_message}"
                )


def _entity(user: str, client_id: str | None) -> list[Any]:
    data = AlterClientQuotasRequest.EntryData.EntityData
    entity = [data(entity_type="user", entity_name=user)]
    if client_id is not None:
        entity.append(data(entity_type="client-id", entity_name=client_id))
    return entity


def _named(user: str, client_id: str | None) -> str:
    return user if client_id is None else f"{user} (client id {client_id})"

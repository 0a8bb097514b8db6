"""Client quotas: how fast each tenant's principals may produce.

confluent-kafka's admin client has no AlterClientQuotas, so these two requests go through
kafka-python's admin connection (which handles the same security settings). It uses one private
attribute, `_manager`, of the pinned kafka-python 3.0.12; the integration tests pin that down.
"""

from __future__ import annotations

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


class QuotaError(RuntimeError):
    """The broker refused a quota change."""


class QuotaClient:
    """Reads and sets `producer_byte_rate` for user principals."""

    def __init__(self, kafka: KafkaConnection, timeout_s: float = 15.0) -> None:
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

        return self._admin._manager.run(send, request)

    def producer_rate(self, user: str) -> float | None:
        """The user's produce quota in bytes/s, or None when it has none."""
        component = DescribeClientQuotasRequest.ComponentData(
            entity_type="user", match_type=EXACT, match=user
        )
        response = self._send(DescribeClientQuotasRequest(components=[component], strict=False))
        if response.error_code:
            raise QuotaError(f"describing quotas of {user}: {response.error_message}")
        for entry in response.entries or []:
            for value in entry.values:
                if value.key == PRODUCER_RATE:
                    return float(value.value)
        return None

    def remove_producer_rate(self, user: str) -> None:
        entry = AlterClientQuotasRequest.EntryData
        request = AlterClientQuotasRequest(
            entries=[
                entry(
                    entity=[entry.EntityData(entity_type="user", entity_name=user)],
                    ops=[entry.OpData(key=PRODUCER_RATE, value=0.0, remove=True)],
                )
            ],
            validate_only=False,
        )
        for result in self._send(request).entries:
            if result.error_code:
                raise QuotaError(f"removing the quota of {user}: {result.error_message}")

    def set_producer_rate(self, user: str, rate: float, settle_s: float = 5.0) -> None:
        """Set the user's produce quota and wait (briefly) until the broker reports it."""
        entry = AlterClientQuotasRequest.EntryData
        request = AlterClientQuotasRequest(
            entries=[
                entry(
                    entity=[entry.EntityData(entity_type="user", entity_name=user)],
                    ops=[entry.OpData(key=PRODUCER_RATE, value=float(rate), remove=False)],
                )
            ],
            validate_only=False,
        )
        response = self._send(request)
        for result in response.entries:
            if result.error_code:
                raise QuotaError(f"setting the quota of {user}: {result.error_message}")
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and self.producer_rate(user) != float(rate):
            time.sleep(0.2)

"""Held items are sent again in bulks of the sink's bounds (`connectors.elasticsearch.parking`).

Tenants held together (a write block on the whole cluster) are due together; their items once
went in one request, whatever their size: over the sink's bytes and Elasticsearch's 100 MB."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Message, TopicPartition

from connectors.elasticsearch.classify import RetryReason
from connectors.elasticsearch.parking import Parking
from connectors.elasticsearch.request import Pending
from connectors.elasticsearch.service import Waiting
from logway.core.deadletter import DeadLetter
from logway.core.origin import Origin


class Assigned:
    """The consumer calls Parking makes: what is assigned, and what it paused."""

    def __init__(self) -> None:
        self.paused: set[tuple[str, int]] = set()

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(f"logs.t{n}.processed", 0) for n in range(3)]

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {(tp.topic, tp.partition) for tp in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {(tp.topic, tp.partition) for tp in partitions}


def item(tenant: int, offset: int, size: int) -> Pending:
    topic = f"logs.t{tenant}.processed"
    here = Origin.model_construct(topic=topic, partition=0, offset=offset)
    return Pending(
        Message(topic=topic, partition=0, offset=offset),
        f"t{tenant}",
        f"id-{tenant}-{offset}",
        "logs-t",
        b"x" * size,
        here,
        here,
    )


def test_items_held_together_go_again_in_bulks_within_the_bytes_and_records() -> None:
    consumer = Assigned()
    parking = Parking(consumer, 0.0, 0.0, max_records=5, max_bytes=1000)  # type: ignore[arg-type]
    held = [item(tenant, offset, 300) for tenant in range(3) for offset in range(6)]
    parking.park([Waiting(i, RetryReason.BLOCKED, "blocked") for i in held])
    assert len(consumer.paused) == 3
    sent: list[list[Pending]] = []

    def attempt(
        pending: list[Pending], _letters: list[DeadLetter], _waiting: list[Waiting]
    ) -> tuple[list[Pending], str]:
        sent.append(pending)
        return [], ""

    letters: list[Any] = []
    finished = parking.retry_due(attempt, letters)
    assert [len(bulk) for bulk in sent] == [3] * 6  # 3 x 300 bytes within 1,000
    assert all(sum(len(i.document) for i in bulk) <= 1000 for bulk in sent)
    assert sorted(id(i) for i in finished) == sorted(id(i) for i in held)
    assert not parking
    assert consumer.paused == set()

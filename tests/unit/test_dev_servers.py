"""The dev runner's Kafka cluster ids: what `kafka-storage format -t` takes, every time."""

from __future__ import annotations

from base64 import urlsafe_b64decode

from logway.dev.servers import kafka_cluster_id

SAMPLES = 5000  # a leading "-" comes once in 64 ids; this many would show it ~78 times


def test_cluster_ids_are_16_random_bytes_that_never_start_with_a_dash() -> None:
    ids = [kafka_cluster_id() for _ in range(SAMPLES)]
    assert not [i for i in ids if i.startswith("-")]  # the storage tool reads it as an option
    assert {len(urlsafe_b64decode(i + "==")) for i in ids} == {16}
    assert {len(i) for i in ids} == {22}
    assert len(set(ids)) == SAMPLES

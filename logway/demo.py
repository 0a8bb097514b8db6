"""Demo traffic: a little of what real tenants send, broken lines included."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
from confluent_kafka import Producer

from logway.core.names import raw_topic

LEVELS = ("debug", "info", "info", "info", "warn", "error")
PATHS = ("/api/orders", "/api/cart", "/healthz", "/api/search", "/login")


def demo_line(tenant: str, n: int, rng: random.Random) -> bytes:
    """One demo record: mostly JSON lines, some in Docker json-file form, about 1 in 20 broken."""
    roll = rng.random()
    if roll < 0.03:
        return b'{"level": "info", "msg": "truncated in flight'
    if roll < 0.05:
        return b'{"level": "info", "msg": "caf\xc3\x28 latin-1 got in"}'
    now = datetime.now(UTC).isoformat()
    line = {
        "@timestamp": now,
        "level": rng.choice(LEVELS),
        "msg": f"request {n} served",
        "http": {"path": rng.choice(PATHS), "status": rng.choice((200, 200, 201, 404, 500))},
        "duration_ms": round(rng.expovariate(1 / 40), 2),
        "demo_tenant": tenant,
    }
    if roll < 0.35:
        docker = {"log": orjson.dumps(line).decode() + "\n", "stream": "stdout", "time": now}
        return orjson.dumps(docker)
    return orjson.dumps(line)


def demo_records(tenant: str, count: int, seed: int = 0) -> Iterator[bytes]:
    rng = random.Random(f"{tenant}-{seed}")  # noqa: S311 - demo data, not secrets
    for n in range(count):
        yield demo_line(tenant, n, rng)


def send_demo(producer: Producer, tenants: list[str], per_tenant: int, seed: int = 0) -> int:
    """Produce `per_tenant` demo records to each tenant's raw topic; return how many were acked."""
    acked = 0

    def delivered(err: object, _msg: object) -> None:
        nonlocal acked
        if err is None:
            acked += 1

    for tenant in tenants:
        for record in demo_records(tenant, per_tenant, seed):
            producer.produce(raw_topic(tenant), value=record, on_delivery=delivered)
            producer.poll(0)
    producer.flush(30)
    return acked

"""The pipeline benchmarks' load: three kinds of tenant (JSON lines, Docker json-file records
with every 10th line split in pieces, logfmt text), 250-1,900-byte lines, 5% broken, each line
carrying a unique event id (`eid`) and its send time (`sent_at`)."""

from __future__ import annotations

import random
import time

import orjson
from confluent_kafka import Producer

from logway.core.kafka import KafkaConnection
from logway.core.names import raw_topic

SHARES = {"json": 0.6, "docker": 0.3, "text": 0.1}
PIPELINES = {
    "json": "pipeline:\n  - {step: parse, format: json}\n"
    "  - {step: timestamp, field: ts, remove_source: true}\n",
    "docker": "pipeline:\n  - {step: parse, format: docker}\n  - {step: reassemble}\n"
    "  - {step: parse, format: json}\n",
    "text": "pipeline:\n  - {step: parse, format: logfmt}\n",
}
BROKEN_EVERY = 20  # 5%

_TEXT = "".join(random.Random(3).choices("abcdefghijklmnopqrstuvwxyz ", k=1 << 22))  # noqa: S311


def body(rng: random.Random) -> str:
    """250-1,900 random letters and spaces: a slice of a 4 MiB random text at a random place,
    so the load generator spends microseconds per line, not the CPU the pipeline needs."""
    size = rng.randint(250, 1900)
    start = rng.randrange(len(_TEXT) - size)
    return _TEXT[start : start + size]


def records(kind: str, n: int, eid: str, rng: random.Random) -> list[tuple[bytes, bytes]]:
    """The Kafka records (key, value) of line n of a `kind` tenant."""
    sent = int(time.time() * 1000)
    key = f"pod-{n % 16}".encode()
    broken = n % BROKEN_EVERY == BROKEN_EVERY - 1
    if kind == "text":
        line = (
            "no pairs here at all"
            if broken
            else f'eid={eid} sent_at={sent} level=info msg="{body(rng)[:200]}"'
        )
        return [(key, line.encode())]
    document = {
        "eid": eid,
        "sent_at": sent,
        "ts": "2026-11-25T10:00:00Z",
        "level": "info",
        "msg": body(rng),
    }
    text = orjson.dumps(document).decode()
    if broken:
        text = text[: len(text) // 2]  # cut off: invalid JSON
    if kind == "json":
        return [(key, text.encode())]
    line = text + "\n"
    if n % 10 == 0:  # a line Docker split in three pieces
        a, b = len(line) // 3, 2 * len(line) // 3
        pieces = [line[:a], line[a:b], line[b:]]
    else:
        pieces = [line]
    return [(key, orjson.dumps({"log": p, "stream": "stdout", "time": "t"})) for p in pieces]


class Load:
    """Writes lines to the tenants' raw topics and remembers how many of each kind."""

    def __init__(self, bootstrap: KafkaConnection, tenants: dict[str, str]) -> None:
        self.tenants = tenants
        self.producer = Producer(
            bootstrap.client(
                {
                    "linger.ms": 20,
                    "acks": "all",
                    "compression.type": "lz4",
                    "queue.buffering.max.messages": 1_000_000,
                }
            )
        )
        self.sent = dict.fromkeys(tenants, 0)
        self.broken = dict.fromkeys(tenants, 0)
        self.records = 0
        self.bytes = 0
        self.rng = random.Random(7)  # noqa: S311 - test data, not secrets

    def send(self, kind: str, prefix: str) -> None:
        n = self.sent[kind]
        for key, value in records(kind, n, f"{prefix}-{kind}-{n}", self.rng):
            while True:
                try:
                    self.producer.produce(raw_topic(self.tenants[kind]), value, key)
                    break
                except BufferError:
                    self.producer.poll(0.05)
            self.records += 1
            self.bytes += len(value)
        self.sent[kind] += 1
        self.broken[kind] += n % BROKEN_EVERY == BROKEN_EVERY - 1

    def flush(self) -> None:
        if self.producer.flush(120):
            raise SystemExit("Kafka did not take the benchmark's records")


def kinds_for(count: int) -> list[str]:
    rng = random.Random(11)  # noqa: S311 - test data, not secrets
    return rng.choices(list(SHARES), weights=list(SHARES.values()), k=count)

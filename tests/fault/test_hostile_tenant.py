"""A hostile tenant against its neighbour, through the real processes (issue 14).

Tenant `hostile` writes, with its own right to its raw topic: a record whose `logway-event-id`
header is 300 garbage bytes (once an `_id` of ~900 bytes that stalled every tenant's bulks), a
record naming the neighbour's forwarded event id, records that speak for logway
(`logway.tenant: <neighbour>`, as dotted keys and as an object), and lines whose UTF-8
characters a CRI runtime cut between two pieces. A document whose `_id` is over Elasticsearch's
512 bytes is also put straight on its processed topic, as a processor of an older version
wrote it: the sink must dead-letter it alone. Meanwhile the neighbour sends 3,000 lines.

Ledger: every line of both tenants is indexed once or dead-lettered once, with a reason; the
neighbour's lines are all indexed, none of the hostile tenant's documents says it is the
neighbour's, and nothing of the neighbour's is overwritten.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from logway.core.deadletter import DeadLetter
from logway.core.names import dlq_topic, processed_topic, raw_topic
from logway.core.settings import Endpoints
from tests.fault.conftest import LEDGER
from tests.integration.support import (
    logway,
    processor,
    read_topic,
    sink,
    tenant_documents,
    tenant_yaml,
    wait_for,
)

pytestmark = [pytest.mark.fault, pytest.mark.integration]
NEIGHBOUR_LINES = 3_000
CRI_PIPELINE = """\
pipeline:
  - {step: parse, format: cri}
  - {step: reassemble, timeout_s: 3}
  - {step: parse, format: json}
"""


def cri_cut(eid: str, char: str, at: int) -> list[bytes]:
    """A JSON line holding `char`, as a CRI runtime writes it when it cuts `at` bytes into the
    character: a `P` piece and an `F` piece."""
    line = orjson.dumps({"eid": eid, "msg": f"{'a' * 40}{char}{'b' * 40}"})
    cut = line.index(char.encode()) + at
    stamp = b"2026-11-29T10:00:00.000000001Z stdout "
    return [stamp + b"P " + line[:cut], stamp + b"F " + line[cut:]]


def hostile_records(hostile: str, neighbour: str) -> tuple[dict[str, str], list[Any]]:
    """(what each event id is, the records as (key, value, headers))."""
    kinds: dict[str, str] = {}
    records: list[Any] = []

    def line(kind: str, eid: str, body: dict[str, Any], headers: Any = None) -> None:
        kinds[eid] = kind
        stamp = b"2026-11-29T10:00:00.000000001Z stdout F "
        records.append((b"app", stamp + orjson.dumps({"eid": eid, **body}), headers))

    for n in range(50):
        line("good", f"good-{n}", {"msg": "fine"})
    for n in range(5):
        garbage = bytes((n * 37 + i * 101) % 256 for i in range(300))
        line("garbage-id", f"garbage-id-{n}", {}, [("logway-event-id", garbage)])
        named = f"fwd:{neighbour}:p8n9gmxTQVC8nh2wlKKeQ==:{n}".encode()
        line("neighbour-id", f"neighbour-id-{n}", {}, [("logway-event-id", named)])
        line("dotted-logway", f"dotted-logway-{n}", {"logway.tenant": neighbour})
        line("object-logway", f"object-logway-{n}", {"logway": {"tenant": neighbour}})
    for n, char in enumerate(["é", "€", "😀", "日本"] * 5):
        eid = f"cut-char-{n}"
        kinds[eid] = "cut-char"
        records += [(b"cut", piece, None) for piece in cri_cut(eid, char, 1 + n % 2)]
    return kinds, records


def test_a_hostile_tenant_neither_stalls_nor_impersonates_its_neighbour(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    hostile, neighbour = f"{tenant_prefix}-hostile", f"{tenant_prefix}-neighbour"
    (tmp_path / "h.yaml").write_text(tenant_yaml(hostile, partitions=1, extra=CRI_PIPELINE))
    (tmp_path / "n.yaml").write_text(tenant_yaml(neighbour, partitions=1))
    logway(endpoints, "apply", str(tmp_path))
    matching = f"{hostile}|{neighbour}"
    workers = [
        processor(endpoints, matching, f"{tenant_prefix}-proc", tmp_path),
        sink(endpoints, matching, f"{tenant_prefix}-sink", tmp_path),
    ]
    for worker in workers:
        worker.start()

    def alive() -> None:
        for worker in workers:
            worker.assert_running()

    es = endpoints.es.client()
    producer = Producer(endpoints.kafka.client({"acks": "all", "linger.ms": 5}))
    kinds, records = hostile_records(hostile, neighbour)
    try:
        # An _id of ~900 bytes, as an older processor made from the garbage header.
        poisoned = {
            "eid": "long-id-0",
            "logway": {
                "tenant": hostile,
                "id": "\ufffd" * 300,
                "origin": {"topic": raw_topic(hostile), "partition": 0, "offset": 0, "index": 0},
            },
        }
        kinds["long-id-0"] = "long-id"
        producer.produce(processed_topic(hostile), orjson.dumps(poisoned), b"poison")
        started = time.monotonic()
        sent = 0
        for n in range(NEIGHBOUR_LINES):
            producer.produce(raw_topic(neighbour), orjson.dumps({"eid": f"n-{n}", "seq": n}))
            if sent < len(records) and n % 50 == 0:
                key, value, headers = records[sent]
                producer.produce(raw_topic(hostile), value, key, headers=headers)
                sent += 1
            producer.poll(0)
        for key, value, headers in records[sent:]:
            producer.produce(raw_topic(hostile), value, key, headers=headers)
        assert producer.flush(60) == 0

        wait_for(
            "every neighbour line indexed",
            lambda: len(tenant_documents(es, neighbour, ["eid"])),
            lambda n: n >= NEIGHBOUR_LINES,
            120,
            alive,
        )
        neighbour_s = time.monotonic() - started

        def outcomes() -> tuple[list[dict[str, Any]], dict[str, DeadLetter]]:
            documents = [hit["_source"] for hit in tenant_documents(es, hostile)]
            letters = {}
            for _key, value in read_topic(endpoints.kafka, dlq_topic(hostile), timeout=10):
                letter = DeadLetter.from_bytes(value)
                letters[orjson.loads(letter.original_bytes())["eid"]] = letter
            return documents, letters

        documents, letters = wait_for(
            "every hostile line indexed or dead-lettered",
            outcomes,
            lambda o: len(o[0]) + len(o[1]) >= len(kinds),
            120,
            alive,
        )
        time.sleep(3)  # duplicates, if any, would land now
        documents, letters = outcomes()
        neighbours = tenant_documents(es, neighbour)
        claimed = es.count(index="logs-*", query={"term": {"logway.tenant": neighbour}})["count"]
    finally:
        for worker in workers:
            worker.stop()
        es.close()

    indexed = [str(doc["eid"]) for doc in documents]
    neighbour_ids = [str(hit["_source"]["eid"]) for hit in neighbours]
    ledger = {
        "sent": len(kinds) + NEIGHBOUR_LINES,
        "acked": len(kinds) + NEIGHBOUR_LINES,
        "indexed": len(set(indexed)) + len(set(neighbour_ids)),
        "dlq": len(letters),
        "dlq_by_reason": dict(Counter(str(letter.reason) for letter in letters.values())),
        "duplicates": len(indexed)
        - len(set(indexed))
        + len(neighbour_ids)
        - len(set(neighbour_ids)),
        "lost": len(set(kinds) - set(indexed) - set(letters))
        + NEIGHBOUR_LINES
        - len(set(neighbour_ids)),
        "neighbour_all_indexed_s": round(neighbour_s, 1),
    }
    print(ledger)
    LEDGER.append({"scenario": "hostile tenant beside a neighbour", **ledger})
    assert (ledger["lost"], ledger["duplicates"]) == (0, 0), ledger
    assert sorted(neighbour_ids) == sorted(f"n-{n}" for n in range(NEIGHBOUR_LINES))
    assert claimed == NEIGHBOUR_LINES  # no document of the hostile tenant says it is theirs
    assert {eid: str(letter.reason) for eid, letter in letters.items()} == {
        "long-id-0": "index_rejected"
    }
    assert "512" in letters["long-id-0"].error  # Elasticsearch's reason, for the owners

    by_eid = {str(doc["eid"]): doc for doc in documents}
    for eid, kind in kinds.items():
        if kind != "long-id":
            assert_held(kind, by_eid[eid], hostile, neighbour)


def assert_held(kind: str, document: dict[str, Any], hostile: str, neighbour: str) -> None:
    """The hostile tenant's document of `kind` is its own and says nothing for logway."""
    meta = document["logway"]
    assert meta["tenant"] == hostile
    if kind in ("garbage-id", "neighbour-id"):
        assert meta["event_id_refused"] is True
        assert meta["id"].startswith(f"{raw_topic(hostile)}:0:")  # named by its origin
    foreign = {
        "dotted-logway": {"logway.tenant": neighbour},
        "object-logway": {"logway": {"tenant": neighbour}},
    }
    if kind in foreign:
        assert document["logway_foreign"] == foreign[kind]
        assert meta["foreign_fields_moved"] is True
    if kind == "cut-char":  # the character is whole again
        assert document["msg"].startswith("a" * 40)
        assert document["msg"].endswith("b" * 40)
        assert len(document["msg"]) in (81, 82)

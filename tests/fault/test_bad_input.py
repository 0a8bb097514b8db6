"""The bad-input corpus of ../shared/guides/reliability.md as one scenario through the real
processes, ending in a ledger: every accepted event is indexed once or dead-lettered once with a
reason; what was refused was never acknowledged; no process died.

Two tenants. `cri` gets container lines straight into Kafka, as the forwarder writes them (CRI
format, joined by `reassemble`, then parsed as JSON): broken and truncated JSON, JSON that is a
number or a list, nesting too deep for JSON and for Elasticsearch, invalid UTF-8, NUL bytes,
lone surrogates, lines split in pieces (also inside a UTF-8 character), partial lines whose last
piece never comes, records that speak for logway (`logway.tenant`) or carry a garbage
`logway-event-id` header, a 5 MB line,
a record over the topic's `max.message.bytes`, and a field whose type conflicts with the
mapping. `fwd` gets forward-protocol traffic through the gateway: good chunks with acks around
malformed frames, random bytes, oversized frames, wrong types and a bad `chunk` option.

Each event carries its id (`eid`) where a reader can find it: in the document, or in the dead
letter's original bytes, which is how the ledger matches them.
"""

from __future__ import annotations

import re
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgpack
import pytest
from confluent_kafka import KafkaException, Producer
from elasticsearch import Elasticsearch

from logway.core.deadletter import DeadLetter
from logway.core.names import dlq_topic, raw_topic
from logway.core.settings import Endpoints
from tests.fault.conftest import LEDGER
from tests.integration.support import (
    accepts,
    forward_chunk,
    free_port,
    gateway,
    logway,
    processor,
    read_topic,
    sink,
    tenant_documents,
    tenant_yaml,
    wait_for,
)

pytestmark = [pytest.mark.fault, pytest.mark.integration]
EID = re.compile(rb'"eid": ?"([a-z0-9-]+)"|eid=([a-z0-9-]+)')
CRI = """\
pipeline:
  - {step: parse, format: cri}
  - {step: reassemble, timeout_s: 3, max_bytes: 1048576, on_cut: dead_letter}
  - {step: parse, format: json}
"""
FWD = """\
sources:
  forward:
    allow_unauthenticated: true
pipeline:
  - {step: parse, format: json}
"""
PIECE = 16_384  # the size CRI runtimes split long lines at


def cri(line: bytes, tag: str = "F") -> bytes:
    return b"2026-11-25T10:00:00.000000001Z stdout " + tag.encode() + b" " + line


def nested(eid: str, depth: int) -> bytes:
    return b'{"eid": "%s", "n": ' % eid.encode() + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


Headers = list[tuple[str, bytes]] | None


def cri_corpus() -> tuple[dict[str, str], list[tuple[bytes, bytes, Headers]]]:
    """(the category of each event id, the raw records to produce as (key, value, headers))."""
    category: dict[str, str] = {}
    records: list[tuple[bytes, bytes, Headers]] = []

    def line(cat: str, n: int, value: bytes, key: bytes = b"main", headers: Headers = None) -> None:
        category[f"{cat}-{n}"] = cat
        records.append((key, value, headers))

    for n in range(100):
        line("good", n, cri(b'{"eid": "good-%d", "code": %d, "msg": "fine"}' % (n, n)))
    for n in range(10):
        line("broken", n, cri(b'{"eid": "broken-%d", "msg": "no end' % n))
        line("truncated", n, cri(b'{"eid": "truncated-%d", "msg": "x"' % n))
        line("list", n, cri(b'[{"eid": "list-%d"}]' % n))
        line("string", n, cri(b'"eid=string-%d"' % n))
        line("bad-utf8", n, cri(b'{"eid": "bad-utf8-%d", "msg": "\xc3\x28 \xff"}' % n))
        line("nul", n, cri(b'{"eid": "nul-%d", "msg": "a\x00b"}' % n))
        line("surrogate", n, cri(b'{"eid": "surrogate-%d", "msg": "\\ud800"}' % n))
        line("deep-json", n, cri(nested(f"deep-json-{n}", 2_000)))
        line("deep-es", n, cri(nested(f"deep-es-{n}", 40)))
        line("conflict", n, cri(b'{"eid": "conflict-%d", "code": "not a number"}' % n))
        line(
            "speaks-for-logway",
            n,
            cri(b'{"eid": "speaks-for-logway-%d", "logway.tenant": "x"}' % n),
        )
        garbage = [("logway-event-id", bytes(range(n, 256)) + b"\xfe" * 100)]
        line("garbage-event-id", n, cri(b'{"eid": "garbage-event-id-%d"}' % n), headers=garbage)
    for n in range(10):  # a character cut between two pieces, as CRI runtimes cut by bytes
        data = f'{{"eid": "cut-char-{n}", "msg": "{"c" * (PIECE - 32)}€{"d" * 100}"}}'.encode()
        cut = data.index("€".encode()) + 1 + n % 2
        category[f"cut-char-{n}"] = "cut-char"
        records.append((b"cut-%d" % n, cri(data[:cut], "P"), None))
        records.append((b"cut-%d" % n, cri(data[cut:], "F"), None))
    for n in range(10):  # a 40 KB line in three pieces, interleaved with another container's
        body = b'{"eid": "split-%d", "msg": "%s"}' % (n, b"s" * 40_000)
        category[f"split-{n}"] = "split"
        pieces = [body[i : i + PIECE] for i in range(0, len(body), PIECE)]
        for i, piece in enumerate(pieces):
            tag = "F" if i == len(pieces) - 1 else "P"
            records.append((b"split", cri(piece, tag), None))
            if i == 0:
                line("between", n, cri(b'{"eid": "between-%d"}' % n), key=b"other")
    for n in range(3):  # the last piece never comes
        category[f"unfinished-{n}"] = "unfinished"
        records.append(
            (b"unfinished-%d" % n, cri(b'{"eid": "unfinished-%d", "msg": "' % n, "P"), None)
        )
    body = b'{"eid": "huge-0", "msg": "' + b"h" * 5_000_000 + b'"}'  # a 5 MB line
    category["huge-0"] = "huge"
    for i in range(0, len(body), PIECE):
        tag = "F" if i + PIECE >= len(body) else "P"
        records.append((b"huge", cri(body[i : i + PIECE], tag), None))
    return category, records


def malformed_frames(tag: str) -> dict[str, bytes]:
    entry = msgpack.packb([int(time.time()), {"eid": "never"}])
    return {
        "random bytes": bytes(range(256)) * 4,
        "truncated": msgpack.packb([tag, entry, {"chunk": "c"}])[:-7],
        "wrong types": msgpack.packb([42, {"not": "entries"}, "option"]),
        "bad chunk option": msgpack.packb([tag, entry, {"chunk": 12345}]),
        "tag of nobody": msgpack.packb(["nobody-here.app", entry, {"chunk": "c"}]),
        "oversized": msgpack.packb([tag, b"x" * 9_000_000, {"chunk": "big"}]),
        "an event over the topic's limit": msgpack.packb(
            [
                tag,
                msgpack.packb([int(time.time()), {"eid": "never", "m": "o" * 2_000_000}]),
                {"chunk": "huge-event"},
            ]
        ),
    }


def refused(port: int, frame: bytes) -> bool:
    """True when the gateway closed the connection without an ack."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(frame)
            sock.shutdown(socket.SHUT_WR)  # nothing more comes: a partial frame stays partial
        except OSError:
            return True  # closed while we were still sending
        unpacker = msgpack.Unpacker(raw=False)
        while True:
            try:
                data = sock.recv(4096)
            except OSError:
                return True
            if not data:
                return True
            unpacker.feed(data)
            if any(isinstance(m, dict) and "ack" in m for m in unpacker):
                return False


def outcomes(es: Elasticsearch, endpoints: Endpoints, tenant: str) -> dict[str, Any]:
    documents = [str(hit["_source"]["eid"]) for hit in tenant_documents(es, tenant, ["eid"])]
    letters: dict[str, str] = {}
    continuations: list[str] = []
    for _key, value in read_topic(endpoints.kafka, dlq_topic(tenant), timeout=10):
        letter = DeadLetter.from_bytes(value)
        match = EID.search(letter.original_bytes())
        if match is None:
            # The 5 MB line is cut every `max_bytes`: each later cut is a letter of its own,
            # named by its first piece, holding only the line's filler.
            assert set(letter.original_bytes().rstrip(b'"}')) == {ord("h")}, letter.original[:200]
            continuations.append(str(letter.reason))
            continue
        eid = (match.group(1) or match.group(2)).decode()
        assert eid not in letters, f"{eid} dead-lettered twice"
        letters[eid] = str(letter.reason)
    return {"documents": documents, "letters": letters, "continuations": continuations}


def test_the_bad_input_corpus_balances(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    cri_tenant, fwd_tenant = f"{tenant_prefix}-cri", f"{tenant_prefix}-fwd"
    (tmp_path / "cri.yaml").write_text(tenant_yaml(cri_tenant, partitions=1, extra=CRI))
    (tmp_path / "fwd.yaml").write_text(tenant_yaml(fwd_tenant, partitions=1, extra=FWD))
    logway(endpoints, "apply", str(tmp_path))
    port = free_port()
    matching = f"{cri_tenant}|{fwd_tenant}"
    processes = [
        processor(endpoints, matching, f"{tenant_prefix}-bad-proc", tmp_path),
        sink(endpoints, matching, f"{tenant_prefix}-bad-sink", tmp_path),
        gateway(endpoints, port, tmp_path),
    ]
    for process in processes:
        process.start()

    def alive() -> None:
        for process in processes:
            process.assert_running()

    es = endpoints.es.client()
    try:
        # The mapping of `code` is set to a number first, so the conflicting ones are refused.
        category, records = cri_corpus()
        producer = Producer(endpoints.kafka.client({"acks": "all", "linger.ms": 5}))
        failed: list[str] = []
        for key, value, _headers in records[:100]:
            producer.produce(raw_topic(cri_tenant), value, key)
        assert producer.flush(30) == 0
        wait_for(
            "the first 100 indexed",
            lambda: len(outcomes(es, endpoints, cri_tenant)["documents"]),
            lambda n: n >= 100,
            120,
            alive,
        )
        for key, value, headers in records[100:]:
            producer.produce(
                raw_topic(cri_tenant),
                value,
                key,
                headers=headers,
                on_delivery=lambda err, _m: failed.append(str(err)) if err else None,
            )
        assert producer.flush(60) == 0
        assert failed == []
        # Over the topic's max.message.bytes (1 MiB): refused at produce, never acknowledged.
        with pytest.raises(KafkaException, match="MSG_SIZE_TOO_LARGE"):
            producer.produce(raw_topic(cri_tenant), cri(b"o" * 2_000_000), b"main")

        wait_for("the gateway", lambda: accepts(port), bool, 90, alive)
        tag = f"{fwd_tenant}.app"
        sent_fwd = {}
        for c in range(3):
            batch: list[dict[str, object]] = [
                {"eid": f"fwd-{c}-{n}", "msg": "ok"} for n in range(50)
            ]
            assert forward_chunk(port, tag, batch, f"good-{c}")
            sent_fwd.update({str(r["eid"]): "fwd-good" for r in batch})
            if c < 2:
                for what, frame in malformed_frames(tag).items():
                    assert refused(port, frame), what
        alive()

        expected = len(category)
        found = wait_for(
            "every accepted event indexed or dead-lettered",
            lambda: outcomes(es, endpoints, cri_tenant),
            lambda o: len(set(o["documents"])) + len(o["letters"]) >= expected,
            240,
            alive,
        )
        fwd = wait_for(
            "every acked forward event indexed",
            lambda: outcomes(es, endpoints, fwd_tenant),
            lambda o: len(o["documents"]) >= len(sent_fwd),
            120,
            alive,
        )
        time.sleep(3)  # duplicates, if any, would land now
        found = outcomes(es, endpoints, cri_tenant)
        fwd = outcomes(es, endpoints, fwd_tenant)
    finally:
        for process in processes:
            process.stop()
        es.close()

    indexed, letters = set(found["documents"]), found["letters"]
    ledger = {
        "sent": len(category) + 1 + len(sent_fwd),
        "acked": len(category) + len(sent_fwd),
        "refused_at_produce": 1,
        "indexed": len(indexed) + len(set(fwd["documents"])),
        "dlq": len(letters) + len(fwd["letters"]),
        "dlq_by_reason": dict(Counter(letters.values())),
        "dlq_cuts_of_the_5mb_line": dict(Counter(found["continuations"])),
        "duplicates": len(found["documents"])
        - len(indexed)
        + len(fwd["documents"])
        - len(set(fwd["documents"])),
        "lost": len(set(category) - indexed - set(letters))
        + len(set(sent_fwd) - set(fwd["documents"])),
    }
    print(ledger)
    LEDGER.append({"scenario": "bad-input corpus", **ledger})
    assert (ledger["lost"], ledger["duplicates"]) == (0, 0), ledger
    assert indexed & set(letters) == set()
    outcome = {eid: letters.get(eid, "indexed") for eid in category}
    by_category: dict[str, set[str]] = {}
    for eid, cat in category.items():
        by_category.setdefault(cat, set()).add(outcome[eid])
    assert by_category == {
        "good": {"indexed"},
        "broken": {"invalid_json"},
        "truncated": {"invalid_json"},
        "list": {"not_an_object"},
        "string": {"not_an_object"},
        "bad-utf8": {"invalid_utf8"},
        "nul": {"invalid_json"},
        "surrogate": by_category["surrogate"] & {"indexed", "invalid_json", "invalid_utf8"},
        "deep-json": {"invalid_json"},
        "deep-es": by_category["deep-es"] & {"mapping_conflict", "index_rejected"},
        "conflict": {"mapping_conflict"},
        "speaks-for-logway": {"indexed"},
        "garbage-event-id": {"indexed"},
        "cut-char": {"indexed"},
        "split": {"indexed"},
        "between": {"indexed"},
        "unfinished": {"partial_timeout"},
        "huge": {"too_large"},
    }, by_category
    assert by_category["surrogate"]
    assert by_category["deep-es"]
    assert fwd["letters"] == {}

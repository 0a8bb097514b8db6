"""A tenant pipeline end to end, without Kafka: raw bytes in, outcomes out."""

import itertools
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from logway.core.deadletter import DeadLetter, Reason, Stage
from logway.core.kubernetes import PodRecord
from streams.pipeline import Outcome, TenantPipeline
from streams.steps.base import Record
from topology.model import Tenant

FIXTURES = Path(__file__).parents[2] / "fixtures" / "lines"
KAFKA_TIME = 1_764_064_800_000  # 2025-11-25T10:00:00Z


def tenant(**fields: Any) -> Tenant:
    owners = {"team": "t", "slack_channel": "#t", "webhook_secret": "T_HOOK"}
    return Tenant.model_validate({"name": "acme", "owners": owners, **fields})


def pipeline(**fields: Any) -> TenantPipeline:
    spec = tenant(**fields)
    return TenantPipeline(spec.name, spec.pipeline, spec.routes, version="v1")


def record(offset: int = 0, key: bytes | None = b"pod-a") -> Record:
    return Record("logs.acme.raw", 0, offset, key, KAFKA_TIME)


def document(outcome: Outcome) -> dict[str, Any]:
    assert outcome.output is not None
    assert outcome.output.reason is None, outcome
    value: dict[str, Any] = orjson.loads(outcome.output.value)
    return value


def dead_letter(outcome: Outcome) -> DeadLetter:
    assert outcome.output is not None
    assert outcome.output.reason is not None, outcome
    return DeadLetter.from_bytes(outcome.output.value)


def test_default_pipeline_parses_json_and_stamps_the_origin() -> None:
    out = pipeline().process(b'{"level": "info", "msg": "hi"}', record(7))
    assert out.output is not None
    assert out.output.topic == "logs.acme.processed"
    assert out.output.key == b"logs.acme.raw:0:7:0"
    assert document(out) == {
        "level": "info",
        "msg": "hi",
        "@timestamp": "2025-11-25T10:00:00.000Z",
        "logway": {
            "tenant": "acme",
            "id": "logs.acme.raw:0:7:0",
            "origin": {"topic": "logs.acme.raw", "partition": 0, "offset": 7, "index": 0},
            "received_at": "2025-11-25T10:00:00.000Z",
            "route": "default",
            "tenant_version": "v1",
        },
        "data_stream": {"type": "logs", "dataset": "acme", "namespace": "default"},
    }


def test_a_tenant_cannot_forge_the_logway_block() -> None:
    doc = document(pipeline().process(b'{"logway": {"tenant": "someone-else"}}', record()))
    assert doc["logway"]["tenant"] == "acme"


def test_parse_failure_goes_to_the_tenant_dlq_with_everything_to_replay_it() -> None:
    raw = b'{"seq": 3, "msg": "cut off'
    out = pipeline().process(raw, record(3))
    assert out.output is not None
    assert out.output.topic == "logs.acme.dlq"
    assert out.output.key == b"logs.acme.raw:0:3:0"
    letter = dead_letter(out)
    assert (letter.tenant, letter.stage, letter.step, letter.reason) == (
        "acme",
        Stage.PROCESSOR,
        "parse",
        Reason.INVALID_JSON,
    )
    assert letter.original_bytes() == raw
    assert (letter.source.topic, letter.source.partition, letter.source.offset) == (
        "logs.acme.raw",
        0,
        3,
    )
    assert letter.tenant_version == "v1"
    assert letter.record_time is not None


def test_invalid_utf8_is_kept_as_base64() -> None:
    raw = b'{"msg": "caf\xc3\x28"}'
    letter = dead_letter(pipeline().process(raw, record()))
    assert (letter.step, letter.reason, letter.original_encoding) == (
        "decode",
        Reason.INVALID_UTF8,
        "base64",
    )
    assert letter.original_bytes() == raw


def test_an_exception_inside_a_step_dead_letters_only_that_record() -> None:
    p = pipeline()

    def broken(doc: dict[str, Any], rec: Record) -> Any:
        if doc.get("boom"):
            raise KeyError("surprise")
        return doc

    p.steps = (*p.steps, broken)
    p.step_names = (*p.step_names, "broken")
    letter = dead_letter(p.process(b'{"boom": true}', record(1)))
    assert (letter.step, letter.reason) == ("broken", Reason.INTERNAL_ERROR)
    assert "KeyError" in letter.error
    assert document(p.process(b'{"boom": false}', record(2)))["boom"] is False


def test_routes_first_match_wins_and_default_takes_the_rest() -> None:
    p = pipeline(
        routes=[
            {"index": "audit", "when": 'kind == "audit"'},
            {"index": "errors", "when": 'level == "error"'},
            {"index": "default"},
        ]
    )
    route = lambda raw: document(p.process(raw, record()))["logway"]["route"]  # noqa: E731
    assert route(b'{"kind": "audit", "level": "error"}') == "audit"
    assert route(b'{"level": "error"}') == "errors"
    assert route(b'{"level": "info"}') == "default"


def test_a_full_pipeline() -> None:
    p = pipeline(
        pipeline=[
            {"step": "parse", "format": "json"},
            {"step": "timestamp", "field": "ts", "remove_source": True},
            {"step": "rename", "field": "msg", "to": "message"},
            {"step": "mask", "pattern": r"card=\d+"},
            {"step": "drop", "when": 'level == "debug"'},
            {"step": "sample", "rate": 1.0, "when": 'level == "info"'},
        ],
    )
    raw = b'{"ts": "2026-11-25T11:00:00+01:00", "level": "warn", "msg": "paid card=4111"}'
    doc = document(p.process(raw, record()))
    assert doc["@timestamp"] == "2026-11-25T10:00:00.000Z"
    assert doc["message"] == "paid [masked]"
    assert "ts" not in doc
    dropped = p.process(b'{"level": "debug"}', record())
    assert dropped == Outcome(dropped="rule")


def test_reassembles_the_recorded_docker_split_line() -> None:
    p = pipeline(
        pipeline=[
            {"step": "parse", "format": "docker"},
            {"step": "reassemble"},
            {"step": "parse", "format": "json"},
        ]
    )
    lines = (FIXTURES / "docker-split.jsonl").read_bytes().splitlines()
    outcomes = [p.process(line, record(offset)) for offset, line in enumerate(lines)]
    *pieces, last_piece, ordinary = outcomes
    assert all(o.held for o in pieces)
    assert last_piece.released == tuple(range(len(pieces)))
    doc = document(last_piece)
    assert doc["stack_trace"].count("\n\tat com.example.payments.Ledger") == 1000
    assert doc["logway"]["id"] == "logs.acme.raw:0:0:0"  # the first piece names the line
    assert doc["stream"] == "stderr"
    assert document(ordinary)["message"] == "next request"


def test_reassembles_the_recorded_cri_partial_line() -> None:
    p = pipeline(
        pipeline=[
            {"step": "parse", "format": "cri"},
            {"step": "reassemble"},
            {"step": "parse", "format": "json"},
        ]
    )
    lines = (FIXTURES / "cri-partial.log").read_bytes().splitlines()
    outcomes = [p.process(line, record(offset)) for offset, line in enumerate(lines)]
    assert [o.held for o in outcomes] == [True] * 4 + [False, False]
    assert document(outcomes[4])["level"] == "ERROR"
    assert document(outcomes[5])["level"] == "INFO"


def test_a_reassembled_line_that_does_not_parse_is_dead_lettered_whole() -> None:
    p = pipeline(
        pipeline=[
            {"step": "parse", "format": "cri"},
            {"step": "reassemble"},
            {"step": "parse", "format": "json"},
        ]
    )
    assert p.process(b"2026-11-25T10:00:00Z stdout P {not", record(0)).held
    out = p.process(b"2026-11-25T10:00:00Z stdout F  json}", record(1))
    letter = dead_letter(out)
    assert letter.original_bytes() == b"{not json}"
    assert letter.event_id == "logs.acme.raw:0:0:0"
    assert out.released == (0,)


@pytest.mark.parametrize(
    ("on_cut", "expected"), [("emit_partial", None), ("dead_letter", Reason.PARTIAL_TIMEOUT)]
)
def test_a_line_whose_end_never_comes_is_cut_after_the_timeout(
    on_cut: str, expected: Reason | None
) -> None:
    p = pipeline(
        pipeline=[
            {"step": "parse", "format": "cri"},
            {"step": "reassemble", "timeout_s": 1, "on_cut": on_cut},
        ]
    )
    assert p.reassembler is not None
    now = [100.0]
    p.reassembler.clock = lambda: now[0]
    assert p.process(b"2026-11-25T10:00:00Z stdout P first ", record(0)).held
    assert p.process(b"2026-11-25T10:00:00Z stdout P second", record(1)).held
    assert list(p.expire()) == []
    now[0] = 101.5
    [(_rec, out)] = list(p.expire())
    assert out.released == (0, 1)
    if expected is None:
        doc = document(out)
        assert doc["message"] == "first second"
        assert doc["logway"]["partial"] is True
    else:
        assert dead_letter(out).reason is expected
    assert len(p.reassembler) == 0


def test_an_oversized_line_is_cut_at_max_bytes() -> None:
    p = pipeline(
        pipeline=[
            {"step": "parse", "format": "cri"},
            {"step": "reassemble", "max_bytes": 16_384, "on_cut": "dead_letter"},
        ]
    )
    piece = "x" * 10_000
    assert p.process(f"T stdout P {piece}".encode(), record(0)).held
    out = p.process(f"T stdout P {piece}".encode(), record(1))
    assert dead_letter(out).reason is Reason.TOO_LARGE
    assert out.released == (0,)


def test_forgetting_a_revoked_partition_drops_its_buffers_only() -> None:
    p = pipeline(pipeline=[{"step": "parse", "format": "cri"}, {"step": "reassemble"}])
    assert p.reassembler is not None
    p.process(b"T stdout P a", Record("logs.acme.raw", 0, 0, b"k", KAFKA_TIME))
    p.process(b"T stdout P b", Record("logs.acme.raw", 1, 0, b"k", KAFKA_TIME))
    p.forget("logs.acme.raw", 0)
    assert len(p.reassembler) == 1


def test_an_event_named_by_its_producer_keeps_that_id_wherever_it_lands() -> None:
    p = pipeline()
    named = record(40)
    named.event_id = "fwd:acme:chunk-1:3"
    out = p.process(b'{"msg": "hi"}', named)
    assert out.output is not None
    assert out.output.key == b"fwd:acme:chunk-1:3"
    assert document(out)["logway"]["id"] == "fwd:acme:chunk-1:3"
    assert document(out)["logway"]["origin"]["offset"] == 40  # where it was read stays known
    again = record(41)
    again.event_id = "fwd:acme:chunk-1:4"
    letter = dead_letter(p.process(b"{cut", again))
    assert letter.event_id == "fwd:acme:chunk-1:4"
    assert letter.source.offset == 41


def test_a_document_over_the_topic_limit_is_dead_lettered_not_produced() -> None:
    big = "b" * 12_000
    spec = tenant(
        pipeline=[
            {"step": "parse", "format": "json"},
            {"step": "set", "field": "padding", "value": big},
        ]
    )
    small = TenantPipeline(spec.name, spec.pipeline, spec.routes, max_record_bytes=20_000)
    raw = orjson.dumps({"msg": "m" * 12_000})  # fits the raw topic; padded, it does not
    out = small.process(raw, record(3))
    letter = dead_letter(out)
    assert out.output is not None
    assert out.output.topic == "logs.acme.dlq"
    assert (letter.reason, letter.step) == (Reason.TOO_LARGE, "route")
    assert "max_record_bytes" in letter.error
    assert letter.original_bytes() == raw  # the letter itself fits, whole
    assert len(out.output.value) <= 20_000 - 1_024


@pytest.mark.parametrize("text", [True, False])
def test_a_dead_letter_over_the_topic_limit_keeps_the_head_of_its_original(text: bool) -> None:
    small = TenantPipeline("acme", max_record_bytes=20_000)
    raw = (b'{"broken": "' + b'\xc3\xa9"' * 30_000) if text else b"\xff" * 30_000
    out = small.process(raw, record(9))
    letter = dead_letter(out)
    assert out.output is not None
    assert len(out.output.value) <= 20_000 - 1_024
    kept = letter.original_bytes()
    assert 0 < len(kept) < len(raw)
    assert raw.startswith(kept)
    assert f"the original is {len(raw)} bytes; its first {len(kept)} are kept" in letter.error
    assert "the whole record is in logs.acme.raw partition 0 at offset 9" in letter.error


@pytest.mark.parametrize(
    "fields",
    [
        {"logway.tenant": "payments", "logway.origin.topic": "logs.payments.raw"},
        {"logway": {"tenant": "payments"}, "logway.route": "x"},
        {"logway": "payments"},
    ],
)
def test_what_a_record_brings_under_logway_is_moved_aside_and_flagged(
    fields: dict[str, Any],
) -> None:
    out = pipeline().process(orjson.dumps({"msg": "hi", **fields}), record(3))
    doc = document(out)
    assert [key for key in doc if key.startswith("logway")] == ["logway_foreign", "logway"]
    assert doc["logway_foreign"] == fields  # nothing the record said is lost
    assert doc["logway"]["tenant"] == "acme"
    assert doc["logway"]["foreign_fields_moved"] is True
    assert out.output is not None
    assert out.output.flags == ("foreign_fields_moved",)


def test_a_record_without_logway_fields_is_not_flagged() -> None:
    out = pipeline().process(b'{"msg": "hi", "logwayish": 1, "log": {"way": 2}}', record(3))
    doc = document(out)
    assert doc["logwayish"] == 1
    assert "logway_foreign" not in doc
    assert out.output is not None
    assert out.output.flags == ()


CRI_JSON = [
    {"step": "parse", "format": "cri"},
    {"step": "reassemble"},
    {"step": "parse", "format": "json"},
]


def cri_pieces(line: bytes, cuts: list[int], stream: bytes = b"stdout") -> list[bytes]:
    """`line` as a CRI runtime writes it when it cuts at the byte offsets `cuts`."""
    bounds = [0, *cuts, len(line)]
    parts = [line[a:b] for a, b in itertools.pairwise(bounds)]
    return [
        b"2026-11-25T10:00:00Z " + stream + (b" P " if i < len(parts) - 1 else b" F ") + part
        for i, part in enumerate(parts)
    ]


@pytest.mark.parametrize("char", ["é", "€", "😀"])
def test_a_character_cut_between_cri_pieces_is_whole_again(char: str) -> None:
    p = pipeline(pipeline=CRI_JSON)
    line = ('{"msg": "' + "a" * 20 + char + "b" * 20 + '"}').encode()
    start = line.index(char.encode())
    for cut in range(start + 1, start + len(char.encode())):  # every cut inside the character
        pieces = cri_pieces(line, [cut])
        first = p.process(pieces[0], record(10 * cut))
        assert first.held
        out = p.process(pieces[1], record(10 * cut + 1))
        assert document(out)["msg"] == "a" * 20 + char + "b" * 20
        assert out.released == (10 * cut,)
        after = p.process(b'2026-11-25T10:00:00Z stdout F {"msg": "next"}', record(10 * cut + 2))
        assert document(after)["msg"] == "next"  # not glued onto the line before it
    assert len(p.reassembler or ()) == 0


def test_a_line_cut_in_three_inside_two_characters() -> None:
    p = pipeline(pipeline=CRI_JSON)
    line = '{"msg": "€€€"}'.encode()
    outcomes = [p.process(piece, record(i)) for i, piece in enumerate(cri_pieces(line, [10, 14]))]
    assert [o.held for o in outcomes] == [True, True, False]
    assert document(outcomes[2])["msg"] == "€€€"


def test_bytes_still_invalid_once_joined_are_dead_lettered_whole_as_invalid_utf8() -> None:
    p = pipeline(pipeline=CRI_JSON)
    line = b'{"msg": "\xff ' + "é".encode() + b'"}'
    pieces = cri_pieces(line, [line.index(b"\xc3") + 1])
    assert p.process(pieces[0], record(0)).held
    letter = dead_letter(p.process(pieces[1], record(1)))
    assert letter.reason == Reason.INVALID_UTF8
    assert letter.original_bytes() == line  # the joined bytes, exactly
    whole = dead_letter(p.process(b"2026-11-25T10:00:00Z stdout F \xc3\x28", record(2)))
    assert whole.reason == Reason.INVALID_UTF8
    assert whole.step == "decode"


def test_a_line_cut_by_the_timeout_inside_a_character_is_emitted_partial() -> None:
    p = pipeline(
        pipeline=[{"step": "parse", "format": "cri"}, {"step": "reassemble", "timeout_s": 1}]
    )
    line = "waiting for €".encode()
    assert p.process(b"2026-11-25T10:00:00Z stdout P " + line[:-1], record(0)).held
    [(_record, out)] = list(p.expire(now=time.monotonic() + 5))
    doc = document(out)
    assert doc["message"] == "waiting for "
    assert doc["logway"]["partial"] is True


LOG_PATH = b"/var/log/containers/web-7d9f8-x2x_shop_app-" + b"0123456789abcdef" * 4 + b".log"


def test_a_record_from_a_claimed_namespaces_log_file_gets_its_kubernetes_metadata() -> None:
    pod = PodRecord(
        namespace="shop",
        name="web-7d9f8-x2x",
        uid="u-1",
        node="node-3",
        labels={"app": "web", "app.kubernetes.io/name": "web"},
    )
    p = TenantPipeline(
        "acme",
        namespaces=frozenset({"shop"}),
        pods=lambda ns, name: pod if (ns, name) == ("shop", "web-7d9f8-x2x") else None,
    )
    doc = document(p.process(b'{"msg": "hi", "container": "mine"}', record(0, LOG_PATH)))
    assert doc["kubernetes"] == {
        "namespace": "shop",
        "pod": {"name": "web-7d9f8-x2x", "uid": "u-1"},
        "container": {"name": "app"},
        "node": {"name": "node-3"},
        "labels": {"app": "web", "app.kubernetes.io/name": "web"},
        "annotations": {},
    }
    assert doc["container"] == {"id": "0123456789abcdef" * 4}
    assert doc["logway_foreign"] == {"container": "mine"}  # the record's own, moved aside
    assert doc["logway"]["foreign_fields_moved"] is True


UID = "0b7c9e2a-1f3d-4c5e-9a8b-7c6d5e4f3a2b"
POD_LOG = f"/var/log/pods/shop_web-7d9f8-x2x_{UID}/app/0.log".encode()


@pytest.mark.parametrize(("uid", "labelled"), [(UID, True), ("a-later-pod", False)])
def test_the_agents_pod_log_path_gives_the_pod_and_labels_only_of_the_same_pod(
    uid: str, labelled: bool
) -> None:
    """A pod recreated under the same name is another pod: the labels of the one the watcher
    knows are not given to the lines of the file of an earlier one."""
    pod = PodRecord(namespace="shop", name="web-7d9f8-x2x", uid=uid, labels={"app": "web"})
    p = TenantPipeline("acme", namespaces=frozenset({"shop"}), pods=lambda ns, name: pod)
    doc = document(p.process(b'{"msg": "hi"}', record(0, POD_LOG)))
    assert doc["kubernetes"]["pod"] == {"name": "web-7d9f8-x2x", "uid": UID}
    assert doc["kubernetes"]["container"] == {"name": "app"}
    assert ("labels" in doc["kubernetes"]) is labelled
    assert "container" not in doc  # the path names no container id


def test_a_log_path_of_another_namespace_gets_no_metadata() -> None:
    """A tenant producing directly cannot name another tenant's pod to read its labels."""
    pods = {("shop", "web-7d9f8-x2x"): PodRecord(namespace="shop", name="w", uid="u")}
    p = TenantPipeline("acme", namespaces=frozenset({"acme"}), pods=lambda n, p: pods[(n, p)])
    doc = document(p.process(b'{"msg": "hi"}', record(0, LOG_PATH)))
    assert "kubernetes" not in doc
    assert "container" not in doc


def test_a_record_cannot_forge_its_data_stream() -> None:
    doc = document(pipeline().process(b'{"data_stream.dataset": "other"}', record()))
    assert doc["data_stream"]["dataset"] == "acme"
    assert doc["logway_foreign"] == {"data_stream.dataset": "other"}

"""Decoding forward-protocol frames: every mode, and refusals (never exceptions) for the rest."""

import gzip
import hashlib
import struct

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.gateway import protocol
from connectors.gateway.protocol import Entries, Ping, Refusal, RefusalReason


def roundtrip(frame: object) -> object:
    """What the server's unpacker makes of `frame` sent by a client."""
    unpacker = protocol.unpacker(1 << 20)
    unpacker.feed(msgpack.packb(frame, use_bin_type=True))
    return protocol.decode(unpacker.unpack())


def event_time(seconds: int, nanoseconds: int) -> msgpack.ExtType:
    return msgpack.ExtType(0, struct.pack(">II", seconds, nanoseconds))


def packed(*entries: object) -> bytes:
    return b"".join(msgpack.packb(entry, use_bin_type=True) for entry in entries)


def test_message_mode() -> None:
    assert roundtrip(["acme.web", 1_764_064_800, {"msg": "hi"}]) == Entries(
        "acme.web", [(1_764_064_800.0, {"msg": "hi"})], None
    )


def test_message_mode_with_event_time_and_chunk() -> None:
    frame = ["acme.web", event_time(1_764_064_800, 500_000_000), {"a": 1}, {"chunk": "c1"}]
    assert roundtrip(frame) == Entries("acme.web", [(1_764_064_800.5, {"a": 1})], "c1")


def test_forward_mode() -> None:
    frame = ["acme.web", [[1, {"a": 1}], [event_time(2, 0), {"b": 2}]], {"chunk": "x"}]
    assert roundtrip(frame) == Entries("acme.web", [(1.0, {"a": 1}), (2.0, {"b": 2})], "x")


def test_packed_forward_mode() -> None:
    frame = ["acme.web", packed([1, {"a": 1}], [2, {"b": 2}]), {"size": 2}]
    assert roundtrip(frame) == Entries("acme.web", [(1.0, {"a": 1}), (2.0, {"b": 2})], None)


def test_compressed_packed_forward_mode() -> None:
    body = gzip.compress(packed([1, {"a": 1}])) + gzip.compress(packed([2, {"b": 2}]))
    frame = ["acme.web", body, {"compressed": "gzip", "chunk": "z"}]
    assert roundtrip(frame) == Entries("acme.web", [(1.0, {"a": 1}), (2.0, {"b": 2})], "z")


@pytest.mark.parametrize(
    ("frame", "reason", "detail"),
    [
        (42, RefusalReason.MALFORMED, "array"),
        (["acme.web"], RefusalReason.MALFORMED, "array"),
        ([7, 1, {}], RefusalReason.MALFORMED, "tag"),
        (["acme.web", 1, "not a map"], RefusalReason.MALFORMED, "message mode"),
        (["acme.web", 1, {}, {}, {}], RefusalReason.MALFORMED, "message mode"),
        (["acme.web", [[1]]], RefusalReason.MALFORMED, "[time, record]"),
        (["acme.web", [["yesterday", {}]]], RefusalReason.MALFORMED, "[time, record]"),
        (["acme.web", [[True, {}]]], RefusalReason.MALFORMED, "[time, record]"),
        (["acme.web", packed([1, {"a": 1}])[:-1]], RefusalReason.MALFORMED, "middle of an entry"),
        (["acme.web", b"\x00" * 4, {"compressed": "gzip"}], RefusalReason.MALFORMED, "gzip"),
        (["acme.web", b"", {"compressed": "zstd"}], RefusalReason.UNSUPPORTED_COMPRESSION, "zstd"),
        (["acme.web", [], {"chunk": 12}], RefusalReason.MALFORMED, "chunk"),
        (["acme.web", [], "opt"], RefusalReason.MALFORMED, "option"),
        (["acme.web", {"a": 1}], RefusalReason.MALFORMED, "second item"),
        (["PING", "host"], RefusalReason.MALFORMED, "PING"),
        (["PING", 1, b"s", "d", "", ""], RefusalReason.MALFORMED, "types"),
    ],
)
def test_bad_frames_are_refused_with_a_reason(
    frame: object, reason: RefusalReason, detail: str
) -> None:
    result = roundtrip(frame)
    assert isinstance(result, Refusal)
    assert result.reason is reason
    assert detail in result.detail


def test_ping_and_the_handshake_digests() -> None:
    nonce, salt = b"n" * 16, b"salt"
    key_digest = hashlib.sha512(salt + b"client" + nonce + b"key").hexdigest()
    result = roundtrip(["PING", "client", salt, key_digest, "", ""])
    assert result == Ping("client", salt, key_digest, "", "")
    assert protocol.digest(salt, "client", nonce, "key") == key_digest
    assert protocol.digest(salt, "client", nonce, "other") != key_digest
    helo = msgpack.unpackb(protocol.helo(nonce))
    assert helo == ["HELO", {"nonce": nonce, "auth": b"", "keepalive": True}]
    assert msgpack.unpackb(protocol.pong(True, "", "gw", "sig")) == ["PONG", True, "", "gw", "sig"]
    assert msgpack.unpackb(protocol.ack("c1")) == {"ack": "c1"}


def test_an_oversized_frame_is_refused_before_it_is_buffered() -> None:
    unpacker = protocol.unpacker(1024)
    with pytest.raises(msgpack.BufferFull):
        unpacker.feed(msgpack.packb(["acme.web", 1, {"pad": "x" * 2000}]))


VALID_FRAMES = [
    msgpack.packb(["acme.web", 1, {"msg": "hi"}, {"chunk": "c"}]),
    msgpack.packb(["acme.web", [[1, {"a": [1, 2]}], [2, {"b": {"c": None}}]]]),
    msgpack.packb(["acme.web", packed([1, {"a": 1}], [2, {"b": 2}]), {"size": 2}]),
    msgpack.packb(["acme.web", gzip.compress(packed([1, {"a": 1}])), {"compressed": "gzip"}]),
    msgpack.packb(["PING", "client", b"salt", "0" * 128, "", ""]),
]


@st.composite
def mutated_frame(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(st.sampled_from(VALID_FRAMES)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(frame) - 1))
        frame[at] = draw(st.integers(0, 255))
    return bytes(frame[: draw(st.integers(1, len(frame)))])


def decode_all(data: bytes) -> None:
    unpacker = protocol.unpacker(4096)
    unpacker.feed(data)
    try:
        for frame in unpacker:
            assert isinstance(protocol.decode(frame), Entries | Ping | Refusal)
    except protocol.UNPACK_ERRORS:
        pass  # the server closes such a connection as `malformed`


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_from_decode(data: bytes) -> None:
    decode_all(data)


@settings(max_examples=1000, deadline=None)
@given(mutated_frame())
def test_mutated_frames_never_raise_from_decode(data: bytes) -> None:
    decode_all(data)

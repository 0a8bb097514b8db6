"""The Fluentd Forward Protocol v1, server side: frames in, entries and answers out. Pure.

A frame is one msgpack array (https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1):
- Message: `[tag, time, record, option?]`;
- Forward: `[tag, [[time, record], ...], option?]`;
- PackedForward: `[tag, <bin: concatenated msgpack [time, record] entries>, option?]`;
- CompressedPackedForward: PackedForward with `option.compressed == "gzip"`;
- the handshake: the server says `["HELO", {nonce, auth, keepalive}]`, the client answers
  `["PING", hostname, salt, sha512_hex(salt + hostname + nonce + key), username, password]`,
  the server `["PONG", ok, reason, hostname, sha512_hex(salt + hostname + nonce + key)]`.
`time` is an integer (seconds) or an EventTime (ext type 0: seconds and nanoseconds, big-endian).
An `option.chunk` asks for `{"ack": chunk}` once the entries are stored.

Decoding never raises for bad input: a frame that is not one of the above is a `Refusal` with a
bounded reason, and the server closes that connection.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgpack

MAX_ENTRIES_PER_FRAME = 1_000_000
# What msgpack raises for bytes that are not msgpack (TypeError: a map key that is a list).
UNPACK_ERRORS = (ValueError, TypeError, msgpack.UnpackException)


class RefusalReason(StrEnum):
    """Why a connection was closed. Bounded: it is a metric label."""

    MALFORMED = "malformed"
    OVERSIZED = "oversized"
    UNSUPPORTED_COMPRESSION = "unsupported_compression"
    UNKNOWN_TENANT = "unknown_tenant"
    WRONG_TENANT = "wrong_tenant"
    AUTH_FAILED = "auth_failed"
    AUTH_REQUIRED = "auth_required"
    IDLE = "idle"
    TOO_MANY_CONNECTIONS = "too_many_connections"


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: RefusalReason
    detail: str


@dataclass(frozen=True, slots=True)
class Entries:
    """The events of one data frame: `(time in seconds, record)` pairs, and the chunk to ack."""

    tag: str
    events: list[tuple[float, dict[str, Any]]]
    chunk: str | None


@dataclass(frozen=True, slots=True)
class Ping:
    hostname: str
    salt: bytes
    digest: str
    username: str
    password: str


def event_time(code: int, data: bytes) -> Any:
    """msgpack ext hook: EventTime (type 0) becomes float seconds."""
    if code == 0 and len(data) == 8:
        seconds, nanoseconds = struct.unpack(">II", data)
        return seconds + nanoseconds / 1e9
    return msgpack.ExtType(code, data)


def unpacker(max_frame_bytes: int) -> msgpack.Unpacker:
    """A streaming decoder that refuses to buffer more than one frame's worth."""
    return msgpack.Unpacker(
        raw=False,
        ext_hook=event_time,
        max_buffer_size=max_frame_bytes,
        strict_map_key=False,
        unicode_errors="surrogateescape",
    )


def decode(frame: object) -> Entries | Ping | Refusal:
    """What a decoded msgpack object from a client is."""
    if not isinstance(frame, list | tuple) or len(frame) < 2:
        return Refusal(RefusalReason.MALFORMED, "a frame is an array of at least 2 items")
    head = frame[0]
    if head == "PING":
        return _ping(frame)
    if not isinstance(head, str) or not head:
        return Refusal(RefusalReason.MALFORMED, "the first item of a frame is the tag")
    body = frame[1]
    if isinstance(body, int | float) and not isinstance(body, bool):
        return _message(head, body, frame)
    option = _option(frame, 2)
    events = option if isinstance(option, Refusal) else _batch(body, option)
    if isinstance(events, Refusal):
        return events
    assert isinstance(option, dict)
    return Entries(head, events, option.get("chunk"))


def _batch(body: object, option: dict[str, Any]) -> list[tuple[float, dict[str, Any]]] | Refusal:
    """The entries of Forward (a list) or (Compressed)PackedForward (bytes) mode."""
    if isinstance(body, list | tuple):
        return _events(body)
    if isinstance(body, bytes | str):
        return _packed(body, option.get("compressed"))
    return Refusal(RefusalReason.MALFORMED, "the second item is a time, entries or packed entries")


def _message(tag: str, time: float, frame: list[Any] | tuple[Any, ...]) -> Entries | Refusal:
    if len(frame) not in (3, 4) or not isinstance(frame[2], dict):
        return Refusal(RefusalReason.MALFORMED, "message mode is [tag, time, record, option?]")
    option = _option(frame, 3)
    if isinstance(option, Refusal):
        return option
    return Entries(tag, [(float(time), frame[2])], option.get("chunk"))


def _packed(body: bytes | str, compressed: object) -> list[tuple[float, dict[str, Any]]] | Refusal:
    packed = body if isinstance(body, bytes) else body.encode("utf-8", "surrogateescape")
    if compressed not in (None, "text", "gzip"):
        return Refusal(
            RefusalReason.UNSUPPORTED_COMPRESSION, f"compressed {compressed!r}: only gzip"
        )
    if compressed == "gzip":
        try:
            packed = gzip.decompress(packed)
        except (OSError, EOFError, zlib.error) as exc:
            return Refusal(RefusalReason.MALFORMED, f"gzip: {exc}")
    return _packed_events(packed)


def _option(frame: list[Any] | tuple[Any, ...], at: int) -> dict[str, Any] | Refusal:
    if len(frame) <= at or frame[at] is None:
        return {}
    option = frame[at]
    if len(frame) > at + 1 or not isinstance(option, dict):
        return Refusal(RefusalReason.MALFORMED, "the option is a map, and the frame's last item")
    chunk = option.get("chunk")
    if chunk is not None and not isinstance(chunk, str):
        return Refusal(RefusalReason.MALFORMED, "option chunk is a string")
    return option


def _events(items: list[Any] | tuple[Any, ...]) -> list[tuple[float, dict[str, Any]]] | Refusal:
    events = []
    for item in items:
        if (
            not isinstance(item, list | tuple)
            or len(item) != 2
            or not isinstance(item[1], dict)
            or isinstance(item[0], bool)
            or not isinstance(item[0], int | float)
        ):
            return Refusal(RefusalReason.MALFORMED, "an entry is [time, record]")
        events.append((float(item[0]), item[1]))
    return events


def _packed_events(packed: bytes) -> list[tuple[float, dict[str, Any]]] | Refusal:
    inner = msgpack.Unpacker(
        raw=False,
        ext_hook=event_time,
        max_buffer_size=max(len(packed), 1),
        strict_map_key=False,
        unicode_errors="surrogateescape",
    )
    inner.feed(packed)
    items: list[Any] = []
    end = 0
    try:
        while len(items) <= MAX_ENTRIES_PER_FRAME:
            items.append(inner.unpack())
            end = inner.tell()
    except msgpack.OutOfData:
        pass
    except UNPACK_ERRORS as exc:
        return Refusal(RefusalReason.MALFORMED, f"packed entries: {exc}")
    if len(items) > MAX_ENTRIES_PER_FRAME:
        return Refusal(RefusalReason.OVERSIZED, "too many entries in one frame")
    if end != len(packed):
        return Refusal(RefusalReason.MALFORMED, "packed entries end in the middle of an entry")
    return _events(items)


def _ping(frame: list[Any] | tuple[Any, ...]) -> Ping | Refusal:
    if len(frame) != 6:
        return Refusal(
            RefusalReason.MALFORMED, "PING is [PING, hostname, salt, digest, user, pass]"
        )
    _, hostname, salt, digest, username, password = frame
    if isinstance(salt, str):
        salt = salt.encode("utf-8", "surrogateescape")
    if not (
        isinstance(hostname, str)
        and isinstance(salt, bytes)
        and isinstance(digest, str)
        and isinstance(username, str)
        and isinstance(password, str)
    ):
        return Refusal(RefusalReason.MALFORMED, "PING fields have the wrong types")
    return Ping(hostname, salt, digest, username, password)


def helo(nonce: bytes) -> bytes:
    """The server's greeting: a nonce to sign, no user authentication, keepalive on."""
    packed: bytes = msgpack.packb(["HELO", {"nonce": nonce, "auth": b"", "keepalive": True}])
    return packed


def digest(salt: bytes, hostname: str, nonce: bytes, shared_key: str) -> str:
    data = salt + hostname.encode() + nonce + shared_key.encode()
    return hashlib.sha512(data).hexdigest()


def pong(ok: bool, reason: str, hostname: str, signature: str) -> bytes:
    packed: bytes = msgpack.packb(["PONG", ok, reason, hostname, signature])
    return packed


def ack(chunk: str) -> bytes:
    packed: bytes = msgpack.packb({"ack": chunk})
    return packed

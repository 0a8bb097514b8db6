"""The forward-protocol gateway: fluent-logger clients in, `logs.<tenant>.raw` out. The same
process takes OTLP/HTTP logs (`connectors.gateway.otlp_http`) on its own port.

Contract, per connection:
- the server greets with HELO; a client that answers PING is checked against the shared key
  of each tenant that has one (`sources.forward.shared_key_secret`) and, if one matches, may
  write that tenant's tags only. A client that skips the handshake may write the tags of
  tenants that `allow_unauthenticated`. Every other tag closes the connection.
- a frame's tag is `<tenant>.<anything>`; each event becomes one record in `logs.<tenant>.raw`:
  the record as JSON (with `@timestamp` from the event time when it has none), keyed by the tag
  (one tag's events stay in order), timestamped with the event time, produced by one idempotent
  confluent-kafka producer with acks=all;
- a frame with `option.chunk` is answered `{"ack": chunk}` only after Kafka acknowledged every
  one of its events. When a delivery fails no ack is sent, so the client sends the chunk again;
- bounded: `max_frame_bytes`, `max_connections`, `idle_timeout_s`. A malformed, truncated or
  oversized frame closes that connection with a logged and counted reason; the server serves
  everyone else as before. When Kafka's local queue is full the gateway stops reading from
  clients until it drains (TCP pushes back), instead of buffering without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack
import orjson
from confluent_kafka import Producer

from connectors.gateway import protocol
from connectors.gateway.config import GatewayConfig
from connectors.gateway.otlp_http import serve_otlp
from connectors.gateway.protocol import Entries, Ping, Refusal, RefusalReason
from connectors.runtime.signals import stopped_by_signals
from logway.core.limits import max_value_bytes
from logway.core.metrics import (
    GATEWAY_ACKS,
    GATEWAY_CONNECTIONS,
    GATEWAY_FRAMES,
    GATEWAY_REFUSALS,
    TenantMeters,
)
from logway.core.names import TENANT_NAME_RE, raw_topic
from logway.core.origin import EVENT_ID_HEADER, forwarded_id_prefix
from streams.steps.timestamp import format_time
from topology.registry import TenantRegistry

log = logging.getLogger("logway.gateway")
READ_BYTES = 256 * 1024
# A client that speaks within this time of connecting is not waiting for a handshake, and gets
# no HELO. A HELO it never reads would make its close a TCP reset, and a reset throws away
# whatever it sent that the gateway had not read yet (seen with fluent-logger for Python).
HELO_AFTER_S = 0.3


@dataclass
class Chunk:
    """The deliveries one `chunk` waits for. Counted down on the producer's poll thread."""

    loop: asyncio.AbstractEventLoop
    remaining: int
    done: asyncio.Future[bool]
    failed: int = 0

    def delivered(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.failed += 1
        self.remaining -= 1
        if self.remaining == 0:
            self.loop.call_soon_threadsafe(_settle, self.done, self.failed == 0)


def _settle(future: asyncio.Future[bool], ok: bool) -> None:
    if not future.done():
        future.set_result(ok)


@dataclass
class Access:
    """What one connection may write."""

    tenants: frozenset[str] = frozenset()  # set by a successful handshake
    acks: list[asyncio.Task[None]] = field(default_factory=list)


class Gateway:
    """One gateway process: the listening server, its producer, and what tenants allow."""

    def __init__(self, config: GatewayConfig, registry: TenantRegistry, producer: Producer) -> None:
        self.config = config
        self.registry = registry
        self.producer = producer
        self.meters = TenantMeters("gateway")
        self.connections = 0
        self.delivery_failures = 0
        self._polling = threading.Event()

    def start_polling(self) -> threading.Thread:
        """Serve the producer's delivery callbacks from a thread of their own."""
        self._polling.set()

        def poll() -> None:
            while self._polling.is_set():
                self.producer.poll(0.05)

        thread = threading.Thread(target=poll, name="gateway-deliveries", daemon=True)
        thread.start()
        return thread

    def stop_polling(self) -> None:
        self._polling.clear()

    def tls(self) -> ssl.SSLContext | None:
        if not (self.config.tls_cert and self.config.tls_key):
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        return context

    async def serve(self) -> asyncio.Server:
        context = self.tls()
        return await asyncio.start_server(
            self.connection,
            self.config.host,
            self.config.port,
            ssl=context,
            # A TLS client that never finishes its handshake is dropped like an idle one.
            ssl_handshake_timeout=min(self.config.idle_timeout_s, 60) if context else None,
            limit=READ_BYTES,
        )

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if self.connections >= self.config.max_connections:
            self._refuse(peer, Refusal(RefusalReason.TOO_MANY_CONNECTIONS, "at the limit"))
            writer.close()
            return
        self.connections += 1
        GATEWAY_CONNECTIONS.labels(component="gateway").inc()
        access = Access()
        try:
            refusal = await self._converse(reader, writer, access)
            if refusal is not None:
                self._refuse(peer, refusal)
            if access.acks:
                await asyncio.gather(*access.acks, return_exceptions=True)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            # Events of this connection not yet read are gone with it; a client that asked for
            # acks sends them again, one that did not (fire and forget) has lost them.
            log.info("connection from %s ended abruptly: %r", peer, exc)
        finally:
            self.connections -= 1
            GATEWAY_CONNECTIONS.labels(component="gateway").dec()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, access: Access
    ) -> Refusal | None:
        nonce = os.urandom(16)
        first = await self._greet(reader, writer, nonce)
        unpacker = protocol.unpacker(self.config.max_frame_bytes)
        while True:
            data = first if first is not None else await self._read(reader)
            first = None
            if isinstance(data, Refusal):
                return data
            if not data:
                return None
            try:
                unpacker.feed(data)
            except msgpack.BufferFull:
                return Refusal(RefusalReason.OVERSIZED, f"over {self.config.max_frame_bytes} bytes")
            while True:
                try:
                    frame = unpacker.unpack()
                except msgpack.OutOfData:
                    break
                except protocol.UNPACK_ERRORS as exc:
                    return Refusal(RefusalReason.MALFORMED, f"not msgpack: {exc}")
                decoded = protocol.decode(frame)
                if isinstance(decoded, Refusal):
                    return decoded
                if isinstance(decoded, Ping):
                    refusal = self._handshake(decoded, nonce, writer, access)
                else:
                    refusal = await self._store(decoded, writer, access)
                if refusal is not None:
                    return refusal
                GATEWAY_FRAMES.labels(component="gateway").inc()

    async def _greet(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, nonce: bytes
    ) -> bytes | None:
        """The client's first bytes when it speaks within HELO_AFTER_S (a client that does not
        wait for the handshake, and gets no HELO); None once HELO was sent to one that waits."""
        try:
            return await asyncio.wait_for(reader.read(READ_BYTES), HELO_AFTER_S)
        except TimeoutError:
            writer.write(protocol.helo(nonce))
            return None

    async def _read(self, reader: asyncio.StreamReader) -> bytes | Refusal:
        try:
            return await asyncio.wait_for(reader.read(READ_BYTES), self.config.idle_timeout_s)
        except TimeoutError:
            return Refusal(RefusalReason.IDLE, f"nothing for {self.config.idle_timeout_s}s")

    def _handshake(
        self, ping: Ping, nonce: bytes, writer: asyncio.StreamWriter, access: Access
    ) -> Refusal | None:
        hostname = self.config.server_hostname or socket.gethostname()
        matched = [
            (tenant, key)
            for tenant, key in self.shared_keys()
            if protocol.digest(ping.salt, ping.hostname, nonce, key) == ping.digest
        ]
        if not matched:
            writer.write(protocol.pong(False, "shared key mismatch", hostname, ""))
            return Refusal(RefusalReason.AUTH_FAILED, f"client {ping.hostname!r}: no tenant's key")
        access.tenants = frozenset(tenant for tenant, _key in matched)
        if len(matched) > 1:  # the same key in two secrets: whoever holds it may write both
            log.warning("tenants %s share one shared key", ", ".join(sorted(access.tenants)))
        signature = protocol.digest(ping.salt, hostname, nonce, matched[0][1])
        writer.write(protocol.pong(True, "", hostname, signature))
        log.info("client %r authenticated for %s", ping.hostname, ", ".join(sorted(access.tenants)))
        return None

    def shared_keys(self) -> list[tuple[str, str]]:
        """(tenant, its forward shared key) for every tenant whose key is set."""
        keys = []
        for tenant, spec in self.registry.specs().items():
            forward = spec.sources.forward
            if forward is None or forward.shared_key_secret is None:
                continue
            key = os.environ.get(forward.shared_key_secret)
            if key:
                keys.append((tenant, key))
        return keys

    def _allowed(self, tenant: str, access: Access) -> Refusal | None:
        published = self.registry.get(tenant) if TENANT_NAME_RE.match(tenant) else None
        forward = published.spec.sources.forward if published else None
        if forward is None:
            return Refusal(
                RefusalReason.UNKNOWN_TENANT,
                f"tenant {tenant!r} is not applied or does not accept forwarded logs",
            )
        if access.tenants:
            if tenant not in access.tenants:
                return Refusal(
                    RefusalReason.WRONG_TENANT,
                    f"authenticated for {', '.join(sorted(access.tenants))}, "
                    f"sent a tag of {tenant!r}",
                )
            return None
        if not forward.allow_unauthenticated:
            return Refusal(RefusalReason.AUTH_REQUIRED, f"tenant {tenant!r} needs the handshake")
        return None

    async def _store(
        self, entries: Entries, writer: asyncio.StreamWriter, access: Access
    ) -> Refusal | None:
        tenant = entries.tag.split(".", 1)[0]
        refusal = self._allowed(tenant, access)
        if refusal is not None:
            return refusal
        topic = raw_topic(tenant)
        key = entries.tag.encode("utf-8", "surrogateescape")
        values = [_encode(moment, record) for moment, record in entries.events]
        published = self.registry.get(tenant)
        limit = max_value_bytes(published.spec.topics.max_record_bytes if published else None)
        largest = max(map(len, values), default=0)
        if largest > limit:
            # Kafka would refuse it for ever: say so now, before any event of the frame is
            # stored, instead of never acking a chunk the client then resends for ever.
            return Refusal(
                RefusalReason.OVERSIZED,
                f"an event of {largest} bytes; tenant {tenant!r} takes {limit} "
                "(topics.max_record_bytes less record framing)",
            )
        chunk = None
        if entries.chunk is not None:
            loop = asyncio.get_running_loop()
            chunk = Chunk(loop, len(entries.events), loop.create_future())
        callback = chunk.delivered if chunk else self._delivered
        produce = self.producer.produce
        size = 0
        # A chunk a client sends again (no ack came) keeps its id, so its events keep theirs:
        # the sink overwrites them instead of indexing them twice.
        named = forwarded_id_prefix(tenant, entries.chunk)
        for index, (moment, value) in enumerate(
            zip((m for m, _r in entries.events), values, strict=True)
        ):
            size += len(value)
            headers: list[tuple[str, str | bytes | None]] | None = (
                [(EVENT_ID_HEADER, f"{named}{index}".encode())] if named else None
            )
            while True:
                try:
                    produce(
                        topic,
                        value,
                        key,
                        on_delivery=callback,
                        timestamp=int(moment * 1000),
                        headers=headers,
                    )
                    break
                except BufferError:
                    await asyncio.sleep(0.005)  # Kafka's queue is full: stop reading meanwhile
        self.meters.read(tenant, size, len(entries.events))
        self.meters.finished(tenant, "produced", len(entries.events))
        if chunk is not None and entries.chunk is not None:
            if not entries.events:
                writer.write(protocol.ack(entries.chunk))
            else:
                access.acks.append(asyncio.create_task(self._ack(chunk, entries.chunk, writer)))
                access.acks = [task for task in access.acks if not task.done()]
        return None

    async def _ack(self, chunk: Chunk, name: str, writer: asyncio.StreamWriter) -> None:
        if await chunk.done:
            writer.write(protocol.ack(name))
            GATEWAY_ACKS.labels(component="gateway").inc()
        else:
            log.warning("chunk %r: %d event(s) not stored in Kafka; not acked", name, chunk.failed)

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.delivery_failures += 1
            log.error("an event sent without a chunk (no ack) was not stored: %s", err)

    def _refuse(self, peer: object, refusal: Refusal) -> None:
        GATEWAY_REFUSALS.labels(component="gateway", reason=refusal.reason).inc()
        log.warning("closing connection from %s: %s: %s", peer, refusal.reason, refusal.detail)


def _encode(moment: float, record: dict[str, Any]) -> bytes:
    """One event as a raw log line: its record as JSON, `@timestamp` added when absent."""
    if "@timestamp" not in record:
        record["@timestamp"] = format_time_s(moment)
    try:
        return orjson.dumps(record, default=_jsonable)
    except TypeError:  # text that is not UTF-8: keep it, escaped, for the processor to judge
        return json.dumps(record, default=_jsonable).encode()


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, msgpack.ExtType):
        return {"ext": value.code, "data": value.data.hex()}
    raise TypeError(type(value).__name__)


def format_time_s(moment: float) -> str:
    try:
        return format_time(datetime.fromtimestamp(moment, UTC))
    except (OverflowError, OSError, ValueError):
        return format_time(datetime.now(UTC))


async def _serve_forever(config: GatewayConfig) -> None:
    registry = TenantRegistry(config.kafka, "gateway").start()
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, registry.caught_up.wait, 60):
        log.warning("the tenants published in Kafka are not all read yet; serving anyway")
    producer = Producer(config.kafka.producer())
    gateway = Gateway(config, registry, producer)
    gateway.start_polling()
    server = await gateway.serve()
    addresses = ", ".join(str(s.getsockname()) for s in server.sockets)
    log.info("forward-protocol gateway listening on %s", addresses)
    otlp = None
    if config.otlp_port:
        otlp = await serve_otlp(gateway, config.host, config.otlp_port, gateway.tls())
        log.info("OTLP/HTTP logs in on %s:%d/v1/logs", config.host, config.otlp_port)
    stop = stopped_by_signals()
    try:
        async with server:
            await stop.wait()
        log.info("stopping: no new connections; sending what was taken to Kafka")
        if otlp is not None:
            await otlp.cleanup()  # answers the requests in flight first
    finally:
        # Chunks taken but not yet stored are stored now, and their acks sent; a client whose
        # ack does not come sends the chunk again (same event ids: no duplicates).
        await loop.run_in_executor(None, producer.flush, 30)
        await asyncio.sleep(0.2)
        gateway.stop_polling()
        registry.stop()


def run_gateway(config: GatewayConfig) -> None:
    """Run a gateway until it is stopped (SIGINT/SIGTERM): it stops taking connections, lets
    Kafka store what it took, acks it, and exits."""
    asyncio.run(_serve_forever(config))

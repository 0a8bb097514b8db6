"""OTLP/HTTP logs in: `POST /v1/logs` on the gateway, protobuf or JSON, gzip or not.

- **Who**: `Authorization: Bearer <key>`, the key being a tenant's forward shared key
  (`sources.forward.shared_key_secret`); it names the one tenant the records are for. A key
  two tenants share names neither (401), as does no key.
- **Stored, then answered**: each log record goes to `logs.<tenant>.raw` (see
  `connectors.gateway.otlp` for the document), and the answer comes once Kafka acknowledged
  every one of them. A record over the tenant's `topics.max_record_bytes` is refused alone:
  the answer is a partial success naming how many and why.
- **Back-pressure**: more than `otlp_max_inflight` requests at once gets 429, and Kafka not
  storing a request within `otlp_store_timeout_s` gets 503, both with `Retry-After`, which
  OTLP exporters honour. A request sent again keeps its records' ids: nothing is indexed
  twice. Only requests whose body has arrived count: one slower than `otlp_read_timeout_s`
  gets 408 and holds nothing meanwhile.
- **Bounded**: a request over `otlp_max_request_bytes` decompressed, or with more than
  `otlp_max_records` log records (counted on the wire before any is built), gets 413; at most
  `DECODERS` requests are read at once, in threads, off the event loop the forward protocol's
  clients share.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
from typing import Any

from aiohttp import web
from confluent_kafka import KafkaError

from connectors.gateway import otlp
from connectors.gateway.otlp import JSON, PROTOBUF, Unreadable
from logway.core.limits import max_value_bytes
from logway.core.metrics import OTLP_REQUESTS
from logway.core.names import raw_topic
from logway.core.origin import EVENT_ID_HEADER

log = logging.getLogger("logway.gateway.otlp")
DECODERS = 2  # requests read at once (threads)
RETRY_BUSY_S = 1
RETRY_UNSTORED_S = 5
# The body is read as sent: gzip is undone by `otlp.decode`, bounded, not by aiohttp.
SERVER_SETTINGS: dict[str, Any] = {"auto_decompress": False, "access_log": None}
STATUS = {
    otlp.Unread.CONTENT_TYPE: 415,
    otlp.Unread.CONTENT_ENCODING: 415,
    otlp.Unread.TOO_LARGE: 413,
    otlp.Unread.MALFORMED: 400,
}


class OtlpLogs:
    """The `/v1/logs` handler over one gateway's producer and tenants."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway  # connectors.gateway.server.Gateway (its producer, tenants)
        self.config = gateway.config
        self.inflight = 0
        self.decoders = asyncio.Semaphore(DECODERS)

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.config.otlp_max_request_bytes)
        app.router.add_post("/v1/logs", self.export)
        return app

    async def export(self, request: web.Request) -> web.Response:
        admitted = self._admit(request)
        if isinstance(admitted, web.Response):
            return admitted
        tenant, published = admitted
        try:  # the body first: a client slow to send it holds nothing shared
            body = await asyncio.wait_for(request.read(), self.config.otlp_read_timeout_s)
        except web.HTTPRequestEntityTooLarge:
            return _answer(413, "too_large", f"over {self.config.otlp_max_request_bytes} bytes")
        except TimeoutError:
            detail = f"the body took over {self.config.otlp_read_timeout_s:g} s"
            return _answer(408, "slow", detail)
        if self.inflight >= self.config.otlp_max_inflight:
            return _answer(429, "busy", "too many requests in flight", retry=RETRY_BUSY_S)
        self.inflight += 1
        try:
            return await self._take(request, body, tenant, published)
        finally:
            self.inflight -= 1

    def _admit(self, request: web.Request) -> tuple[str, Any] | web.Response:
        """(the tenant, its published version), or the answer refusing the request."""
        tenant = self._tenant(request.headers.get("Authorization", ""))
        if tenant is None:
            detail = "send one tenant's forward shared key as `Authorization: Bearer <key>`"
            return _answer(401, "unauthorized", detail, challenge=True)
        published = self.gateway.registry.get(tenant)
        if published is None:
            return _answer(403, "unknown_tenant", f"tenant {tenant!r} is not applied")
        return tenant, published

    async def _take(
        self, request: web.Request, body: bytes, tenant: str, published: Any
    ) -> web.Response:
        content_type = request.content_type
        # Reading a request is CPU work: off the event loop the forward clients share, and
        # never more at once than DECODERS (each bounded by the request and record limits).
        async with self.decoders:
            read = await asyncio.to_thread(
                _read,
                tenant,
                body,
                content_type,
                request.headers.get("Content-Encoding"),
                self.config.otlp_max_request_bytes,
                self.config.otlp_max_records,
            )
        if isinstance(read, Unreadable):
            return _answer(STATUS[read.reason], read.reason.value, read.detail)
        prefix, records = read
        limit = max_value_bytes(published.spec.topics.max_record_bytes)
        stored = await self._store(tenant, prefix, records, limit)
        if stored is None:
            detail = "Kafka did not store the records in time; send them again"
            return _answer(503, "kafka_unavailable", detail, retry=RETRY_UNSTORED_S)
        rejected, why = stored
        OTLP_REQUESTS.labels(component="gateway", outcome="partial" if rejected else "stored").inc()
        answer_type = PROTOBUF if content_type == PROTOBUF else JSON
        return web.Response(
            status=200, body=otlp.response(rejected, why, answer_type), content_type=answer_type
        )

    def _tenant(self, authorization: str) -> str | None:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key:
            return None
        matched = [
            tenant
            for tenant, secret in self.gateway.shared_keys()
            if hmac.compare_digest(secret.encode(), key.strip().encode())
        ]
        return matched[0] if len(matched) == 1 else None

    async def _store(
        self, tenant: str, prefix: str, records: list[otlp.OtlpRecord], limit: int
    ) -> tuple[int, str] | None:
        """(records refused, why) once Kafka stored every other record; None if it did not
        within `otlp_store_timeout_s`."""
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future[bool]] = []
        rejected, largest, size = 0, 0, 0
        topic = raw_topic(tenant)
        for index, record in enumerate(records):
            if len(record.value) > limit:
                rejected += 1
                largest = max(largest, len(record.value))
                continue
            done: asyncio.Future[bool] = loop.create_future()
            pending.append(done)
            size += len(record.value)
            headers = [(EVENT_ID_HEADER, f"{prefix}{index}".encode())]
            while True:
                try:
                    self.gateway.producer.produce(
                        topic,
                        record.value,
                        record.key,
                        on_delivery=_settle_on(loop, done),
                        timestamp=record.timestamp_ms,
                        headers=headers,
                    )
                    break
                except BufferError:
                    await asyncio.sleep(0.005)  # Kafka's queue is full: wait for it to drain
        self.gateway.meters.read(tenant, size, len(pending))
        if pending:
            try:
                results = await asyncio.wait_for(
                    asyncio.gather(*pending), self.config.otlp_store_timeout_s
                )
            except TimeoutError:
                return None
            if not all(results):
                return None
        self.gateway.meters.finished(tenant, "produced", len(pending))
        why = ""
        if rejected:
            why = (
                f"{rejected} record(s) over the {limit} bytes tenant {tenant!r} takes "
                f"(the largest {largest} as a document; topics.max_record_bytes)"
            )
        return rejected, why


def _read(  # noqa: PLR0917 - the request's parts, passed to a thread
    tenant: str,
    body: bytes,
    content_type: str,
    encoding: str | None,
    max_bytes: int,
    max_records: int,
) -> tuple[str, list[otlp.OtlpRecord]] | Unreadable:
    """(the records' id prefix, the records) of a request for `tenant`."""
    decoded = otlp.decode(body, content_type, encoding, max_bytes, max_records)
    if isinstance(decoded, Unreadable):
        return decoded
    return otlp.event_id_prefix(tenant, decoded), list(otlp.records(decoded))


def _settle_on(loop: asyncio.AbstractEventLoop, done: asyncio.Future[bool]) -> Any:
    def delivered(err: KafkaError | None, _msg: Any) -> None:
        loop.call_soon_threadsafe(_settle, done, err is None)

    return delivered


def _settle(future: asyncio.Future[bool], ok: bool) -> None:
    if not future.done():
        future.set_result(ok)


def _answer(
    status: int, outcome: str, detail: str, retry: int | None = None, *, challenge: bool = False
) -> web.Response:
    OTLP_REQUESTS.labels(component="gateway", outcome=outcome).inc()
    headers = {"Retry-After": str(retry)} if retry is not None else {}
    if challenge:
        headers["WWW-Authenticate"] = "Bearer"
    if status >= 500 or status == 429:
        log.warning("OTLP request answered %d: %s", status, detail)
    return web.Response(status=status, text=detail + "\n", headers=headers)


async def serve_otlp(
    gateway: Any, host: str, port: int, context: ssl.SSLContext | None
) -> web.AppRunner:
    """Listen for OTLP/HTTP on host:port (with TLS when `context`); the runner stops it."""
    runner = web.AppRunner(OtlpLogs(gateway).application(), **SERVER_SETTINGS)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=context).start()
    return runner

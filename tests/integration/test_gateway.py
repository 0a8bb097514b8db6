"""The forward-protocol gateway, with the real clients: fluent-logger for Python (sync and async
senders) and for Node.js (npm `fluent-logger`, shared-key handshake, requireAckResponse).

Two tenants: `fwd` accepts its shared key and unauthenticated clients; `locked` only its own
key. Every event a client was told is stored must be in the tenant's raw topic, once; clients
that are not allowed get nothing in; and after a few hundred connections of garbage and mutated
frames the gateway is still up and still serves a good client.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import socket
import ssl
import subprocess
import time
from collections import Counter
from pathlib import Path

import msgpack
import orjson
import pytest
from fluent import asyncsender, sender

from logway.core.names import raw_topic
from logway.core.settings import Endpoints
from tests.integration.support import (
    PipelineProcess,
    accepts,
    free_port,
    logway,
    metric,
    read_topic,
    scrape,
    tenant_yaml,
    wait_for,
)

pytestmark = pytest.mark.integration
NODE_CLIENT = Path(__file__).parents[1] / "node"


def forward_source(secret: str, anonymous: bool) -> str:
    return (
        "sources:\n  forward:\n"
        f"    shared_key_secret: {secret}\n"
        f"    allow_unauthenticated: {str(anonymous).lower()}\n"
    )


def node_send(port: int, tag: str, count: int, key: str) -> dict[str, object]:
    """Run the npm fluent-logger client; its last output line is a JSON summary (or nothing)."""
    if not (NODE_CLIENT / "node_modules" / "fluent-logger").exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install the Node.js fluent-logger client"
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"], cwd=NODE_CLIENT, check=True, timeout=300
        )
    result = subprocess.run(
        ["node", "send.js", str(port), tag, str(count), key],
        cwd=NODE_CLIENT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    summary: dict[str, object] = json.loads(lines[-1]) if lines else {}
    return summary


def records(endpoints: Endpoints, tenant: str) -> list[dict[str, object]]:
    return [orjson.loads(v) for _k, v in read_topic(endpoints.kafka, raw_topic(tenant))]


def test_real_forward_clients_through_the_gateway(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    fwd, locked = f"{tenant_prefix}-fwd", f"{tenant_prefix}-locked"
    # Secret names of their own: tenants of earlier runs are still published with theirs.
    fwd_key, locked_key = (f"{t.upper().replace('-', '_')}_FORWARD_KEY" for t in (fwd, locked))
    (tmp_path / "fwd.yaml").write_text(tenant_yaml(fwd, extra=forward_source(fwd_key, True)))
    (tmp_path / "locked.yaml").write_text(
        tenant_yaml(locked, extra=forward_source(locked_key, False))
    )
    logway(endpoints, "apply", str(tmp_path))
    port, metrics_port = free_port(), free_port()
    gateway = PipelineProcess(
        endpoints,
        ["gateway", "--host", "127.0.0.1", "--port", str(port), "--idle-timeout-s", "5"],
        tmp_path / "gateway.log",
        metrics_port=metrics_port,
        extra_env={fwd_key: "fwd-secret", locked_key: "locked-secret"},
    ).start()
    try:
        wait_for("the gateway to listen", lambda: accepts(port), bool, 90, gateway.assert_running)

        # Python fluent-logger: no handshake, so only `fwd` (allow_unauthenticated) takes it.
        sync = sender.FluentSender(fwd, host="127.0.0.1", port=port)
        for n in range(500):
            assert sync.emit("py-sync", {"seq": n, "client": "py-sync"}), sync.last_error
        sync.close()
        background = asyncsender.FluentSender(fwd, host="127.0.0.1", port=port)
        for n in range(500):
            background.emit("py-async", {"seq": n, "client": "py-async"})
        background.close()

        # Node.js fluent-logger with the shared key, each chunk acked after Kafka stored it.
        assert node_send(port, f"{fwd}.node", 300, "fwd-secret") == {"acked": 300, "errors": []}
        # Refused: a wrong key; `fwd`'s key used for `locked`'s tags; no key for `locked`.
        assert node_send(port, f"{fwd}.node", 5, "not-the-key").get("acked") is None
        assert node_send(port, f"{locked}.node", 5, "fwd-secret").get("acked", 0) == 0
        anonymous = sender.FluentSender(locked, host="127.0.0.1", port=port)
        anonymous.emit("py", {"seq": 0})
        anonymous.close()

        stored = wait_for(
            "1,300 events in the raw topic",
            lambda: records(endpoints, fwd),
            lambda found: len(found) >= 1300,
            60,
            gateway.assert_running,
        )
        by_client = Counter(str(r["client"]) for r in stored)
        assert by_client == {"py-sync": 500, "py-async": 500, "node": 300}  # none twice
        for client in ("py-sync", "py-async"):  # one tag's events stay in order
            assert [r["seq"] for r in stored if r["client"] == client] == list(range(500))
        assert sorted(r["seq"] for r in stored if r["client"] == "node") == list(range(300))
        assert all(str(r["@timestamp"]).endswith("Z") for r in stored)
        assert read_topic(endpoints.kafka, raw_topic(locked), timeout=5) == []

        # A client that sends at once gets no HELO: one it never reads would turn its close
        # into a TCP reset, which throws away what the gateway had not read yet.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as eager:
            entry = msgpack.packb([int(time.time()), {"seq": 0, "client": "eager"}])
            eager.sendall(msgpack.packb([f"{fwd}.eager", entry, {"chunk": "eager-0"}]))
            first = next(iter(msgpack.Unpacker(io.BytesIO(eager.recv(4096)), raw=False)))
        assert first == {"ack": "eager-0"}
        fuzz(port, seed=7, connections=300)
        gateway.assert_running()
        again = sender.FluentSender(fwd, host="127.0.0.1", port=port)
        assert again.emit("after-fuzz", {"seq": 0, "client": "after-fuzz"}), again.last_error
        again.close()
        wait_for(
            "the event sent after the fuzzing",
            lambda: [r for r in records(endpoints, fwd) if r.get("client") == "after-fuzz"],
            lambda found: len(found) == 1,
            30,
            gateway.assert_running,
        )
        metrics = scrape(metrics_port)
    finally:
        gateway.stop()

    def refusals(reason: str) -> float:
        return metric(metrics, "logway_gateway_refusals_total", component="gateway", reason=reason)

    assert refusals("auth_failed") >= 1
    assert refusals("wrong_tenant") >= 1
    assert refusals("auth_required") >= 1
    assert refusals("malformed") >= 1
    assert metric(metrics, "logway_gateway_acks_total", component="gateway") >= 1
    assert metric(metrics, "logway_gateway_connections", component="gateway") == 0


def fuzz(port: int, seed: int, connections: int) -> None:
    """Random bytes and mutated valid frames; the server must close each connection itself
    (never hang) and stay up."""
    rng = random.Random(seed)
    valid = [
        msgpack.packb(["x.y", 1, {"msg": "hi"}, {"chunk": "c"}]),
        msgpack.packb(["x.y", [[1, {"a": [1, 2]}]]]),
        msgpack.packb(["x.y", b"".join(msgpack.packb([1, {"i": i}]) for i in range(5))]),
        msgpack.packb(["PING", "fuzzer", b"salt", "0" * 128, "", ""]),
    ]
    for n in range(connections):
        if n % 3 == 0:
            data = rng.randbytes(rng.randint(1, 2000))
        else:
            frame = bytearray(rng.choice(valid))
            for _ in range(rng.randint(1, 5)):
                frame[rng.randrange(len(frame))] = rng.randrange(256)
            data = bytes(frame[: rng.randint(1, len(frame))])
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass  # HELO, maybe a PONG: read until the server closes
        assert time.monotonic() - started < 8, "the gateway kept a broken connection open"


def test_tls_connection_limits_and_idle_timeout(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-tls"
    (tmp_path / "t.yaml").write_text(
        tenant_yaml(tenant, extra="sources:\n  forward:\n    allow_unauthenticated: true\n")
    )
    logway(endpoints, "apply", str(tmp_path))
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    port, metrics_port = free_port(), free_port()
    gateway = PipelineProcess(
        endpoints,
        [
            "gateway",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
            "--max-connections",
            "2",
            "--idle-timeout-s",
            "2",
        ],
        tmp_path / "gateway.log",
        metrics_port=metrics_port,
    ).start()
    context = ssl.create_default_context(cafile=str(cert))

    def tls_connection() -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        return context.wrap_socket(raw, server_hostname="127.0.0.1")

    try:
        wait_for("the gateway to listen", lambda: accepts(port), bool, 90, gateway.assert_running)
        with tls_connection() as tls:
            unpacker = msgpack.Unpacker(raw=False)
            frame = [f"{tenant}.app", int(time.time()), {"msg": "over TLS"}, {"chunk": "t1"}]
            tls.sendall(msgpack.packb(frame))
            replies: list[object] = []
            while {"ack": "t1"} not in replies:
                unpacker.feed(tls.recv(4096))
                replies += list(unpacker)
        assert replies == [{"ack": "t1"}]  # it spoke at once, so no HELO came first
        assert [orjson.loads(v)["msg"] for v in _values(endpoints, tenant)] == ["over TLS"]

        idle = [tls_connection() for _ in range(2)]
        time.sleep(0.5)
        with tls_connection() as third:
            received = b""
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                received = third.recv(4096)
            assert received == b""  # over --max-connections: closed at once, not even a HELO
        started = time.monotonic()
        for sock in idle:
            with sock, contextlib.suppress(ssl.SSLError, ConnectionError):
                while sock.recv(4096):
                    pass  # HELO, then nothing: the server closes them after --idle-timeout-s
        waited = time.monotonic() - started
        # A TCP client that never starts TLS is dropped after the same bound.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
            started = time.monotonic()
            assert plain.recv(4096) == b""
            handshake_waited = time.monotonic() - started
        metrics = scrape(metrics_port)
    finally:
        gateway.stop()
    assert waited < 6
    assert handshake_waited < 6
    assert (
        metric(
            metrics,
            "logway_gateway_refusals_total",
            component="gateway",
            reason="too_many_connections",
        )
        == 1
    )


def _values(endpoints: Endpoints, tenant: str) -> list[bytes]:
    return [v for _k, v in read_topic(endpoints.kafka, raw_topic(tenant))]

"""Settings of a forward-protocol gateway."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from logway.core.kafka import KafkaConnection


class GatewayConfig(BaseModel):
    """How one gateway listens, what it bounds, and where it writes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka: KafkaConnection = Field(description="Kafka's servers and this worker's login.")
    host: str = Field("0.0.0.0", description="Address to listen on.")  # noqa: S104 - a server
    port: int = Field(24224, ge=0, le=65535, description="TCP port (24224 is forward's own).")
    max_frame_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        le=256 * 1024 * 1024,
        description="Largest frame accepted; a bigger one closes the connection (`oversized`).",
    )
    max_connections: int = Field(1000, ge=1, le=100_000, description="Open connections at most.")
    idle_timeout_s: float = Field(
        300, gt=0, le=86_400, description="A connection that sends nothing this long is closed."
    )
    tls_cert: Path | None = Field(None, description="PEM certificate: serve TLS with it.")
    tls_key: Path | None = Field(None, description="PEM private key of `tls_cert`.")
    server_hostname: str | None = Field(
        None, description="The name the gateway gives in the handshake's PONG; unset: its host's."
    )
    metrics_port: int = Field(
        9643, ge=0, le=65535, description="Port of the /metrics endpoint; 0 turns it off."
    )
    otlp_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port of OTLP/HTTP logs in (`POST /v1/logs`; 4318 is OTLP's own); 0: off.",
    )
    otlp_plaintext: bool = Field(
        False,
        description="Serve OTLP without TLS. Its clients send their tenant's key as a bearer "
        "token: only on a network that is private end to end.",
    )
    otlp_max_records: int = Field(
        100_000,
        ge=1,
        le=999_999,
        description="Most log records in one OTLP request; a request with more is answered 413.",
    )
    otlp_read_timeout_s: float = Field(
        30, gt=0, le=600, description="An OTLP request whose body takes longer gets 408."
    )
    otlp_max_request_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        le=256 * 1024 * 1024,
        description="Largest OTLP request, decompressed; a bigger one is answered 413.",
    )
    otlp_max_inflight: int = Field(
        64, ge=1, le=10_000, description="OTLP requests at once; more are answered 429."
    )
    otlp_store_timeout_s: float = Field(
        30,
        gt=0,
        le=600,
        description="How long an OTLP request waits for Kafka to store it before a 503.",
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> GatewayConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both a certificate and its key")
        if self.otlp_port and self.tls_cert is None and not self.otlp_plaintext:
            raise ValueError(
                "OTLP clients send their tenant's key as a bearer token: serve TLS "
                "(--tls-cert, --tls-key), or --otlp-plaintext on a network private end to end"
            )
        return self

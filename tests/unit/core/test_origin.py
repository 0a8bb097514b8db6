"""Which `logway-event-id` headers name an event: only the gateway's own form, of the tenant."""

import pytest

from logway.core.origin import (
    EVENT_ID_HEADER,
    MAX_EVENT_ID_BYTES,
    event_id_header,
    forwarded_id_prefix,
)


def header(value: bytes) -> list[tuple[str, bytes | None]]:
    return [("other", b"x"), (EVENT_ID_HEADER, value)]


def test_the_gateways_ids_are_taken() -> None:
    prefix = forwarded_id_prefix("acme", "p8n9gmxTQVC8/nh2wlKKeQ==")
    assert prefix is not None
    assert event_id_header(header(f"{prefix}17".encode()), "acme") == (f"{prefix}17", False)
    assert event_id_header([("other", b"x")], "acme") == (None, False)


@pytest.mark.parametrize(
    "value",
    [
        b"\xfe" * 300,  # the stall of issue 14: a 900-byte _id after replacement characters
        b"fwd:payments:abc:1",  # another tenant's id
        b"fwd:acme:abc:1\n",
        b"fwd:acme:a b:1",
        b"fwd:acme:abc:01",
        b"fwd:acme:" + b"a" * 65 + b":1",
        b"fwd:acme:abc:1234567",
        b"logs.acme.raw:0:5:0",  # an origin id: only the origin itself may say so
        b"fwd:acme:abc:1" + b" " * MAX_EVENT_ID_BYTES,
    ],
)
def test_any_other_header_is_refused(value: bytes) -> None:
    assert event_id_header(header(value), "acme") == (None, True)


@pytest.mark.parametrize("chunk", [None, "", "a:b", "x" * 65, "ünïcode", "a\nb"])
def test_a_chunk_id_out_of_form_names_no_event(chunk: str | None) -> None:
    assert forwarded_id_prefix("acme", chunk) is None


def test_the_longest_id_fits_the_bound() -> None:
    prefix = forwarded_id_prefix("a" * 31, "c" * 64)
    assert prefix is not None
    longest = f"{prefix}999999".encode()
    assert len(longest) <= MAX_EVENT_ID_BYTES < 512  # Elasticsearch's limit on an _id
    assert event_id_header(header(longest), "a" * 31) == (longest.decode(), False)

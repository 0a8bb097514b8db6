"""The node agent's records: the file stands for the key, the file, offset and line name the
event; anything else is processed as any record."""

from __future__ import annotations

import orjson
import pytest

from logway.core.agent import AGENT_HEADER, FILELOG, agent_line
from logway.core.kubernetes import read_log_path, unrotated

FILE = "/var/log/pods/shop_api-7f9c_0b7c9e2a-1f3d-4c5e-9a8b-7c6d5e4f3a2b/api/0.log"
HEADERS = [(AGENT_HEADER, FILELOG)]


def body(
    path: str = FILE,
    offset: object = 120,
    log: object = "GET /cart 200",
    written: str = "2026-12-06T23:30:00.000001Z",
) -> bytes:
    document = {"message": log, "stream": "stdout", "source_file": path, "offset": offset}
    return orjson.dumps({**document, "@timestamp": written})


def test_a_line_is_keyed_by_its_file_and_named_by_file_offset_and_line() -> None:
    line = agent_line(HEADERS, body())
    assert line is not None
    assert line.key == FILE.encode()
    assert line.event_id.startswith("file:")
    assert len(line.event_id) == 37  # well under Elasticsearch's 512 bytes
    assert agent_line(HEADERS, body()) == line  # sent again: the same id


def test_a_rotated_files_line_keeps_its_id_and_a_truncated_files_new_line_gets_its_own() -> None:
    first = agent_line(HEADERS, body())
    renamed = agent_line(HEADERS, body(path=FILE + ".20261206-233000"))
    assert first is not None
    assert renamed is not None
    assert renamed.event_id == first.event_id  # one file, read under either name
    # The next file (rotated or truncated): the same text at the same offset, written later.
    repeated = agent_line(HEADERS, body(written="2026-12-07T01:00:00.000002Z"))
    assert repeated is not None
    assert repeated.event_id != first.event_id
    truncated = agent_line(HEADERS, body(log="GET /cart 500"))
    assert truncated is not None
    assert truncated.event_id != first.event_id
    later = agent_line(HEADERS, body(offset=121))
    assert later is not None
    assert later.event_id != first.event_id


@pytest.mark.parametrize(
    ("headers", "value"),
    [
        ([], body()),  # no header: a record like any other
        ([(AGENT_HEADER, b"fluent-bit")], body()),
        (HEADERS, b"not json"),
        (HEADERS, b"[1, 2]"),
        (HEADERS, body(offset="120")),
        (HEADERS, body(offset=True)),
        (HEADERS, body(log={"nested": 1})),
        (HEADERS, None),
    ],
)
def test_anything_else_is_not_an_agent_line(
    headers: list[tuple[str, bytes | None]], value: bytes | None
) -> None:
    assert agent_line(headers, value) is None


def test_the_kubelets_pod_log_paths_are_read_under_any_folder() -> None:
    path = read_log_path(FILE)
    assert path is not None
    assert (path.namespace, path.pod, path.container) == ("shop", "api-7f9c", "api")
    assert path.pod_uid == "0b7c9e2a-1f3d-4c5e-9a8b-7c6d5e4f3a2b"
    assert path.container_id is None
    assert read_log_path("/tmp/test-run/pods/shop_api-7f9c_0b7c/api/3.log.20261206-233000")
    assert read_log_path("/var/log/pods/shop_api_x_0b7c/api/0.log") is None  # `_` in a name
    assert read_log_path("/var/log/pods/shop_api-7f9c_0b7c/api/0.log.gz") is None
    assert unrotated(FILE + ".20261206-233000") == FILE
    assert unrotated("/anything/else.log.20261206-233000") == "/anything/else.log.20261206-233000"

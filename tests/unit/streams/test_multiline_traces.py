"""`multiline` against stack traces the real runtimes write (see tests/fixtures/traces/)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import orjson
import pytest

from streams.pipeline import TenantPipeline
from streams.steps.base import Record
from tests.traces import Written, run_runtimes, traces
from topology.model import Tenant

TIME = "2026-11-30T10:00:00.000000001Z"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return run_runtimes(tmp_path_factory.mktemp("traces"))


# Ordinary lines around the traces, on the same stream: none may be swallowed. For Python the
# logger's line just before a traceback belongs to it (as `logging.exception` writes them).
BEFORE = {
    "java": ["INFO checkout ready", "WARN slow card processor"],
    "python": ["INFO:checkout:ready"],
    "go": ["level=info msg=ready"],
    "node": ["info: ready"],
}
HEAD = {"python": ["ERROR:checkout:charge failed"]}
AFTER = ["INFO next request", "INFO done with 18"]


def expected(runtime: str, stderr: list[str]) -> list[str]:
    """The documents the stderr stream must give, in order."""
    found = traces(runtime, stderr)
    found[0] = HEAD.get(runtime, []) + found[0]
    return [*BEFORE[runtime], *("\n".join(t) for t in found), *AFTER]


def cri(stream: str, line: str) -> bytes:
    return f"{TIME} {stream} F {line}".encode()


def docker(stream: str, line: str) -> bytes:
    return orjson.dumps({"log": line + "\n", "stream": stream, "time": TIME})


def pipeline_for(fmt: str, preset: str) -> TenantPipeline:
    tenant = Tenant.model_validate(
        {
            "name": "checkout",
            "owners": {"team": "t", "slack_channel": "#t", "webhook_secret": "T_WEBHOOK"},
            "pipeline": [
                {"step": "parse", "format": fmt},
                {"step": "reassemble"},
                {"step": "multiline", "preset": preset},
            ],
        }
    )
    return TenantPipeline(tenant.name, tenant.pipeline, tenant.routes)


@pytest.mark.parametrize("fmt", ["cri", "docker"])
@pytest.mark.parametrize("runtime", ["java", "python", "go", "node"])
def test_each_trace_is_one_document_byte_identical_and_no_other_line_is_swallowed(
    written: Written, runtime: str, fmt: str
) -> None:
    stdout, stderr = written[runtime]
    errors = BEFORE[runtime] + HEAD.get(runtime, []) + stderr + AFTER
    # Two pods, and stdout between stderr's lines: a stream is never mixed with another.
    records: list[tuple[bytes, bytes]] = []
    for index, line in enumerate(errors):
        for pod in (b"pod-a.log", b"pod-b.log"):
            encode = cri if fmt == "cri" else docker
            records.append((pod, encode("stderr", line)))
            if index < len(stdout):
                records.append((pod, encode("stdout", stdout[index])))
    pipeline = pipeline_for(fmt, runtime)
    documents: dict[tuple[bytes, str], list[str]] = defaultdict(list)
    released: list[int] = []
    held = 0

    def take(outcome: Any) -> None:
        nonlocal held
        if outcome.output is not None:
            assert outcome.output.reason is None, outcome.output.value
            doc = orjson.loads(outcome.output.value)
            pod = records[doc["logway"]["origin"]["offset"]][0]
            documents[(pod, doc["stream"])].append(doc["message"])
        released.extend(outcome.released)

    for offset, (pod, value) in enumerate(records):
        outcome = pipeline.process(value, Record("logs.checkout.raw", 0, offset, pod, 0))
        held += outcome.held
        take(outcome)
    for _record, outcome in pipeline.expire(now=math.inf):
        take(outcome)

    want = expected(runtime, stderr)
    for pod in (b"pod-a.log", b"pod-b.log"):
        assert documents[(pod, "stderr")] == want
        assert documents[(pod, "stdout")] == stdout
    assert pipeline.holding() == 0
    # Every held record was released exactly once, with its event.
    assert sorted(released) == sorted(set(released))
    assert len(released) == held

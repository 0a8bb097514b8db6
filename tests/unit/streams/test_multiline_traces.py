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
    "node-rejection": ["info: refunds ready"],
}
PRESET = {"node-rejection": "node"}
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


def pipeline_for(fmt: str, preset: str | list[str]) -> TenantPipeline:
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


RUNTIMES = ["java", "python", "go", "node", "node-rejection"]
EVERY_PRESET = ["java", "python", "go", "node"]


@pytest.mark.parametrize("fmt", ["cri", "docker"])
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_each_trace_is_one_document_byte_identical_and_no_other_line_is_swallowed(
    written: Written, runtime: str, fmt: str
) -> None:
    stdout, stderr = written[runtime]
    errors = BEFORE[runtime] + HEAD.get(runtime, []) + stderr + AFTER
    pods = (b"pod-a.log", b"pod-b.log")
    documents = run_streams(
        pipeline_for(fmt, PRESET.get(runtime, runtime)),
        fmt,
        pods,
        dict.fromkeys(pods, (stdout, errors)),
    )
    want = expected(runtime, stderr)
    for pod in pods:
        assert documents[(pod, "stderr")] == want
        assert documents[(pod, "stdout")] == stdout


@pytest.mark.parametrize("fmt", ["cri", "docker"])
def test_one_tenant_running_every_runtime_gets_each_trace_whole_by_its_own_rules(
    written: Written, fmt: str
) -> None:
    """One team, one pod per runtime, every preset named in one step. Right before each trace,
    printed on its own (Java's `printStackTrace` without a logger's line, Python's traceback),
    a JSON line from a structured logger: it stays a document of its own, never glued to the
    trace after it."""
    json_line = '{"level":"error","msg":"charge failed","order":18}'
    streams, want = {}, {}
    for runtime in RUNTIMES:
        stdout, stderr = written[runtime]
        found = traces(runtime, stderr)
        if runtime == "java":
            found[0] = found[0][1:]  # the logger's line gone: the trace printed on its own
        errors, docs = list(BEFORE[runtime]), list(BEFORE[runtime])
        for trace in found:
            errors += [json_line, *trace]
            docs += [json_line, "\n".join(trace)]
        pod = f"{runtime}.log".encode()
        streams[pod] = (stdout, errors + AFTER)
        want[pod] = docs + AFTER
    documents = run_streams(pipeline_for(fmt, EVERY_PRESET), fmt, tuple(streams), streams)
    for pod, (stdout, _errors) in streams.items():
        assert documents[(pod, "stderr")] == want[pod], pod
        assert documents[(pod, "stdout")] == stdout, pod


def run_streams(
    pipeline: TenantPipeline,
    fmt: str,
    pods: tuple[bytes, ...],
    streams: dict[bytes, tuple[list[str], list[str]]],
) -> dict[tuple[bytes, str], list[str]]:
    """The documents each pod's stdout and stderr give, the pods' lines interleaved (and
    stdout between stderr's lines: a stream is never mixed with another); every held record
    released exactly once, with its event."""
    records: list[tuple[bytes, bytes]] = []
    encode = cri if fmt == "cri" else docker
    longest = max(len(errors) for _stdout, errors in streams.values())
    for index in range(longest):
        for pod in pods:
            stdout, errors = streams[pod]
            if index < len(errors):
                records.append((pod, encode("stderr", errors[index])))
            if index < len(stdout):
                records.append((pod, encode("stdout", stdout[index])))
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

    assert pipeline.holding() == 0
    assert sorted(released) == sorted(set(released))
    assert len(released) == held
    return documents

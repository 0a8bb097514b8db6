"""`multiline`'s mechanics: events per stream, the timeout, the caps, the offsets it holds and
releases, what its config refuses. The runtimes' real traces: test_multiline_traces.py."""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from streams.pipeline import Outcome, TenantPipeline
from streams.steps.base import Record
from streams.steps.multiline import PRESETS
from topology.model import Tenant

CONTINUED = {"start_pattern": r"^\S", "continue_pattern": r"^\s"}


def pipeline(*steps: dict[str, Any]) -> TenantPipeline:
    owners = {"team": "t", "slack_channel": "#t", "webhook_secret": "T_HOOK"}
    spec = Tenant.model_validate({"name": "acme", "owners": owners, "pipeline": list(steps)})
    return TenantPipeline(spec.name, spec.pipeline, spec.routes)


def line(text: str, stream: str = "stdout") -> bytes:
    return orjson.dumps({"message": text, "stream": stream})


def record(offset: int, key: bytes = b"pod-a") -> Record:
    return Record("logs.acme.raw", 0, offset, key, 0)


def message(outcome: Outcome) -> str:
    assert outcome.output is not None
    assert outcome.output.reason is None
    text: str = orjson.loads(outcome.output.value)["message"]
    return text


def test_an_event_goes_on_when_the_next_one_starts_carried_by_its_first_line() -> None:
    p = pipeline({"step": "parse", "format": "json"}, {"step": "multiline", **CONTINUED})
    assert p.process(line("boom"), record(0)).held
    assert p.process(line("  at a"), record(1)).held
    out = p.process(line("next"), record(2))
    assert out.held  # "next" opens the next event...
    assert message(out) == "boom\n  at a"  # ...and the first one goes on
    assert out.released == (0, 1)
    assert out.joined == 1  # offset 0 carries the document; offset 1 was joined into it
    assert orjson.loads(out.output.value)["logway"]["origin"]["offset"] == 0  # type: ignore[union-attr]


def test_a_line_that_starts_nothing_goes_on_at_once_when_no_event_is_open() -> None:
    p = pipeline({"step": "parse", "format": "json"}, {"step": "multiline", "preset": "go"})
    out = p.process(line("level=info msg=ready"), record(0))
    assert not out.held
    assert message(out) == "level=info msg=ready"


def test_streams_and_pods_are_never_mixed() -> None:
    p = pipeline({"step": "parse", "format": "json"}, {"step": "multiline", **CONTINUED})
    p.process(line("a-err", "stderr"), record(0))
    p.process(line("a-out", "stdout"), record(1))
    p.process(line("b-err", "stderr"), record(2, b"pod-b"))
    p.process(line("  a-err more", "stderr"), record(3))
    p.process(line("  b-err more", "stderr"), record(4, b"pod-b"))
    done = {message(o) for _r, o in p.expire(now=float("inf"))}
    assert done == {"a-err\n  a-err more", "a-out", "b-err\n  b-err more"}


def test_an_event_with_no_new_line_goes_on_after_the_timeout() -> None:
    p = pipeline(
        {"step": "parse", "format": "json"},
        {"step": "multiline", "flush_timeout_s": 2, **CONTINUED},
    )
    assert p.multiliner is not None
    now = [10.0]
    p.multiliner.clock = lambda: now[0]
    p.process(line("boom"), record(0))
    now[0] = 11.5
    p.process(line("  at a"), record(1))
    now[0] = 13.0
    assert list(p.expire()) == []  # 1.5 s since its last line
    now[0] = 13.5
    [(_record, out)] = list(p.expire())
    assert message(out) == "boom\n  at a"
    assert (out.released, out.joined, out.held) == ((0, 1), 1, False)
    assert p.holding() == 0


def test_an_event_at_its_cap_goes_on_partial_and_the_rest_continues_in_the_next() -> None:
    p = pipeline(
        {"step": "parse", "format": "json"},
        {"step": "multiline", "max_lines": 3, **CONTINUED},
    )
    outs = [p.process(line(text), record(i)) for i, text in enumerate(["boom", " 1", " 2", " 3"])]
    assert all(o.held for o in outs)
    assert message(outs[3]) == "boom\n 1\n 2"
    assert orjson.loads(outs[3].output.value)["logway"]["partial"] is True  # type: ignore[union-attr]
    [(_r, rest)] = list(p.expire(now=float("inf")))
    assert message(rest) == " 3"


def test_lines_reassembled_from_pieces_stay_held_until_their_event_goes_on() -> None:
    p = pipeline(
        {"step": "parse", "format": "cri"},
        {"step": "reassemble"},
        {"step": "multiline", **CONTINUED},
    )
    assert p.process(b"T stderr F boom", record(0)).held
    assert p.process(b"T stderr P   at very", record(1)).held
    assert p.process(b"T stderr F  long frame", record(2)).held  # the line completes, held
    out = p.process(b"T stderr F next", record(3))
    assert message(out) == "boom\n  at very long frame"
    assert sorted(out.released) == [0, 1, 2]  # the event's line, both pieces of the other
    assert out.joined == 2


def test_forgetting_a_revoked_partition_drops_its_events_only() -> None:
    p = pipeline({"step": "parse", "format": "json"}, {"step": "multiline", **CONTINUED})
    p.process(line("a"), Record("logs.acme.raw", 0, 0, b"k", 0))
    p.process(line("b"), Record("logs.acme.raw", 1, 0, b"k", 0))
    p.forget("logs.acme.raw", 0)
    assert p.holding() == 1


@pytest.mark.parametrize(
    ("step", "error"),
    [
        ({"preset": "java", "start_pattern": "^x"}, "not both"),
        ({"start_pattern": "^x"}, "both start_pattern and continue_pattern"),
        ({"start_pattern": "(a)\\1", "continue_pattern": "^ "}, "RE2"),
        ({"preset": "java", "when": 'level == "error"'}, "takes no `when`"),
        ({"preset": "cobol"}, "preset"),
        ({"preset": ["java", "cobol"]}, "preset"),
        ({"preset": []}, "at least one preset"),
    ],
)
def test_a_bad_multiline_step_is_refused(step: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        pipeline({"step": "parse", "format": "json"}, {"step": "multiline", **step})


def test_multiline_comes_once_and_after_reassembly() -> None:
    with pytest.raises(ValidationError, match="after `reassemble`"):
        pipeline(
            {"step": "parse", "format": "cri"},
            {"step": "multiline", "preset": "java"},
            {"step": "reassemble"},
        )
    with pytest.raises(ValidationError, match="keep one `multiline`"):
        pipeline({"step": "multiline", "preset": "java"}, {"step": "multiline", "preset": "go"})


def test_several_presets_follow_a_stream_side_by_side_and_never_mix_their_rules() -> None:
    """Java's frames then a Go goroutine header: each preset alone would end the event there,
    and so does their union (a rule of one preset never continues another's state)."""
    p = pipeline(
        {"step": "parse", "format": "json"}, {"step": "multiline", "preset": ["java", "go", "java"]}
    )
    lines = ["java.lang.IllegalStateException: x", "\tat A.b(A.java:1)", "goroutine 1 [running]:"]
    outcomes = [p.process(line(text), record(offset)) for offset, text in enumerate(lines)]
    assert [o.held for o in outcomes] == [True, True, True]
    assert message(outcomes[2]) == "java.lang.IllegalStateException: x\n\tat A.b(A.java:1)"
    assert p.steps[1].starts == ("java.start", "go.start")  # each preset once, in order


ADVERSARIAL = ["a.", "a", " ", "\t", "Error", "(", ")", "$", ": ", "{", "}", "at ", "x.", "s:1"]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_no_preset_pattern_backtracks_on_a_hostile_line(preset: str) -> None:
    """The presets run on Python's `re` (they are ours; a tenant's patterns run on RE2): each
    must stay linear on the lines a hostile tenant could write. A pattern that backtracks
    (quadratic or worse) takes hours on half a megabyte; a linear one well under a second."""
    for pairs in PRESETS[preset].values():
        for pattern, _target in pairs:
            compiled = re.compile(pattern)
            for a, b in itertools.product(ADVERSARIAL, repeat=2):
                line = (a + b) * (262_144 // len(a + b)) + "!"
                started = time.perf_counter()
                compiled.search(line)
                assert time.perf_counter() - started < 2.0, (pattern, a + b)

"""Properties of reassembly over random lines, random splits and interleaved streams.

Whatever the split points, and however the pieces of different container streams interleave
(within one stream the order is kept, as Kafka keeps it within a partition for one key), every
line comes out once, whole and in its stream's order, and every piece's offset is accounted for:
either it is the record that completed the line or it is released by that record.
"""

from collections import defaultdict

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.pipeline import TenantPipeline
from streams.steps.base import Record
from topology.model import Tenant

OWNERS = {"team": "t", "slack_channel": "#t", "webhook_secret": "T_HOOK"}
SPEC = Tenant.model_validate(
    {
        "name": "acme",
        "owners": OWNERS,
        "pipeline": [{"step": "parse", "format": "docker"}, {"step": "reassemble"}],
    }
)

line_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"),
    min_size=1,
    max_size=60,
)
streams = st.sampled_from([(b"pod-a", "stdout"), (b"pod-a", "stderr"), (b"pod-b", "stdout")])


@st.composite
def split_line(draw: st.DrawFn) -> tuple[tuple[bytes, str], str, list[str]]:
    stream = draw(streams)
    text = draw(line_text)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=5)))
    cuts = [c for c in cuts if 0 < c < len(text)]
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    return stream, text, pieces


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(split_line(), min_size=1, max_size=12), data=st.data())
def test_every_line_comes_out_once_whole_and_in_order(
    lines: list[tuple[tuple[bytes, str], str, list[str]]], data: st.DataObject
) -> None:
    # Each stream's pieces in order; streams interleaved at random.
    queues: dict[tuple[bytes, str], list[str]] = defaultdict(list)
    expected: dict[tuple[bytes, str], list[str]] = defaultdict(list)
    for stream, text, pieces in lines:
        *head, last = pieces
        queues[stream] += [*head, last + "\n"]
        expected[stream].append(text)
    order: list[tuple[bytes, str]] = []
    remaining = {s: len(q) for s, q in queues.items()}
    while any(remaining.values()):
        stream = data.draw(st.sampled_from(sorted(s for s, n in remaining.items() if n)))
        order.append(stream)
        remaining[stream] -= 1

    pipeline = TenantPipeline("acme", SPEC.pipeline, SPEC.routes)
    seen: dict[tuple[bytes, str], list[str]] = defaultdict(list)
    accounted: list[int] = []
    held: list[int] = []
    cursor = dict.fromkeys(queues, 0)
    for offset, stream in enumerate(order):
        piece = queues[stream][cursor[stream]]
        cursor[stream] += 1
        raw = orjson.dumps({"log": piece, "stream": stream[1], "time": "t"})
        outcome = pipeline.process(raw, Record("logs.acme.raw", 0, offset, stream[0], 1))
        if outcome.held:
            held.append(offset)
            continue
        assert outcome.output is not None
        assert outcome.output.reason is None
        doc = orjson.loads(outcome.output.value)
        seen[(stream[0], doc["stream"])].append(doc["message"])
        accounted += [offset, *outcome.released]
        assert doc["logway"]["id"] == f"logs.acme.raw:0:{min([offset, *outcome.released])}:0"

    assert seen == expected
    assert sorted(accounted) == list(range(len(order)))
    assert set(held) <= set(accounted)
    assert pipeline.reassembler is not None
    assert len(pipeline.reassembler) == 0

"""How processors share the tenants' raw partitions (`connectors.processor.assignor`): evenly
over every topic, keeping what each held, where Faust's own assignor gave one member all of
1,000 one-partition topics."""

from types import SimpleNamespace

import faust
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from faust.assignor.client_assignment import ClientAssignment, ClientMetadata
from faust.assignor.partition_assignor import PartitionAssignor

from connectors.processor.assignor import EvenAssignor, balance

TOPICS = [f"logs.t{i:04d}.raw" for i in range(1000)]


def counts(shares: dict[str, list[tuple[str, int]]]) -> list[int]:
    return sorted(len(share) for share in shares.values())


def test_one_partition_topics_are_shared_evenly() -> None:
    shares = balance([(t, 0) for t in TOPICS], {"a": set(TOPICS), "b": set(TOPICS)}, {})
    assert counts(shares) == [500, 500]
    assert sorted(shares["a"] + shares["b"]) == [(t, 0) for t in TOPICS]


def test_uneven_totals_differ_by_one_at_most() -> None:
    members = {m: set(TOPICS[:7]) for m in "abc"}
    shares = balance([(t, p) for t in TOPICS[:7] for p in range(3)], members, {})
    assert counts(shares) == [7, 7, 7]
    shares = balance([(t, 0) for t in TOPICS[:7]], members, {})
    assert counts(shares) == [2, 2, 3]


def test_a_new_topic_moves_nothing_else() -> None:
    everyone = {"a": set(TOPICS[:11]), "b": set(TOPICS[:11])}
    before = balance([(t, 0) for t in TOPICS[:10]], everyone, {})
    after = balance([(t, 0) for t in TOPICS[:11]], everyone, before)
    for member in "ab":
        assert set(before[member]) <= set(after[member])
    assert counts(after) == [5, 6]


def test_a_new_member_takes_a_fair_share_and_the_others_keep_the_rest() -> None:
    partitions = [(t, 0) for t in TOPICS[:9]]
    before = balance(partitions, {"a": set(TOPICS), "b": set(TOPICS)}, {})
    after = balance(partitions, {m: set(TOPICS) for m in "abc"}, before)
    assert counts(after) == [3, 3, 3]
    for member in "ab":
        assert set(after[member]) <= set(before[member])


def test_a_tenant_with_several_partitions_is_spread_again_when_a_member_comes_back() -> None:
    busy = "logs.busy.raw"
    partitions = [(t, 0) for t in TOPICS[:20]] + [(busy, p) for p in range(6)]
    everyone = {m: set(TOPICS[:20]) | {busy} for m in "ab"}
    survivor_held_all = balance(partitions, {"a": everyone["a"]}, {})
    after = balance(partitions, everyone, survivor_held_all)
    assert counts(after) == [13, 13]
    assert sorted(sum(1 for t, _ in after[m] if t == busy) for m in "ab") == [3, 3]


def test_a_member_gets_only_topics_it_subscribes_to() -> None:
    shares = balance(
        [(t, 0) for t in TOPICS[:4]], {"a": set(TOPICS[:4]), "b": {TOPICS[0]}}, {"b": []}
    )
    assert set(shares["b"]) <= {(TOPICS[0], 0)}
    assert len(shares["a"]) + len(shares["b"]) == 4


def test_a_partition_no_longer_wanted_is_not_kept() -> None:
    shares = balance([(TOPICS[0], 0)], {"a": {TOPICS[0]}}, {"a": [(TOPICS[1], 0), (TOPICS[0], 0)]})
    assert shares == {"a": [(TOPICS[0], 0)]}


def _assign(assignor_class: type[PartitionAssignor], members: int) -> dict[str, int]:
    """What `assignor_class` gives `members` processors over 1,000 one-partition topics: how
    many partitions each; and the table of every member's partitions that the assignment
    carries to all (`external_topic_distribution`) is empty with logway's."""
    app = faust.App("logway-test-assignor", broker="memory://", topic_disable_leader=True)
    assignor = assignor_class(app)
    cluster = SimpleNamespace(partitions_for_topic=lambda topic: {0})
    metadata = {
        f"member-{m}": ConsumerProtocolMemberMetadata(
            assignor.version,
            TOPICS,
            ClientMetadata(
                assignment=ClientAssignment(actives={}, standbys={}),
                url=f"http://member-{m}",
                changelog_distribution={},
            ).dumps(),
        )
        for m in range(members)
    }
    result = assignor._perform_assignment(cluster, metadata)
    for assignment in result.values():
        carried = ClientMetadata.loads(assignor._decompress(assignment.user_data))
        assert bool(carried.external_topic_distribution) is (assignor_class is PartitionAssignor)
    return {
        member: sum(len(partitions) for _topic, partitions in assignment.assignment)
        for member, assignment in result.items()
    }


def test_faust_gives_one_processor_every_one_partition_topic_and_logway_shares_them() -> None:
    assert sorted(_assign(PartitionAssignor, 2).values()) == [0, 1000]  # why EvenAssignor
    assert sorted(_assign(EvenAssignor, 2).values()) == [500, 500]
    assert sorted(_assign(EvenAssignor, 3).values()) == [333, 333, 334]

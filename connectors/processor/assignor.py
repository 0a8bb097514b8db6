"""How the processors of one group share the tenants' raw partitions: evenly, over all topics.

Faust's own assignor co-partitions: topics with the same number of partitions are assumed to
be joined, so partition k of every one of them goes to the same worker. logway's tenants are
never joined, and most have one partition: two processors over 1,000 one-partition tenants
got 1,000 partitions and none. Here every (topic, partition) counts on its own (`balance`):

1. each member gets the total divided by the members, give or take one, whenever all of them
   subscribe to the same topics (during a discovery they briefly may not);
2. within that, each keeps what it held before (its last assignment, which it sends when it
   joins), so a rebalance for a new tenant moves nothing else; but of one topic at most its
   part, so a tenant with several partitions is spread again once a member comes back;
3. the rest go, in order, to the member with room that holds the fewest of that topic.

The processor has no tables, so there are no changelogs or standbys to place, and nothing
routes requests by key to other workers, so the table of every member's partitions that
Faust's assignor sends to all (`external_topic_distribution`) is left out: with a thousand
tenants and a dozen processors it would pass the 1 MB a group's record may take in Kafka.
Faust uses the app's assignor only while `table_standby_replicas` is above 0 (its default, 1;
`TABLE_STANDBY_REPLICAS` in the environment overrides any setting): at 0 it uses aiokafka's
round robin instead, which shares as evenly but keeps nothing across a rebalance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from faust.assignor.client_assignment import ClientAssignment
from faust.assignor.partition_assignor import PartitionAssignor

TopicPartition = tuple[str, int]


def balance(
    partitions: Iterable[TopicPartition],
    subscriptions: Mapping[str, set[str]],
    held: Mapping[str, Iterable[TopicPartition]],
) -> dict[str, list[TopicPartition]]:
    """Each member's share of `partitions`, only of topics in its `subscriptions`.

    When all subscribe to the same topics, every member gets the total divided by the
    members, give or take one (the ones that held most get the odd partitions). Within that,
    each keeps what it `held`, but of one topic at most its part of that topic's partitions,
    so a tenant with several partitions is spread again once a member comes back; the rest
    go, in order, to the member with room that holds the fewest of that topic, then the
    fewest in all."""
    members = sorted(subscriptions)
    wanted = sorted(set(partitions))
    shares: dict[str, list[TopicPartition]] = {member: [] for member in members}
    if not members:
        return shares
    open_set = set(wanted)
    kept = {
        member: sorted(
            tp
            for tp in set(held.get(member, ()))
            if tp in open_set and tp[0] in subscriptions[member]
        )
        for member in members
    }
    fair, extra = divmod(len(wanted), len(members))
    by_kept = sorted(members, key=lambda member: (-len(kept[member]), member))
    quota = {member: fair + (1 if rank < extra else 0) for rank, member in enumerate(by_kept)}
    sizes = Counter(topic for topic, _ in wanted)
    readers = Counter(topic for member in members for topic in subscriptions[member])
    cap = {topic: -(-size // max(1, readers[topic])) for topic, size in sizes.items()}
    of_topic: dict[str, Counter[str]] = {member: Counter() for member in members}
    owner: dict[TopicPartition, str] = {}

    def give(member: str, tp: TopicPartition) -> None:
        owner[tp] = member
        shares[member].append(tp)
        of_topic[member][tp[0]] += 1

    for member in members:
        for tp in kept[member]:
            if len(shares[member]) >= quota[member]:
                break
            if tp not in owner and of_topic[member][tp[0]] < cap[tp[0]]:
                give(member, tp)
    for tp in wanted:
        if tp in owner:
            continue
        eligible = [member for member in members if tp[0] in subscriptions[member]]
        with_room = [member for member in eligible if len(shares[member]) < quota[member]]
        choices = with_room or eligible
        if choices:
            give(min(choices, key=lambda m: (of_topic[m][tp[0]], len(shares[m]), m)), tp)
    return shares


class EvenAssignor(PartitionAssignor):
    """Faust's assignor, placing partitions with `balance` instead of co-partitioning."""

    def _perform_assignment(self, cluster: Any, member_metadata: Mapping[str, Any]) -> Any:
        if self._table_manager.changelog_topics:
            raise RuntimeError("EvenAssignor places no changelogs: the processor has no tables")
        clients = {
            member: self._get_client_metadata(metadata)
            for member, metadata in member_metadata.items()
        }
        self._update_member_urls(clients)
        subscriptions = {
            member: set(metadata.subscription) for member, metadata in member_metadata.items()
        }
        topics = sorted(set().union(*subscriptions.values()))
        partitions = [
            (topic, partition)
            for topic in topics
            for partition in sorted(cluster.partitions_for_topic(topic) or ())
        ]
        held = {
            member: [
                (topic, partition)
                for topic, numbers in client.assignment.actives.items()
                for partition in numbers
            ]
            for member, client in clients.items()
        }
        assignments = {}
        for member, share in balance(partitions, subscriptions, held).items():
            actives: dict[str, list[int]] = {}
            for topic, partition in share:
                actives.setdefault(topic, []).append(partition)
            assignments[member] = ClientAssignment(actives=actives, standbys={})
        return self._protocol_assignments(
            assignments,
            self._get_changelog_distribution(assignments),
            self._get_external_topic_distribution(assignments),
            {topic: group for group, topic in enumerate(topics)},
        )

    def _get_external_topic_distribution(self, assignments: Any) -> dict[str, Any]:
        return {}  # no requests are routed by key to other workers (see the module)

"""How the processors of one group share the tenants' raw partitions: evenly, over all topics.

Faust's own assignor co-partitions: topics with the same number of partitions are assumed to
be joined, so partition k of every one of them goes to the same worker. logway's tenants are
never joined, and most have one partition: two processors over 1,000 one-partition tenants
got 1,000 partitions and none. Here every (topic, partition) counts on its own:

1. each member keeps what it held before (its last assignment, which it sends when it joins),
   up to its fair share, so a rebalance for a new tenant moves nothing else;
2. the rest go, in order, to the member that subscribes to the topic and holds the fewest.

Every member then holds the total divided by the members, give or take one, whenever all of
them subscribe to the same topics (during a discovery they briefly may not). The processor has
no tables, so there are no changelogs or standbys to place.
"""

from __future__ import annotations

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
    """Each member's share of `partitions`: only of topics in its `subscriptions`, keeping
    what it `held` up to its fair share, the difference between any two at most one when all
    subscribe to the same topics."""
    members = sorted(subscriptions)
    wanted = sorted(set(partitions))
    shares: dict[str, list[TopicPartition]] = {member: [] for member in members}
    if not members:
        return shares
    fair, extra = divmod(len(wanted), len(members))
    owner: dict[TopicPartition, str] = {}
    open_set = set(wanted)
    for bonus in (False, True):  # first up to the fair share, then one more while there is room
        for member in members:
            for tp in sorted(held.get(member, ())):
                limit = fair + (1 if bonus and extra > 0 else 0)
                if len(shares[member]) >= limit:
                    break
                if tp in open_set and tp not in owner and tp[0] in subscriptions[member]:
                    owner[tp] = member
                    shares[member].append(tp)
                    if len(shares[member]) > fair:
                        extra -= 1
    for tp in wanted:
        if tp in owner:
            continue
        eligible = [member for member in members if tp[0] in subscriptions[member]]
        if eligible:
            member = min(eligible, key=lambda m: (len(shares[m]), m))
            owner[tp] = member
            shares[member].append(tp)
    return shares


class EvenAssignor(PartitionAssignor):
    """Faust's assignor, placing partitions with `balance` instead of co-partitioning."""

    def _perform_assignment(self, cluster: Any, member_metadata: Mapping[str, Any]) -> Any:
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

"""Each tenant's SCRAM user, its Kafka login; a new one's password is written for its owners."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from topology.access import SCRAM_ITERATIONS, write_kafka_credentials
from topology.model import Tenant
from topology.publish import PublishedTenant
from topology.resources.change import Change, Kind
from topology.resources.kind import FEW, Wanted, batches, server_error
from topology.targets import Targets


@dataclass(frozen=True)
class UsersSeen:
    users: frozenset[str]  # of the plan's tenants, those with a SCRAM credential


class Users:
    kinds: frozenset[Kind] = frozenset({"user"})

    def observe(self, targets: Targets, wanted: Wanted) -> UsersSeen:
        names = wanted.names
        if not names:
            return UsersSeen(frozenset())
        admin, timeout = targets.admin, targets.timeout
        if len(names) > FEW:
            every = admin.describe_user_scram_credentials(request_timeout=timeout)
            assert not isinstance(every, dict)  # one future for all users
            return UsersSeen(frozenset(every.result()) & frozenset(names))
        described = admin.describe_user_scram_credentials(names, request_timeout=timeout)
        assert isinstance(described, dict)  # one future per named user
        found = set()
        for user, future in described.items():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args and exc.args[0].code() == KafkaError.RESOURCE_NOT_FOUND:
                    continue
                raise
            found.add(user)
        return UsersSeen(frozenset(found))

    def diff(self, wanted: Wanted, seen: UsersSeen) -> list[Change]:
        return [
            Change(
                t.name,
                "user",
                t.name,
                "unchanged" if t.name in seen.users else "create",
                "SCRAM-SHA-512",
            )
            for t in wanted.tenants
        ]

    def removal(self, live: PublishedTenant, wanted: Wanted, seen: UsersSeen) -> list[Change]:
        return [Change(live.name, "user", live.name, "delete")] if live.name in seen.users else []

    def carry_out(
        self, targets: Targets, tenants: Mapping[str, Tenant], changes: Sequence[Change]
    ) -> list[Change]:
        done: list[Change] = []
        passwords = {c.name: secrets.token_urlsafe(24) for c in changes if c.action == "create"}
        for batch in batches(list(changes)):
            alterations: list[UserScramCredentialAlteration] = [
                UserScramCredentialDeletion(c.name, ScramMechanism.SCRAM_SHA_512)
                if c.action == "delete"
                else UserScramCredentialUpsertion(
                    c.name,
                    ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
                    passwords[c.name].encode(),
                )
                for c in batch
            ]
            futures = targets.admin.alter_user_scram_credentials(
                alterations, request_timeout=max(targets.timeout, 60.0)
            )
            for change in batch:
                try:
                    futures[change.name].result()
                except KafkaException as exc:
                    done.append(change.failed(server_error(exc) or str(exc)))
                    continue
                if change.action == "delete":
                    done.append(change.done())
                    continue
                path = write_kafka_credentials(
                    targets.credentials_dir, change.name, passwords[change.name]
                )
                done.append(change.done(f"credentials in {path}"))
        return done

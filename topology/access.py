"""Isolation at the broker: one SCRAM principal per tenant, and ACLs that fence every tenant in.

A tenant's principals are `User:<tenant name>` (a SCRAM user `apply` creates) and the producer
principals its declaration lists. Each of them may:
- write (and describe) the tenant's raw topic, and nothing else;
- read (and describe) the tenant's dead-letter topic, with consumer groups named
  `<tenant>.<anything>`. The '.' ends the name (tenant names cannot contain one), so `acme.`
  never covers the groups of `acme-x`.
Every other topic is refused by the broker's authorizer (`allow.everyone.if.no.acl.found=false`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from logway.core.names import FORWARDER_USER, dlq_topic, group_prefix, raw_topic
from topology.model import Tenant

SCRAM_ITERATIONS = 8192


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW ACL, comparable whether it came from a declaration or from the broker."""

    principal: str
    resource_type: str
    resource: str
    pattern: str
    operation: str

    def binding(self) -> AclBinding:
        return AclBinding(
            ResourceType[self.resource_type],
            self.resource,
            ResourcePatternType[self.pattern],
            self.principal,
            "*",
            AclOperation[self.operation],
            AclPermissionType.ALLOW,
        )

    def filter(self) -> AclBindingFilter:
        """The filter that matches this ALLOW grant and nothing else."""
        return AclBindingFilter(
            ResourceType[self.resource_type],
            self.resource,
            ResourcePatternType[self.pattern],
            self.principal,
            "*",
            AclOperation[self.operation],
            AclPermissionType.ALLOW,
        )

    def __str__(self) -> str:
        pattern = " (prefix)" if self.pattern == "PREFIXED" else ""
        kind = self.resource_type.lower()
        return f"{self.principal} {self.operation} {kind} {self.resource}{pattern}"


def tenant_principal(tenant: Tenant) -> str:
    return f"User:{tenant.name}"


def tenant_grants(tenant: Tenant) -> set[Grant]:
    grants: set[Grant] = set()
    for principal in (tenant_principal(tenant), *tenant.sources.producers):
        for operation in ("WRITE", "DESCRIBE"):
            grants.add(Grant(principal, "TOPIC", raw_topic(tenant.name), "LITERAL", operation))
        for operation in ("READ", "DESCRIBE"):
            grants.add(Grant(principal, "TOPIC", dlq_topic(tenant.name), "LITERAL", operation))
        grants.add(Grant(principal, "GROUP", group_prefix(tenant.name), "PREFIXED", "READ"))
    return grants


FORWARDER_PRINCIPAL = f"User:{FORWARDER_USER}"


def forwarder_grants(tenant: Tenant) -> set[Grant]:
    """What the node forwarder needs to send a tenant's namespaces: write its raw topic. None
    for a tenant that claims no namespace."""
    if not tenant.sources.namespaces:
        return set()
    return {
        Grant(FORWARDER_PRINCIPAL, "TOPIC", raw_topic(tenant.name), "LITERAL", operation)
        for operation in ("WRITE", "DESCRIBE")
    }


def superseded(grant: Grant, tenant: Tenant) -> bool:
    """A grant earlier versions of logway made for `tenant` and no longer want: the group prefix
    `<tenant>-`, which also covered the groups of every tenant named `<tenant>-...`."""
    return (grant.resource_type, grant.pattern, grant.resource) == (
        "GROUP",
        "PREFIXED",
        f"{tenant.name}-",
    )


class NoAuthorizer(Exception):  # noqa: N818 - a broker setting, reported as such
    """The broker has no authorizer configured: ACLs cannot be planned or applied."""


def broker_grants(admin: AdminClient, principal: str | None, timeout: float) -> set[Grant]:
    """The ALLOW grants the broker holds for `principal` (None: for every principal, in one
    request). `NoAuthorizer` when the broker has none."""
    # None matches any resource name, principal and host (the stubs say str; the client
    # takes None).
    query = AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        principal,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ALLOW,
    )
    try:
        bindings = admin.describe_acls(query, request_timeout=timeout).result()
    except KafkaException as exc:
        if exc.args and exc.args[0].code() == KafkaError.SECURITY_DISABLED:
            raise NoAuthorizer(exc.args[0].str()) from exc
        raise
    return {
        Grant(
            b.principal,
            b.restype.name,
            b.name,
            b.resource_pattern_type.name,
            b.operation.name,
        )
        for b in bindings
    }


def scram_user_exists(admin: AdminClient, user: str, timeout: float) -> bool:
    described = admin.describe_user_scram_credentials([user], request_timeout=timeout)
    assert isinstance(described, dict)  # one future per named user
    future = described[user]
    try:
        future.result()
    except KafkaException as exc:
        if exc.args and exc.args[0].code() == KafkaError.RESOURCE_NOT_FOUND:
            return False
        raise
    return True


def create_scram_user(
    admin: AdminClient, tenant: str, credentials_dir: Path, timeout: float
) -> Path:
    """Create the tenant's SCRAM user with a new random password, written to a 0600 file."""
    password = secrets.token_urlsafe(24)
    upsert = UserScramCredentialUpsertion(
        tenant,
        ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
        password.encode(),
    )
    for future in admin.alter_user_scram_credentials([upsert], request_timeout=timeout).values():
        future.result()
    return write_kafka_credentials(credentials_dir, tenant, password)


def write_kafka_credentials(credentials_dir: Path, tenant: str, password: str) -> Path:
    """The tenant's Kafka client settings with its new password, in a 0600 file."""
    credentials_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = credentials_dir / f"{tenant}.properties"
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(
        "# Kafka client settings for tenant "
        f"{tenant}: it may write {raw_topic(tenant)} and read "
        f"{dlq_topic(tenant)}. Keep this secret.\n"
        "security.protocol=SASL_PLAINTEXT\n"
        "sasl.mechanism=SCRAM-SHA-512\n"
        f"sasl.username={tenant}\n"
        f"sasl.password={password}\n"
    )
    return path


def create_grants(admin: AdminClient, grants: list[Grant], timeout: float) -> None:
    futures = admin.create_acls([g.binding() for g in grants], request_timeout=timeout)
    for future in futures.values():
        future.result()

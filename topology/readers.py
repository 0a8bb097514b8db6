"""Read access for a tenant's people: an Elasticsearch role that reads the tenant's indices and
nothing else, and an API key limited to it, written beside the tenant's Kafka credentials.

The role (`logway-reader-<tenant>`) grants `read` and `view_index_metadata` on
`logs-<tenant>.*`, which no other tenant's index matches (tenant names cannot hold a '.'). A
platform maps its people to it (role mapping, SAML/OIDC groups), or gives the owners the API
key `apply` makes: a key of the platform's login limited to that role, so it can never read
more than the role allows, whatever the platform user may do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elasticsearch import ApiError, Elasticsearch

from logway.core.names import index_pattern, reader_role_name


class SecurityOff(Exception):  # noqa: N818 - a state of the cluster, not an error of ours
    """The cluster has no security (a dev or compose cluster): there is nothing to grant."""


def reader_role(tenant: str) -> dict[str, Any]:
    """The role's definition, as `security.put_role` takes it."""
    return {
        "cluster": [],
        "indices": [
            {
                "names": [index_pattern(tenant)],
                "privileges": ["read", "view_index_metadata"],
                "allow_restricted_indices": False,
            }
        ],
        "metadata": {"managed_by": "logway", "tenant": tenant},
    }


def same_role(have: dict[str, Any], want: dict[str, Any]) -> bool:
    def indices(role: dict[str, Any]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        return sorted(
            (tuple(sorted(i.get("names", []))), tuple(sorted(i.get("privileges", []))))
            for i in role.get("indices", [])
        )

    return indices(have) == indices(want) and not have.get("cluster")


def has_api_key(es: Elasticsearch, tenant: str) -> bool:
    """Whether a valid reader key of the tenant exists (made by an earlier apply)."""
    found = es.options(ignore_status=404).security.get_api_key(
        name=reader_role_name(tenant), active_only=True
    )
    return bool(found.get("api_keys")) if found else False


def logs_in_with_api_key(es: Elasticsearch) -> bool:
    """Whether the platform's own login is an API key. Elasticsearch lets an API key make
    only keys without privileges, so then `apply` can make the role but not the reader key."""
    return bool(es.security.authenticate().get("authentication_type") == "api_key")


def create_api_key(
    es: Elasticsearch, tenant: str, credentials_dir: Path, *, refresh: bool | str = True
) -> Path:
    """A key limited to the tenant's reader role, written to a 0600 file; returns its path.
    With `refresh` False it is not waited for: searches for keys may miss it for a second."""
    name = reader_role_name(tenant)
    role = reader_role(tenant)
    role.pop("metadata")
    key = es.security.create_api_key(
        name=name,
        role_descriptors={name: role},
        metadata={"managed_by": "logway", "tenant": tenant},
        refresh=refresh,
    )
    credentials_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = credentials_dir / f"{tenant}.elasticsearch"
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(
        f"# Elasticsearch API key of tenant {tenant}: it reads {index_pattern(tenant)} and "
        "nothing else.\n# Send it as `Authorization: ApiKey <encoded>`. Keep this secret.\n"
        f"id={key['id']}\nencoded={key['encoded']}\n"
    )
    return path


def invalidate_api_keys(es: Elasticsearch, tenant: str) -> None:
    es.options(ignore_status=404).security.invalidate_api_key(name=reader_role_name(tenant))


def roles_of(es: Elasticsearch, tenants: list[str]) -> dict[str, dict[str, Any]]:
    """The reader roles of `tenants` the cluster has, by tenant; `SecurityOff` without
    security. One request per 100 tenants."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(tenants), ROLES_PER_REQUEST):
        chunk = tenants[start : start + ROLES_PER_REQUEST]
        names = ",".join(reader_role_name(t) for t in chunk)
        try:
            answer = es.options(ignore_status=404).security.get_role(name=names)
        except ApiError as exc:
            if _security_off(exc):
                raise SecurityOff from exc
            raise
        for tenant in chunk:
            role = answer.get(reader_role_name(tenant)) if answer else None
            if isinstance(role, dict):
                found[tenant] = dict(role)
    return found


def keyed_tenants(es: Elasticsearch) -> set[str]:
    """The tenants with a valid reader key: one request for all."""
    found = es.options(ignore_status=404).security.get_api_key(
        name=f"{reader_role_name('')}*", active_only=True
    )
    prefix = reader_role_name("")
    return {
        key["name"].removeprefix(prefix)
        for key in (found.get("api_keys", []) if found else [])
        if key.get("name", "").startswith(prefix)
    }


ROLES_PER_REQUEST = 100


def _security_off(exc: ApiError) -> bool:
    return "security" in str(exc).lower() and exc.meta.status in (400, 500)

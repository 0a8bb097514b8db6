"""Per-tenant read access in Elasticsearch with security on: a tenant's API key reads its own
documents and is refused another's, also for two tenants whose names share a prefix."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from elasticsearch import AuthenticationException, AuthorizationException, Elasticsearch
from pydantic import SecretStr

from logway.core.names import index_name, reader_role_name
from logway.core.settings import Endpoints
from tests.integration.support import logway, tenant_yaml

pytestmark = pytest.mark.integration


def with_key(endpoints: Endpoints, credentials: Path, tenant: str) -> Elasticsearch:
    """A client that logs in with the API key `apply` wrote for the tenant's people."""
    lines = (credentials / f"{tenant}.elasticsearch").read_text().splitlines()
    [encoded] = [line.split("=", 1)[1] for line in lines if line.startswith("encoded=")]
    login = {"username": None, "password": None, "api_key": SecretStr(encoded)}
    return endpoints.es.model_copy(update=login).client()


def reader_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if " reader " in line]


def test_a_tenants_key_reads_its_documents_and_is_refused_anothers(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    if not endpoints.es.username:
        pytest.skip("needs an Elasticsearch with security on (the dev runner's)")
    short, longer = f"{tenant_prefix}-ab", f"{tenant_prefix}-ab-x"  # one name prefixes the other
    folder, credentials = tmp_path / "tenants", tmp_path / "creds"
    folder.mkdir()
    for name in (short, longer):
        (folder / f"{name}.yaml").write_text(tenant_yaml(name))
    applied = logway(endpoints, "apply", str(folder), "--credentials-dir", str(credentials))
    made = reader_lines(applied.stdout)
    assert len(made) == 4, applied.stdout  # a role and a key for each
    assert all(line.endswith("[done]") for line in made), made
    assert "[failed]" not in applied.stdout, applied.stdout

    platform = endpoints.es.client()
    today = datetime.now(UTC).date()
    for name in (short, longer):
        platform.index(index=index_name(name, today), id=name, document={"owner": name})
        platform.indices.refresh(index=index_name(name, today))

    for reader, other in ((short, longer), (longer, short)):
        own = with_key(endpoints, credentials, reader)
        try:
            # A wildcard over every tenant resolves to the reader's own indices only.
            hits = own.search(index="logs-*", query={"match_all": {}})["hits"]["hits"]
            assert [hit["_source"]["owner"] for hit in hits] == [reader]
            with pytest.raises(AuthorizationException):
                own.get(index=index_name(other, today), id=other)
            with pytest.raises(AuthorizationException):
                own.index(index=index_name(reader, today), document={"owner": "forged"})
        finally:
            own.close()

    again = reader_lines(logway(endpoints, "plan", str(folder)).stdout)
    assert len(again) == 4, again
    assert all(" unchanged" in line for line in again), again

    (folder / f"{longer}.yaml").unlink()
    logway(
        endpoints,
        "apply",
        str(folder),
        "--prune",
        "--delete-data",
        "--scope",
        f"{tenant_prefix}-.*",
        "--credentials-dir",
        str(credentials),
    )
    revoked = with_key(endpoints, credentials, longer)
    try:
        with pytest.raises(AuthenticationException):
            revoked.search(index="logs-*")
    finally:
        revoked.close()
    roles = platform.options(ignore_status=404).security
    assert roles.get_role(name=reader_role_name(longer)) == {}
    assert reader_role_name(short) in roles.get_role(name=reader_role_name(short))
    platform.close()


def test_a_platform_logged_in_with_an_api_key_gets_the_role_and_is_told_why_no_key(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    if not endpoints.es.username:
        pytest.skip("needs an Elasticsearch with security on (the dev runner's)")
    name = f"{tenant_prefix}-keyed"
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / f"{name}.yaml").write_text(tenant_yaml(name))
    platform = endpoints.es.client()
    # A key of the platform user without role descriptors carries the user's privileges.
    key = platform.security.create_api_key(name=f"{tenant_prefix}-platform")
    keyed = Endpoints(
        kafka=endpoints.kafka,
        es=endpoints.es.model_copy(
            update={"username": None, "password": None, "api_key": SecretStr(key["encoded"])}
        ),
    )
    try:
        applied = logway(keyed, "apply", str(folder), "--credentials-dir", str(tmp_path / "c"))
        role, key_line = reader_lines(applied.stdout)
        assert role.endswith("[done]"), applied.stdout
        assert "unsupported" in key_line, key_line
        assert "map the team's people" in key_line, key_line
        assert not (tmp_path / "c" / f"{name}.elasticsearch").exists()
        assert reader_role_name(name) in platform.security.get_role(name=reader_role_name(name))
    finally:
        platform.security.invalidate_api_key(ids=[key["id"]])
        platform.close()

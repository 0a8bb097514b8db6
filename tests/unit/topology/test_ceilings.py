"""The platform's ceilings on what a tenant declares: read from LOGWAY_TENANT_MAX_*, and a tenant
over one refused with its file, line and field, so a tenant cannot raise its own limit past
what the platform allows."""

from pathlib import Path

import pytest
import yaml

from topology.ceilings import Ceilings, most_shards, over_ceilings
from topology.live import check_live
from topology.load import load_document, load_tenants

TENANT = """\
name: greedy
owners: {team: greedy, slack_channel: "#greedy", webhook_secret: GREEDY_HOOK}
topics:
  partitions: 12
limits:
  records_per_s: 1000000
  produce_bytes_per_s: 104857600
storage:
  retention_days: 30
"""


def test_ceilings_are_read_from_the_environment() -> None:
    ceilings = Ceilings.from_env(
        {
            "LOGWAY_TENANT_MAX_RECORDS_PER_S": "20_000",
            "LOGWAY_TENANT_MAX_PARTITIONS": " 6 ",
            "LOGWAY_TENANT_MAX_STORAGE_BYTES": "",
        }
    )
    assert ceilings == Ceilings(records_per_s=20_000, partitions=6)
    assert Ceilings.from_env({}) == Ceilings()


@pytest.mark.parametrize(
    ("value", "says"),
    [("lots", "is not a whole number"), ("0", "must be 1 or more"), ("-5", "must be 1 or more")],
)
def test_a_bad_ceiling_names_its_variable(value: str, says: str) -> None:
    with pytest.raises(ValueError, match=f"LOGWAY_TENANT_MAX_RECORDS_PER_S.*{says}"):
        Ceilings.from_env({"LOGWAY_TENANT_MAX_RECORDS_PER_S": value})


def test_every_declared_value_over_its_ceiling_is_named() -> None:
    tenant = load_document("greedy.yaml", {"name": "greedy", **_spec()}).tenants[0].tenant
    over = over_ceilings(
        tenant,
        Ceilings(
            records_per_s=20_000,
            produce_bytes_per_s=10_485_760,
            partitions=6,
            retention_days=30,  # exactly at the ceiling: allowed
            storage_bytes=10**11,  # none declared: it must be
        ),
    )
    assert [loc for loc, _ in over] == [
        ("limits", "records_per_s"),
        ("limits", "produce_bytes_per_s"),
        ("topics", "partitions"),
        ("storage", "max_bytes"),
    ]
    assert "1000000 is over the platform's ceiling of 20000" in over[0][1]
    assert "LOGWAY_TENANT_MAX_STORAGE_BYTES" in over[3][1]
    assert over_ceilings(tenant, Ceilings()) == []


def test_the_shards_a_tenant_holds_are_two_generations_per_route_whatever_its_days() -> None:
    spec = {
        **_spec(),
        "routes": [{"index": "audit", "when": 'kind == "audit"'}, {"index": "default"}],
    }
    tenant = load_document("greedy.yaml", {"name": "greedy", **spec}).tenants[0].tenant
    assert tenant.storage.retention_days == 30
    assert most_shards(tenant) == 2 * 2
    assert over_ceilings(tenant, Ceilings(shards=4)) == []
    [(loc, message)] = over_ceilings(tenant, Ceilings(shards=3))
    assert loc == ("routes",)
    assert "2 route index(es) x 2 generations = 4 shards" in message
    assert "LOGWAY_TENANT_MAX_SHARDS" in message


def test_apply_refuses_a_tenant_over_a_ceiling_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "greedy.yaml").write_text(TENANT)
    (tmp_path / "modest.yaml").write_text(
        TENANT.replace("greedy", "modest").replace("1000000", "500")
    )
    result = load_tenants([tmp_path])
    assert not result.errors

    errors = check_live(result, {}, {}, ceilings=Ceilings(records_per_s=20_000))

    assert [str(e) for e in errors] == [
        f"{tmp_path / 'greedy.yaml'}:6:18: greedy.limits.records_per_s: 1000000 is over the "
        "platform's ceiling of 20000 (LOGWAY_TENANT_MAX_RECORDS_PER_S): declare 20000 or less, "
        "or ask the platform team for more"
    ]
    assert [t.tenant.name for t in result.tenants] == ["modest"]  # the other goes ahead


def _spec() -> dict[str, object]:
    spec = yaml.safe_load(TENANT)
    spec.pop("name")
    return dict(spec)

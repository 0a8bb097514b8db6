"""Property: any valid tenant survives a trip through YAML unchanged, and keeps its version."""

from pathlib import Path
from tempfile import TemporaryDirectory

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from topology.load import load_tenants
from topology.model import (
    DeadLetterSettings,
    Limits,
    Notify,
    Owners,
    Sources,
    Tenant,
    TopicSettings,
)
from topology.publish import tenant_version

names = st.from_regex(r"[a-z][a-z0-9-]{1,30}", fullmatch=True)
namespaces = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
principals = st.from_regex(r"User:[A-Za-z0-9._@=-]{1,40}", fullmatch=True)
text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1
).filter(lambda s: s.strip() == s and s.strip())

tenants = st.builds(
    Tenant,
    name=names,
    owners=st.builds(
        Owners,
        team=text.filter(lambda s: len(s) <= 100),
        slack_channel=st.from_regex(r"#[a-z0-9][a-z0-9._-]{0,30}", fullmatch=True),
        webhook_secret=st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,40}", fullmatch=True),
    ),
    sources=st.builds(
        Sources,
        namespaces=st.lists(namespaces, max_size=5, unique=True).map(tuple),
        producers=st.lists(principals, max_size=3, unique=True).map(tuple),
    ),
    topics=st.builds(
        TopicSettings,
        partitions=st.integers(1, 64),
        retention_hours=st.integers(1, 720),
        max_record_bytes=st.integers(1_048_576, 8_388_608),
    ),
    dlq=st.builds(
        DeadLetterSettings,
        retention_hours=st.integers(24, 2160),
        notify=st.builds(
            Notify,
            digest_minutes=st.integers(1, 1440),
            min_severity=st.sampled_from(["info", "warning", "critical"]),
        ),
    ),
    limits=st.builds(
        Limits,
        produce_bytes_per_s=st.integers(1024, 104_857_600),
        records_per_s=st.integers(1, 1_000_000),
    ),
)


@settings(max_examples=200, deadline=None)
@given(tenants)
def test_a_valid_tenant_round_trips_through_yaml(tenant: Tenant) -> None:
    with TemporaryDirectory() as folder:
        path = Path(folder) / "tenant.yaml"
        path.write_text(yaml.safe_dump(tenant.model_dump(mode="json"), allow_unicode=True))
        result = load_tenants([path])
    assert result.errors == []
    [loaded] = result.tenants
    assert loaded.tenant == tenant
    assert tenant_version(loaded.tenant) == tenant_version(tenant)

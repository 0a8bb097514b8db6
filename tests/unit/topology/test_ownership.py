"""Who may claim what when tenants are LoggingPipelines: consent from namespaces, grants
listed by the platform, and the oldest claimant keeping what two claim."""

from __future__ import annotations

from typing import Any

from topology.model import Tenant
from topology.ownership import (
    CONSENT_LABEL,
    FORWARD_KEYS_ANNOTATION,
    PRODUCERS_ANNOTATION,
    Namespace,
    Resource,
    all_claims,
    refusals,
)

OLD = Resource("2026-11-01T10:00:00Z", "shop", "pay")
NEW = Resource("2026-11-02T10:00:00Z", "web", "web")


def tenant(name: str, **sources: Any) -> Tenant:
    return Tenant.model_validate(
        {
            "name": name,
            "owners": {"team": "t", "slack_channel": "#t", "webhook_secret": "H"},
            "sources": sources,
        }
    )


def test_a_resource_claims_its_own_namespace_and_its_own_principal_freely() -> None:
    assert refusals(tenant("pay", namespaces=["shop"]), OLD, {}, {}) == []


def test_another_namespace_needs_its_consent_label_naming_this_tenant() -> None:
    claim = tenant("pay", namespaces=["shop", "cart"])
    [refused] = refusals(claim, OLD, {"cart": Namespace("cart")}, {})
    assert refused.loc == ("sources", "namespaces", 1)
    assert f"{CONSENT_LABEL}=pay" in refused.message
    assert refused.owner is None
    other = {"cart": Namespace("cart", {CONSENT_LABEL: "someone-else"})}
    assert refusals(claim, OLD, other, {})
    consented = {"cart": Namespace("cart", {CONSENT_LABEL: "pay"})}
    assert refusals(claim, OLD, consented, {}) == []
    [missing] = refusals(claim, OLD, {}, {})
    assert "does not exist yet" in missing.message


def test_producers_and_forward_keys_need_the_platforms_listing_on_the_home_namespace() -> None:
    claim = tenant(
        "pay",
        producers=["User:pay", "User:billing"],
        forward={"shared_key_secret": "PAY_KEY"},
    )
    refused = refusals(claim, OLD, {}, {})
    assert [r.loc for r in refused] == [
        ("sources", "producers", 1),
        ("sources", "forward", "shared_key_secret"),
    ]
    home = Namespace(
        "shop",
        annotations={
            PRODUCERS_ANNOTATION: "User:billing, User:x",
            FORWARD_KEYS_ANNOTATION: "PAY_KEY",
        },
    )
    assert refusals(claim, OLD, {"shop": home}, {}) == []
    elsewhere = {"web": home}  # another namespace's listing grants nothing here
    assert len(refusals(claim, OLD, elsewhere, {})) == 2


def test_the_older_resource_keeps_a_claim_and_the_later_is_refused_naming_it() -> None:
    consent = {"shop": Namespace("shop", {CONSENT_LABEL: "web"})}
    claimants = {("namespace", "shop"): [OLD, NEW]}
    newer = tenant("web", namespaces=["shop"])
    [refused] = refusals(newer, NEW, consent, claimants)
    assert refused.owner == "shop/pay"
    assert "LoggingPipeline shop/pay" in refused.message
    assert refusals(tenant("pay", namespaces=["shop"]), OLD, {}, claimants) == []


def test_a_tie_in_age_goes_to_the_first_by_namespace_and_name() -> None:
    twin_a = Resource("2026-11-01T10:00:00Z", "a", "pay")
    twin_b = Resource("2026-11-01T10:00:00Z", "b", "pay")
    claimants = {("tenant name", "pay"): [twin_b, twin_a]}
    assert refusals(tenant("pay"), twin_a, {}, claimants) == []
    [refused] = refusals(tenant("pay"), twin_b, {}, claimants)
    assert refused.loc == ("name",)
    assert refused.owner == "a/pay"


def test_a_resource_never_conflicts_with_itself() -> None:
    claims = {(kind, value): [OLD] for kind, value, _ in all_claims(tenant("pay"))}
    assert refusals(tenant("pay"), OLD, {}, claims) == []

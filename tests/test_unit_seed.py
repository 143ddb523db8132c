"""The seed spec and the tenants it builds (no network)."""

from pathlib import Path

import pytest

from tenantmove.sandbox.state import SKU_CATALOG, SeedError, build_tenants, load_seed


def test_default_seed_builds_two_tenants_with_distinct_initial_domains() -> None:
    tenants = build_tenants(load_seed(), scale=1)
    old, new = (next(t for t in tenants.values() if t.key == k) for k in ("old", "new"))
    assert old.initial_domain != new.initial_domain
    assert "contoso.example" in old.domains and not new.domains.keys() - {new.initial_domain}
    assert len(new.users) == 1 and len(old.users) == 24 + 2 + 2  # 24 people, 2 guests, a room and a projector


def test_scale_multiplies_generated_objects_and_stays_unique() -> None:
    tenants = build_tenants(load_seed(), scale=25)
    old = next(t for t in tenants.values() if t.key == "old")
    upns = [u["userPrincipalName"] for u in old.users.values()]
    assert len(upns) == 4 + 500 + 2 + 2 and len(set(upns)) == len(upns)  # seeded, generated, guests, resources
    assert len(old.groups) == 4 + 100


def test_consumed_licences_follow_assignments() -> None:
    old = next(t for t in build_tenants(load_seed(), 1).values() if t.key == "old")
    assert old.consumed(SKU_CATALOG["O365_BUSINESS_PREMIUM"]["skuId"]) == 23


def test_unknown_seed_key_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "seed.yaml"
    bad.write_text("tenants:\n  - {key: a, id: x, display_name: A, initial_domain: a.onmicrosoft.com, mailbox: []}\n")
    with pytest.raises(SeedError, match="unknown key"):
        load_seed(bad)

"""The settings areas' bookkeeping: the custom domain's password expiry kept after it leaves the old tenant,
old domains mapped to the new tenant's, and every area the parameter accepts built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tenantmove.runbook.params import SETTING_AREAS
from tenantmove.workloads import readback
from tenantmove.workloads.inventory import Inventory
from tenantmove.workloads.setting_areas import Sides, areas, capture_domains, captured_domains, domain_map


def inventory(domains: list[dict[str, Any]]) -> Inventory:
    empty = pd.DataFrame()
    return Inventory({}, empty, empty, empty, empty, empty, empty, raw={"domains": domains})


def domain(name: str, days: int, initial: bool = False) -> dict[str, Any]:
    return {"id": name, "isInitial": initial, "passwordValidityPeriodInDays": days,
            "passwordNotificationWindowInDays": 7}


def test_a_domain_that_left_the_tenant_keeps_the_values_seen_before(tmp_path: Path) -> None:
    capture_domains(tmp_path, inventory([domain("contoso.onmicrosoft.com", 90, True), domain("Contoso.example", 90)]))
    # phase 00 again after phase 20: the custom domain is gone from the old tenant, its values are not
    kept = capture_domains(tmp_path, inventory([domain("contoso.onmicrosoft.com", 60, True)]))
    assert kept["contoso.example"]["passwordValidityPeriodInDays"] == 90
    assert kept["contoso.onmicrosoft.com"]["passwordValidityPeriodInDays"] == 60  # the newer reading wins
    assert captured_domains(tmp_path) == kept


def test_old_domains_map_to_the_new_tenant_initial_and_the_moving_one_to_itself(tmp_path: Path) -> None:
    kept = capture_domains(tmp_path, inventory([domain("contoso.onmicrosoft.com", 90, True), domain("contoso.example", 90),
                                                domain("legacy.example", 30)]))
    assert domain_map(kept, "contosonew.onmicrosoft.com", "Contoso.example") == {
        "contoso.onmicrosoft.com": "contosonew.onmicrosoft.com", "contoso.example": "contoso.example"}
    assert domain_map({}, "contosonew.onmicrosoft.com", "contoso.example") == {}  # phase 00 never saw it


def test_every_area_the_parameter_names_exists() -> None:
    built = areas(Sides(None, None))  # type: ignore[arg-type]
    assert tuple(built) == SETTING_AREAS
    assert all(a.title and a.name == key for key, a in built.items())


def test_a_read_back_the_token_may_not_make_leaves_the_admins_word_alone_and_says_so(tmp_path: Path) -> None:
    from tenantmove.engine import Engine, Ledger
    from tenantmove.services.graph import GraphError
    from tenantmove.workloads.settings import ManualSettings, mark_done

    from .files_helpers import run_keeping

    def refused() -> readback.Probe:
        raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")

    mark_done(tmp_path, ["teams-policies"], "tester", "checked in the Teams admin centre")
    with Ledger(tmp_path / "l.sqlite", "r") as ledger:
        out = run_keeping(Engine(ledger, "40_admin_settings"), ManualSettings(tmp_path, {"teams-policies": refused}))
        history = ledger.history("manual-setting", "teams-policies")
    row = next(r for r in out.rows if r["key"] == "teams-policies")
    assert row["action"] == "done by the admin"  # not "read back": nothing was read
    assert "marked done by tester" in history[-1]["note"]

"""Security gaps: a policy on in the old tenant is a gap in the new one until it is on or waived by someone, and
the admin's commands write where the runs read (the state folder has one owner)."""

from __future__ import annotations

from pathlib import Path

from tenantmove.runbook import statefolder
from tenantmove.runbook.runner import main
from tenantmove.workloads import security


def test_report_only_or_missing_is_a_gap_and_a_waiver_names_who_and_why(tmp_path: Path) -> None:
    old = [{"displayName": "Require MFA", "state": "enabled"}, {"displayName": "Block legacy", "state": "enabled"},
           {"displayName": "Trial", "state": "enabledForReportingButNotEnforced"}]
    new = [{"displayName": "require mfa", "state": "enabledForReportingButNotEnforced"},
           {"displayName": "Trial", "state": "enabledForReportingButNotEnforced"}]
    gaps = security.ca_gaps(old, new, {})
    assert [(g.key, g.new, g.open) for g in gaps] == [("conditional access: Require MFA",
                                                       "enabledForReportingButNotEnforced", True),
                                                      ("conditional access: Block legacy", "missing", True)]
    assert "ca_enforce" in gaps[0].detail() and "waive" in gaps[0].detail()
    security.waive(tmp_path, "conditional access: Block legacy", "carol@contoso", "replaced by a network rule")
    gaps = security.ca_gaps(old, new, security.waivers(tmp_path))
    assert [g.open for g in gaps] == [True, False]
    assert "waived by carol@contoso" in gaps[1].detail() and "network rule" in gaps[1].detail()
    on = [{"displayName": "Require MFA", "state": "enabled"}, {"displayName": "Block legacy", "state": "enabled"}]
    assert security.ca_gaps(old, on, {}) == []


def test_the_admins_commands_write_where_the_demos_runs_read(tmp_path: Path) -> None:
    raw = {"name": "demo", "state_dir": str(tmp_path / "state")}
    assert statefolder.resolve(raw) == tmp_path / "state"
    current = statefolder.fresh(raw, "20261203T200000Z-demo")
    assert statefolder.resolve(raw) == current
    params = tmp_path / "demo.yaml"
    params.write_text(f"name: demo\nstate_dir: {tmp_path / 'state'}\noperator: carol@contoso\n")
    assert main(["waive", str(params), "conditional access: Require MFA", "--why", "pilot group only"]) == 0
    assert security.waivers(current)["conditional access: Require MFA"]["by"] == "carol@contoso"
    assert main(["done", str(params), "exchange-connectors"]) == 0
    assert (current / "manual-done.csv").is_file() and not (tmp_path / "state" / "manual-done.csv").exists()
    assert main(["waive", str(params), "conditional access: Require MFA", "--why", " "]) == 2


class _Area:
    """A setting area as phase 40 reads it: each side's values."""

    def __init__(self, name: str, old: dict, new: dict) -> None:
        self.name, self.title, self.sides = name, name, {"old": old, "new": new}

    def values(self, side: str) -> dict:
        return self.sides[side]

    def shown(self, setting: str, value: object) -> str:
        return str(value)


def test_a_protective_setting_weaker_in_the_new_tenant_is_a_gap_and_a_stricter_one_is_not(tmp_path: Path) -> None:
    areas = {
        "securityDefaults": _Area("securityDefaults", {"isEnabled": True}, {"isEnabled": False}),
        "authorization": _Area("authorization", {"allowInvitesFrom": "adminsAndGuestInviters", "blockMsolPowerShell": False},
                               {"allowInvitesFrom": "everyone", "blockMsolPowerShell": True}),
        "authenticationMethods": _Area("authenticationMethods", {"registrationEnforcement": {
            "authenticationMethodsRegistrationCampaign": {"state": "enabled"}}}, {"registrationEnforcement": {
                "authenticationMethodsRegistrationCampaign": {"state": "default"}}}),
        "pronouns": _Area("pronouns", {"isEnabledInOrganization": True}, {"isEnabledInOrganization": False}),
    }
    gaps = security.setting_gaps(areas, {})
    assert sorted(g.key for g in gaps) == ["setting: authenticationMethods: registrationEnforcement",
                                          "setting: authorization: allowInvitesFrom",
                                          "setting: securityDefaults: isEnabled"]  # PowerShell blocked: stricter
    weaker = next(g for g in gaps if g.key.endswith("allowInvitesFrom"))
    assert "settings_apply: authorization" in weaker.detail() and "everyone" in weaker.detail()
    security.waive(tmp_path, weaker.key, "carol@contoso", "guests are invited by the service desk")
    assert [g.open for g in security.setting_gaps(areas, security.waivers(tmp_path))].count(False) == 1
    areas["securityDefaults"] = _Area("securityDefaults", {"isEnabled": False}, {"isEnabled": True})
    assert not [g for g in security.setting_gaps(areas, {}) if "securityDefaults" in g.key]

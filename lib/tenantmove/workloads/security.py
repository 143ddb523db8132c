"""Security gaps: a protection on in the old tenant that is weaker in the new one. A conditional-access policy
that is on in the old tenant and only report-only (or off) in the new one is a gap, not a success; so is a setting
whose new value protects less than the old one did (security defaults off, guests invited by anyone, sharing opened
up, legacy authentication allowed, an authentication-methods campaign not enforced). Phase 90 names each; it closes
only when the new tenant is as strict (``ca_enforce``; the area applied by phase 40) or an accountable person
waives it, with who and why, through ``python -m tenantmove waive``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TenantmoveError
from . import records

WAIVERS = "waivers.csv"  # in the state folder: key, by, at, why
ENABLED = "enabled"


def ca_key(name: str) -> str:
    return f"conditional access: {name}"


@dataclass(frozen=True)
class Gap:
    key: str
    old: str
    new: str
    waiver: dict[str, str] | None
    fix: str = "ca_enforce: true (phase 40)"

    @property
    def open(self) -> bool:
        return self.waiver is None

    def detail(self) -> str:
        if self.waiver is not None:
            return (f"waived by {self.waiver.get('by')} at {self.waiver.get('at')}: {self.waiver.get('why')} "
                    f"(old tenant {self.old}, new tenant {self.new})")
        return (f"a security gap: {self.old} in the old tenant, {self.new} in the new one. Close it with {self.fix}, "
                f"or waive it: python -m tenantmove waive PARAMS '{self.key}' --why '...'")


def waivers(state_dir: Path) -> dict[str, dict[str, str]]:
    return records.by_key(Path(state_dir) / WAIVERS)


def waive(state_dir: Path, key: str, by: str, why: str) -> dict[str, str]:
    """Record that ``by`` accepts the gap ``key`` for the reason ``why`` (appended: earlier waivers stay)."""
    return records.append(Path(state_dir) / WAIVERS, ["key", "by", "at", "why"], {"key": key, "by": by, "why": why})


def ca_gaps(old_policies: list[dict[str, Any]], new_policies: list[dict[str, Any]],
            waived: dict[str, dict[str, str]]) -> list[Gap]:
    """Each policy on in the old tenant whose copy (same name) is not on in the new one, waived or not."""
    there = {str(p.get("displayName", "")).lower(): p for p in new_policies}
    gaps = []
    for policy in old_policies:
        if policy.get("state") != ENABLED:
            continue
        copy = there.get(str(policy.get("displayName", "")).lower())
        state = str(copy.get("state")) if copy else "missing"
        if state != ENABLED:
            key = ca_key(str(policy.get("displayName")))
            gaps.append(Gap(key, ENABLED, state, waived.get(key)))
    return gaps


def _order(*values: Any) -> Callable[[Any], int | None]:
    """Rank a value by its place in ``values``, the strictest first (None: a value the rule does not know)."""
    return lambda v: values.index(v) if v in values else None


def _state(*states: str, inside: str = "") -> Callable[[Any], int | None]:
    """Rank an object's ``state`` (or its ``inside`` object's), the strictest first."""
    def rank(value: Any) -> int | None:
        if inside and isinstance(value, dict):
            value = value.get(inside)
        state = value.get("state") if isinstance(value, dict) else None
        return states.index(state) if state in states else None
    return rank


# the settings that protect the organisation, by (area, setting): how their values rank, the strictest first
STRICTER_FIRST: dict[tuple[str, str], Callable[[Any], int | None]] = {
    ("securityDefaults", "isEnabled"): _order(True, False),
    ("authorization", "allowInvitesFrom"): _order("none", "adminsAndGuestInviters", "adminsGuestInvitersAndAllMembers",
                                                  "everyone"),
    ("authorization", "blockMsolPowerShell"): _order(True, False),
    ("authorization", "allowedToSignUpEmailBasedSubscriptions"): _order(False, True),
    ("authorization", "allowEmailVerifiedUsersToJoinOrganization"): _order(False, True),
    ("sharepoint", "sharingCapability"): _order("disabled", "existingExternalUserSharingOnly", "externalUserSharingOnly",
                                                "externalUserAndGuestSharing"),
    ("sharepoint", "isResharingByExternalUsersEnabled"): _order(False, True),
    ("sharepoint", "isLegacyAuthProtocolsEnabled"): _order(False, True),
    ("authenticationMethods", "registrationEnforcement"): _state("enabled", "default", "disabled",
                                                                 inside="authenticationMethodsRegistrationCampaign"),
    ("authenticationMethods", "systemCredentialPreferences"): _state("enabled", "default", "disabled"),
    ("authenticationMethods", "reportSuspiciousActivitySettings"): _state("enabled", "default", "disabled"),
}


def setting_key(area_title: str, setting: str) -> str:
    return f"setting: {area_title}: {setting}"


def setting_gaps(areas: dict[str, Any], waived: dict[str, dict[str, str]]) -> list[Gap]:
    """Each protective setting (:data:`STRICTER_FIRST`) whose new value ranks weaker than the old one. ``areas``
    are phase 40's setting areas (``values(side)``, ``shown(setting, value)``); an area a side cannot read is left
    to the settings check, which names it."""
    gaps = []
    for name, area in areas.items():
        rules = {s: rank for (a, s), rank in STRICTER_FIRST.items() if a == name}
        if not rules:
            continue
        try:
            old, new = area.values("old"), area.values("new")
        except TenantmoveError:
            continue
        for setting, rank in rules.items():
            before, after = rank(old.get(setting)), rank(new.get(setting))
            if before is not None and after is not None and after > before:
                key = setting_key(area.title, setting)
                gaps.append(Gap(key, area.shown(setting, old.get(setting)), area.shown(setting, new.get(setting)),
                                waived.get(key), fix=f"settings_apply: {name} (phase 40)"))
    return gaps

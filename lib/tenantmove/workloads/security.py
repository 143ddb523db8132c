"""Security gaps: a protection on in the old tenant that is weaker in the new one. A conditional-access policy
that is on in the old tenant and only report-only (or off) in the new one is a gap, not a success: phase 90 names
it, and it closes only when the policy is switched on (``ca_enforce``) or an accountable person waives it, with
who and why, through ``python -m tenantmove waive``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    @property
    def open(self) -> bool:
        return self.waiver is None

    def detail(self) -> str:
        if self.waiver is not None:
            return (f"waived by {self.waiver.get('by')} at {self.waiver.get('at')}: {self.waiver.get('why')} "
                    f"(old tenant {self.old}, new tenant {self.new})")
        return (f"a security gap: {self.old} in the old tenant, {self.new} in the new one. Close it with ca_enforce: "
                f"true (phase 40), or waive it: python -m tenantmove waive PARAMS '{self.key}' --why '...'")


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

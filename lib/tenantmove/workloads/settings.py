"""Admin settings: what Graph v1.0 can read and write (the areas of :mod:`.setting_areas`),
conditional access (named locations, then policies, created report-only or disabled and rewritten through the
user and group mappings; switching them on is a separate, confirmed step), and the settings no API carries
(Exchange organisation settings, Teams policies, service settings) as manual items the admin marks done."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload
from ..errors import TenantmoveError
from ..services.conditional_access import CaClient
from ..services.graph import GraphError
from . import readback, records
from .readback import Probe
from .setting_areas import Area

MANUAL_DONE = "manual-done.csv"  # in the state folder: key, by, at, note — the admin's word for what no API shows
REPORT_ONLY = "enabledForReportingButNotEnforced"
SPECIAL_USERS = {"All", "None", "GuestsOrExternalUsers"}
SPECIAL_LOCATIONS = {"All", "AllTrusted"}


def _reason(exc: Exception) -> str:
    if isinstance(exc, GraphError):
        return exc.one_line()
    return str(exc)


def diff(areas: dict[str, Area], selected: list[str]) -> pd.DataFrame:
    """Every setting of every area, old beside new, whether they differ and whether this migration applies it.
    An area one side cannot read is one row saying why; the others go on."""
    rows = []
    for area in areas.values():
        try:
            before, after = area.values("old"), area.values("new")
        except (GraphError, TenantmoveError) as exc:
            rows.append({"area": area.title, "setting": "(cannot read)", "old tenant": _reason(exc), "new tenant": "",
                         "differs": False, "applied": "no"})
            continue
        for name in sorted(set(before) | set(after), key=lambda k: (k in area.read_only, k)):
            applied = "read-only" if name in area.read_only else "yes" if area.name in selected else "no"
            rows.append({"area": area.title, "setting": name, "old tenant": area.shown(name, before.get(name)),
                         "new tenant": area.shown(name, after.get(name)), "differs": before.get(name) != after.get(name),
                         "applied": applied})
    return pd.DataFrame(rows, columns=["area", "setting", "old tenant", "new tenant", "differs", "applied"])


class Settings(Workload):
    """Each setting of the selected areas: written to the new tenant when it differs, read back and compared.
    One setting at a time per area (a group setting or the branding is one object)."""

    kind = "setting"
    title = "settings"
    destructive = True
    scope_limit = 1

    def __init__(self, areas: dict[str, Area], selected: list[str]) -> None:
        self.areas, self.selected = areas, selected

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for name in self.selected:
            area = self.areas[name]
            try:
                before = area.values("old")
            except (GraphError, TenantmoveError) as exc:  # the item fails with the reason; other areas go on
                yield Work(f"{name}|*", f"{area.title}: (cannot read the old tenant)", scope=name, data=(area, "*", exc))
                continue
            for setting, value in before.items():
                if setting not in area.read_only:
                    yield Work(f"{name}|{setting}", f"{area.title}: {setting}", version=json.dumps(value, sort_keys=True),
                               scope=name, data=(area, setting, value))

    def apply(self, work: Work, existing: Any | None) -> Applied:
        area, setting, value = work.data
        if isinstance(value, Exception):
            raise TenantmoveError(f"{area.title}: cannot read the old tenant's settings: {_reason(value)}",
                                  hint="grant the permission phase 00's table names for phase 40, then rerun")
        try:
            if area.values("new").get(setting) == value:
                return Applied(None, "already so")
            area.write(setting, value)
            now = area.values("new").get(setting)
        except GraphError as exc:
            raise TenantmoveError(f"{area.title}: {setting}: the new tenant refused: {exc.one_line()}",
                                  hint=f"a 403 needs the permission phase 00's table names for phase 40; otherwise "
                                       f"set it in {area.where or 'the admin centre'}, then rerun") from exc
        if now != value:
            raise TenantmoveError(f"{area.title}: {setting} reads back as {json.dumps(now)}, not {json.dumps(value)}",
                                  hint=f"the new tenant may not allow this value (licence or policy); set it in "
                                       f"{area.where or 'the admin centre'}, then rerun")
        return Applied(None, "applied", detail={"value": value})


def _clean(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k not in ("id", "createdDateTime", "modifiedDateTime")}


class NamedLocations(Workload):
    kind = "named-location"
    title = "named locations"
    destructive = True

    def __init__(self, old: CaClient, new: CaClient) -> None:
        self.old, self.new = old, new
        self._there: dict[str, dict[str, Any]] | None = None

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for loc in self.old.all("namedLocations"):
            yield Work(str(loc["id"]), str(loc["displayName"]), version=str(loc.get("modifiedDateTime")), data=loc)

    def find(self, work: Work) -> Any | None:
        if self._there is None:
            self._there = {str(x["displayName"]).lower(): x for x in self.new.all("namedLocations")}
        return self._there.get(work.name.lower())

    def apply(self, work: Work, existing: Any | None) -> Applied:
        if existing is not None:
            return Applied(str(existing["id"]), "adopted")
        made = self.new.create("namedLocations", _clean(work.data))
        return Applied(str(made["id"]), "created")


class ConditionalAccess(Workload):
    """Each policy, its users, groups and locations rewritten to the new tenant's; created report-only (or
    disabled, when it was), never on: switching on is :class:`ConditionalAccessOn`, behind its own confirmation."""

    kind = "ca-policy"
    title = "conditional-access policies"
    destructive = True

    def __init__(self, old: CaClient, new: CaClient, users: dict[str, str], groups: dict[str, str],
                 locations: dict[str, str], names: dict[str, str], renamed: dict[str, str] | None = None) -> None:
        """``renamed``: old policy id -> its name in the new tenant (a merge: another old tenant's has its name)."""
        self.old, self.new = old, new
        self.users, self.groups, self.locations, self.names = users, groups, locations, names
        self.renamed = renamed or {}
        self._there: dict[str, dict[str, Any]] | None = None

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for policy in self.old.all("policies"):
            name = self.renamed.get(str(policy["id"]), str(policy["displayName"]))
            yield Work(str(policy["id"]), name, version=str(policy.get("modifiedDateTime")),
                       detail={"source state": policy.get("state"),
                               **({"named in the old tenant": policy["displayName"]} if name != policy["displayName"]
                                  else {})}, data=policy)

    def find(self, work: Work) -> Any | None:
        if self._there is None:
            self._there = {str(x["displayName"]).lower(): x for x in self.new.all("policies")}
        return self._there.get(work.name.lower())

    def rewrite(self, policy: dict[str, Any]) -> dict[str, Any]:
        """The policy for the new tenant: every user, group and location id mapped; state report-only or
        disabled. Raises, naming them, when someone or something it names does not move."""
        body = json.loads(json.dumps(_clean(policy)))
        users = (body.get("conditions") or {}).get("users") or {}
        missing = []
        for key in ("includeUsers", "excludeUsers"):
            ids = users.get(key) or []
            missing += [f"user {self.names.get(i, i)}" for i in ids if i not in SPECIAL_USERS and i not in self.users]
            users[key] = [i if i in SPECIAL_USERS else self.users.get(i, i) for i in ids]
        for key in ("includeGroups", "excludeGroups"):
            ids = users.get(key) or []
            missing += [f"group {self.names.get(i, i)}" for i in ids if i not in self.groups]
            users[key] = [self.groups.get(i, i) for i in ids]
        locations = (body.get("conditions") or {}).get("locations") or {}
        for key in ("includeLocations", "excludeLocations"):
            ids = locations.get(key) or []
            missing += [f"named location {i}" for i in ids if i not in SPECIAL_LOCATIONS and i not in self.locations]
            locations[key] = [i if i in SPECIAL_LOCATIONS else self.locations.get(i, i) for i in ids]
        if missing:
            raise TenantmoveError(f"policy {policy.get('displayName')!r} names {', '.join(missing)}, not moved to the "
                                  "new tenant", hint="add them to the user mapping (or remove them from the policy in "
                                                     "the old tenant), then rerun phase 40")
        body["state"] = "disabled" if policy.get("state") == "disabled" else REPORT_ONLY
        return body

    def apply(self, work: Work, existing: Any | None) -> Applied:
        if existing is not None:
            return Applied(str(existing["id"]), "adopted", detail={"source state": work.data.get("state")})
        made = self.new.create("policies", {**self.rewrite(work.data), "displayName": work.name})
        action = "created report-only" if made.get("state") == REPORT_ONLY else f"created {made.get('state')}"
        return Applied(str(made["id"]), action, detail={"source state": work.data.get("state")})


class ConditionalAccessOn(Workload):
    """The copies of policies that are on in the old tenant, switched on in the new one (its own confirmation)."""

    kind = "ca-policy-on"
    title = "conditional-access policies switched on"
    destructive = True

    def __init__(self, new: CaClient, copies: list[tuple[str, str, str]]) -> None:
        self.new, self.copies = new, copies  # (old id, name, new id) of policies on in the old tenant

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for old_id, name, new_id in self.copies:
            yield Work(old_id, name, data=new_id)

    def apply(self, work: Work, existing: Any | None) -> Applied:
        if self.new.get("policies", work.data).get("state") != "enabled":
            self.new.set_state(work.data, "enabled")
        return Applied(work.data, "switched on")


@dataclass(frozen=True)
class ManualSetting:
    key: str
    title: str
    where: str
    commands: tuple[str, ...]


MANUAL = (
    ManualSetting("exchange-transport-rules", "Exchange mail flow (transport) rules",
                  "Exchange admin centre > Mail flow > Rules",
                  ("# old tenant: Connect-ExchangeOnline; Get-TransportRule | Export-Clixml transport-rules.xml",
                   "# new tenant: Connect-ExchangeOnline; for each rule: New-TransportRule with its conditions")),
    ManualSetting("exchange-connectors", "Exchange inbound and outbound connectors",
                  "Exchange admin centre > Mail flow > Connectors",
                  ("# Get-InboundConnector; Get-OutboundConnector (old) -> New-InboundConnector; New-OutboundConnector",)),
    ManualSetting("exchange-accepted-domains", "Exchange accepted domains (their type) and email address policies",
                  "Exchange admin centre > Mail flow > Accepted domains",
                  ("# Get-AcceptedDomain; Get-EmailAddressPolicy (old) -> Set-AcceptedDomain -DomainType; "
                   "New-EmailAddressPolicy",)),
    ManualSetting("exchange-org-policies", "Exchange anti-spam, anti-malware and retention policies",
                  "Microsoft Defender portal > Policies; Purview > Data lifecycle",
                  ("# Get-HostedContentFilterPolicy; Get-MalwareFilterPolicy; Get-RetentionPolicy (old) -> New-*",)),
    ManualSetting("teams-policies", "Teams meeting, messaging and calling policies (their settings and who has them)",
                  "Teams admin centre > Meetings / Messaging / Voice",
                  ("# Get-CsTeamsMeetingPolicy; Get-CsTeamsMessagingPolicy (old): set the same values with "
                   "Set-CsTeamsMeetingPolicy; Set-CsTeamsMessagingPolicy (new)",)),
    ManualSetting("service-settings", "Org settings of the Microsoft 365 admin centre (services, security, privacy)",
                  "Microsoft 365 admin centre > Settings > Org settings",
                  ("# no API or cmdlet covers all of them: compare the two admin centres page by page",)),
)


def manual_done(state_dir: Path) -> dict[str, dict[str, str]]:
    return records.by_key(state_dir / MANUAL_DONE)


def mark_done(state_dir: Path, keys: list[str], by: str, note: str = "") -> None:
    """The admin's word that a manual item is done (who, when, a note): what the next run reads."""
    for key in keys:
        records.append(state_dir / MANUAL_DONE, ["key", "by", "at", "note"], {"key": key, "by": by, "note": note})


class ManualSettings(Workload):
    """What no API carries, with where to find it and the commands. Done when the admin says so (who, when);
    where some API can read part of it back (:mod:`.readback`), that is read on every run: a reading that
    does not hold keeps the item open, whatever was said, with the commands that would make it hold."""

    kind = "manual-setting"
    title = "settings no API carries"
    manual_shell = "Exchange Online PowerShell, Teams PowerShell and the admin centres"

    def __init__(self, state_dir: Path, probes: dict[str, Callable[[], Probe]] | None = None) -> None:
        self.state_dir, self.probes = state_dir, probes or {}

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for item in MANUAL:
            yield Work(item.key, item.title, detail={"where": item.where}, data=item)

    def apply(self, work: Work, existing: Any | None) -> Applied | ManualStep:
        done = manual_done(self.state_dir).get(work.key)
        item = work.data
        seen = readback.run(self.probes.get(work.key))
        if done is not None and (seen is None or seen.ok):
            return Applied(None, "done by the admin, read back" if seen and seen.read else "done by the admin",
                           note=f"marked done by {done['by']} at {done['at']}: {done.get('note', '')}",
                           detail=readback.describe(seen))
        said = f" (marked done by {done['by']} at {done['at']}, but it does not read back so)" if done else ""
        commands = [*(seen.commands if seen else []), *item.commands,
                    f"# when done: python -m tenantmove done PARAMS.yaml {item.key} --note '...'"]
        return ManualStep(work.key, f"{item.title} ({item.where}){said}", commands,
                          check=seen.found if seen else f"{MANUAL_DONE} in the state folder names {item.key}")

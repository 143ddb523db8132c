"""Several old tenants into one new one (the article's third case): each old tenant is a migration of its own into
the shared new tenant, and everything that meets there is checked across them before anything is written. A
clash is a plan item with its resolution: a recorded rule (a suffix, a merge) or the admin's mapping; what no rule
resolves stops the merge before any change, in one line, with the fix. Never a silent overwrite.

What meets in the new tenant:
- **people**: two mapping rows (of two migrations) with the same new UPN. The same person in both old tenants is
  the admin's word (``action: merge`` in the later migration's row): one person, made by the first migration, the
  later mailbox's folders merged under a folder named for its migration. Otherwise the ``users`` rule: ``refuse`` (the default: the admin chooses in a mapping)
  or ``suffix`` (the later migration's person gets ``local.<suffix>@domain``);
- **guests**: one migration's guest who is a person of another (the same address): one person, a member;
- **groups**: the same mail nickname or display name. ``suffix`` (the default: ``sales-<suffix>``, "Sales
  (<suffix>)"), ``merge`` (one group, the members of both) or ``refuse``;
- **sites**: the same URL. ``suffix`` (the default: ``sites/intranet-<suffix>``) or ``refuse``;
- **seats**: every migration's licences together against the new tenant's free seats, per SKU (never a rule);
- **domains**: a migration's custom domain verified in another migration's old tenant (never a rule).

The migrations are taken in the merge file's order: the first keeps its names, a later one takes the suffix."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import pandas as pd

from ..errors import TenantmoveError
from .inventory import Inventory

RULES = {"users": ("refuse", "suffix"), "groups": ("suffix", "merge", "refuse"), "sites": ("suffix", "refuse")}
DEFAULT_RULES = {"users": "refuse", "groups": "suffix", "sites": "suffix"}
COLUMNS = ["area", "in the new tenant", "migrations", "rule", "resolution", "blocking"]
ROOT_SITE = "(the root site)"  # every old tenant's root site meets the new tenant's
MERGE_ACTION = "merge"  # a mapping row's action: the same person as an earlier migration's row with the same new UPN


class MergeRefused(TenantmoveError):
    """Something meets in the new tenant that no rule resolves: nothing is written."""


@dataclass(frozen=True)
class Source:
    """One old tenant's migration, as the merge sees it."""

    name: str                 # the migration's name (its parameter file's ``name``)
    suffix: str               # what its names get when they meet another's (``fabrikam``)
    tenant: str               # its old tenant (id)
    domains: pd.DataFrame     # its old tenant's domains: domain, verified
    moving: pd.DataFrame      # its user mapping's rows that move: source_upn, target_upn, action, licences, ...
    groups: pd.DataFrame      # its old tenant's groups: id, displayName, mailNickname, kind
    sites: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["url", "title"]))  # url: sites/x
    mailboxes: frozenset[str] = frozenset()  # old UPNs (lower case) that have a mailbox
    custom_domains: tuple[str, ...] = ()     # the domains this migration moves
    guests: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source_upn", "target_upn"]))
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # phase 40's areas: its old tenant's values
    policies: tuple[dict[str, Any], ...] = ()  # its old tenant's conditional-access policies


@dataclass(frozen=True)
class Clash:
    area: str
    key: str                      # what meets in the new tenant
    sources: tuple[str, ...]      # the migrations that meet there (merge order)
    rule: str                     # suffix | merge | refuse | mapping | none
    resolution: str               # what happens, or the fix
    blocking: bool = False

    def row(self) -> dict[str, object]:
        return {"area": self.area, "in the new tenant": self.key, "migrations": ", ".join(self.sources),
                "rule": self.rule, "resolution": self.resolution, "blocking": self.blocking}


@dataclass
class Resolution:
    """What the merge changes in one migration, for its phases: its groups' and sites' new names, its people's new
    UPNs (the suffix rule), its people another migration makes (merged), its guests who are another migration's
    people, and the folder a merged mailbox's folders go under."""

    migration: str
    folder: str = ""
    groups: dict[str, dict[str, str]] = field(default_factory=dict)  # old group id -> {column: new value}
    sites: dict[str, str] = field(default_factory=dict)               # old url (sites/x) -> new url
    users: dict[str, str] = field(default_factory=dict)               # old UPN -> new UPN (suffix rule)
    merged: dict[str, str] = field(default_factory=dict)              # old UPN -> the UPN another migration makes
    members_elsewhere: dict[str, str] = field(default_factory=dict)   # guest's old UPN -> that person's new UPN
    merged_in: dict[str, list[str]] = field(default_factory=dict)     # new UPN this one makes -> folders another
                                                                      # migration merges into its mailbox
    settings_from: dict[str, str] = field(default_factory=dict)       # phase 40's area -> the migration whose
                                                                      # values the new tenant takes
    policies: dict[str, str] = field(default_factory=dict)            # old policy id -> its name in the new tenant

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Resolution:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def inventory(self, src: Inventory) -> Inventory:
        """The old tenant as the new one receives it: groups under their new names."""
        if not self.groups:
            return src
        groups = src.groups.copy()
        for n, gid in enumerate(groups["id"]):
            for column, value in self.groups.get(str(gid), {}).items():
                groups.loc[groups.index[n], column] = value
        return replace(src, groups=groups)

    def moving(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The mapping's moving rows with the suffix rule's new UPNs."""
        if not self.users or rows.empty:
            return rows
        return rows.assign(target_upn=[self.users.get(str(s).lower(), t)
                                       for s, t in zip(rows["source_upn"], rows["target_upn"], strict=True)])


def _resolution(into: dict[str, Resolution], source: Source) -> Resolution:
    return into.setdefault(source.name, Resolution(source.name, folder=source.suffix.capitalize()))


def rules_problems(rules: dict[str, str], where: str) -> list[TenantmoveError]:
    """Each unknown area or rule, named with what is allowed."""
    out = []
    for area, rule in rules.items():
        if area not in RULES:
            out.append(TenantmoveError(f"unknown area {area!r}", where=f"{where}: rules.{area}",
                                       hint=f"the areas are: {', '.join(RULES)}"))
        elif rule not in RULES[area]:
            out.append(TenantmoveError(f"rules.{area} is {rule!r}", where=f"{where}: rules.{area}",
                                       hint=f"use one of: {', '.join(RULES[area])}"))
    return out


def suffixed_upn(upn: str, suffix: str) -> str:
    local, _, domain = upn.partition("@")
    return f"{local}.{suffix}@{domain}"


def _people(sources: list[Source], rule: str, into: dict[str, Resolution]) -> list[Clash]:
    claims: dict[str, list[tuple[Source, pd.Series]]] = defaultdict(list)
    for source in sources:
        for _, row in source.moving.iterrows():
            claims[str(row["target_upn"]).lower()].append((source, row))
    out = []
    for upn, rows in claims.items():
        names = tuple(dict.fromkeys(s.name for s, _ in rows))
        if len(names) < 2:
            continue
        if all(str(r.get("action", "")).lower() == MERGE_ACTION for _, r in rows[1:]):  # the first makes them
            for s, r in rows[1:]:
                _resolution(into, s).merged[str(r["source_upn"]).lower()] = upn
            boxes = [s for s, r in rows if str(r["source_upn"]).lower() in s.mailboxes]
            if len(boxes) > 1:  # the mailbox the first migration makes holds the later ones' folders too
                _resolution(into, rows[0][0]).merged_in[upn] = [_resolution(into, s).folder for s in boxes[1:]]
            later = ", ".join(f"{s.name}'s under '{_resolution(into, s).folder}'"
                              for s in boxes[1:])
            out.append(Clash("people", upn, names, "mapping: merge",
                             "one person in the new tenant" + (f"; the mailbox of {', '.join(s.name for s in boxes[1:])}"
                                                               f" merged into it, its folders {later}"
                                                               if len(boxes) > 1 else "")))
        elif rule == "suffix":
            moved = [f"{s.name}'s {r['source_upn']} becomes {suffixed_upn(upn, s.suffix)}" for s, r in rows[1:]]
            for s, r in rows[1:]:
                _resolution(into, s).users[str(r["source_upn"]).lower()] = suffixed_upn(upn, s.suffix)
            out.append(Clash("people", upn, names, "suffix", f"{rows[0][0].name}'s {rows[0][1]['source_upn']} keeps "
                                                             f"it; " + "; ".join(moved)))
        else:
            who = " and ".join(f"{s.name} ({r['source_upn']})" for s, r in rows)
            out.append(Clash("people", upn, names, "refuse", f"claimed by {who}: give one of them another target_upn "
                             f"in its user mapping (e.g. {suffixed_upn(upn, rows[1][0].suffix)}), set action: merge "
                             f"in {rows[1][0].name}'s row if it is the same person, or set rules.users: suffix",
                             blocking=True))
    return out


def _guests(sources: list[Source], into: dict[str, Resolution]) -> list[Clash]:
    """A guest of one migration who is a person of another (invited at the address that person moves with): one
    person in the new tenant, never a guest of their own organisation."""
    people = {str(r["target_upn"]).lower(): s for s in sources for _, r in s.moving.iterrows()}
    out = []
    for source in sources:
        for _, guest in source.guests.iterrows():
            address = str(guest["target_upn"]).lower()
            member = people.get(address)
            if member is not None and member is not source:
                _resolution(into, source).members_elsewhere[str(guest["source_upn"]).lower()] = address
                out.append(Clash("guests", address, (source.name, member.name), "merge",
                                 f"a person of {member.name}: {source.name}'s invitation is not sent, and "
                                 f"{source.name}'s groups get {member.name}'s {address} as a member"))
    return out


def _groups(sources: list[Source], rule: str, into: dict[str, Resolution]) -> list[Clash]:
    out = []
    for column, what in (("mailNickname", "mail nickname"), ("displayName", "name")):
        seen: dict[str, list[tuple[Source, pd.Series]]] = defaultdict(list)
        for source in sources:
            for _, group in source.groups.iterrows():
                seen[str(group[column]).lower()].append((source, group))
        for key, rows in seen.items():
            names = tuple(dict.fromkeys(s.name for s, _ in rows))
            if len(names) < 2:
                continue
            if rule == "merge":
                resolution = f"one group: the members and owners of {' and '.join(names)} together"
            elif rule == "suffix":
                for s, g in rows[1:]:
                    _resolution(into, s).groups.setdefault(str(g["id"]), {})[column] = (
                        f"{g['mailNickname']}-{s.suffix}" if column == "mailNickname"
                        else f"{g['displayName']} ({s.suffix})")
                    if column == "mailNickname":  # a group's own site is named for its nickname: it moves with it
                        nick = str(g["mailNickname"]).lower()
                        _resolution(into, s).sites.setdefault(f"sites/{nick}", f"sites/{nick}-{s.suffix}")
                resolution = "; ".join(
                    f"{s.name}'s becomes " + (f"{g['mailNickname']}-{s.suffix}" if column == "mailNickname"
                                              else f"\"{g['displayName']} ({s.suffix})\"") for s, g in rows[1:])
            else:
                resolution = (f"the {what} {key!r} is in {' and '.join(names)}: rename one in its old tenant, or set "
                              "rules.groups: suffix or merge")
            out.append(Clash(f"group {what}", key, names, rule, resolution, blocking=rule == "refuse"))
    return out


def _sites(sources: list[Source], rule: str, into: dict[str, Resolution]) -> list[Clash]:
    seen: dict[str, list[Source]] = defaultdict(list)
    for source in sources:
        for url in source.sites["url"]:
            seen[str(url).strip("/").lower()].append(source)
    out = []
    for url, listed in seen.items():
        found = list({s.name: s for s in listed}.values())  # each migration once
        names = tuple(s.name for s in found)
        if len(names) < 2:
            continue
        shown = url or ROOT_SITE
        if rule == "suffix":  # a later migration's root site becomes a site named for it (sites/fabrikam)
            for s in found[1:]:
                _resolution(into, s).sites[url] = f"{url}-{s.suffix}" if url else f"sites/{s.suffix}"
            out.append(Clash("sites", shown, names, "suffix",
                             "; ".join(f"{s.name}'s becomes {_resolution(into, s).sites[url]}" for s in found[1:])
                             + (f" ({found[0].name}'s takes the new tenant's root site)" if not url else "")))
        else:
            out.append(Clash("sites", shown, names, "refuse", f"{shown} is in {' and '.join(names)}: set rules.sites: "
                                                              "suffix, or rename one of the sites first", blocking=True))
    return out


def _skus(value: object) -> list[str]:
    return [s for s in str(value if isinstance(value, str) else "").replace(";", " ").split() if s]


def seats_needed(sources: list[Source]) -> dict[str, dict[str, int]]:
    """SKU -> migration -> seats its moving people need (a merged person counts once, in the first migration)."""
    need: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    counted: set[str] = set()
    for source in sources:
        for _, row in source.moving.iterrows():
            upn = str(row["target_upn"]).lower()
            if str(row.get("action", "")).lower() == MERGE_ACTION and upn in counted:
                continue
            counted.add(upn)
            for sku in _skus(row.get("licences")):
                need[sku][source.name] += 1
    return need


def _seats(sources: list[Source], free: dict[str, int]) -> list[Clash]:
    out = []
    for sku, per in sorted(seats_needed(sources).items()):
        total = sum(per.values())
        names = tuple(per)
        if len(names) < 2 and total <= free.get(sku, 0):
            continue
        detail = " + ".join(f"{n} {c}" for n, c in per.items())
        if total > free.get(sku, 0):
            out.append(Clash("seats", sku, names, "none", f"{detail} = {total} needed, {free.get(sku, 0)} free in the "
                                                          "new tenant: buy the missing seats, or move fewer people "
                                                          "(action: skip)", blocking=True))
        else:
            out.append(Clash("seats", sku, names, "none", f"{detail} = {total} of {free[sku]} free"))
    return out


def _domains(sources: list[Source]) -> list[Clash]:
    out = []
    for source in sources:
        for domain in source.custom_domains:
            for other in sources:
                if other is source:
                    continue
                held = other.domains[(other.domains["domain"].str.lower() == domain.lower())
                                     & other.domains["verified"].astype(str).str.lower().isin(["true", "1"])]
                if not held.empty:
                    out.append(Clash("domains", domain, (source.name, other.name), "none",
                                     f"{domain}, moved by {source.name}, is verified in {other.name}'s old tenant: move "
                                     f"it with {other.name} (its parameter file's domain), not with {source.name}",
                                     blocking=True))
        moved = {d.lower() for d in source.custom_domains}
        for _, row in source.domains.iterrows():  # a custom domain of the old tenant that no migration moves
            name = str(row["domain"]).lower()
            if name not in moved and not name.endswith(".onmicrosoft.com") and \
                    str(row.get("verified")).lower() in ("true", "1"):
                out.append(Clash("domains", name, (source.name,), "none",
                                 f"stays in {source.name}'s old tenant: its people move with other addresses, and "
                                 f"mail to it keeps going there (name it in {source.name}'s also_domains to move it)"))
    return out


def _cutovers(sources: list[Source]) -> list[Clash]:
    """Each migration's cutover (phases 20 and 30) moves its own domains only: one source's domains can move while
    another's people keep working."""
    out = []
    for source in sources:
        others = [s.name for s in sources if s is not source]
        out.append(Clash("order", f"cutover of {source.name}", (source.name,), "none",
                         f"phases 20 and 30 of {source.name} move {', '.join(source.custom_domains)}, each with its "
                         f"own DNS settings and downtime record; {', '.join(others)}'s people keep working (their "
                         "domains are not touched)"))
    return out


def _order(sources: list[Source], into: dict[str, Resolution]) -> list[Clash]:
    """The order phase 30 must keep across the migrations: a person is made by one migration before another adds
    them to its groups (merged people; guests who are people there)."""
    out = []
    owner = {str(r["target_upn"]).lower(): s.name for s in sources for _, r in s.moving.iterrows()
             if str(r.get("action", "")).lower() != MERGE_ACTION}
    for source in sources:
        res = into.get(source.name)
        if res is None:
            continue
        for what, people in (("merged people", res.merged), ("guests who are people there", res.members_elsewhere)):
            makers = sorted({owner[upn] for upn in people.values() if upn in owner and owner[upn] != source.name})
            for maker in makers:
                first = sources.index(next(s for s in sources if s.name == maker)) < sources.index(source)
                out.append(Clash("order", f"phase 30: {maker}, then {source.name}", (maker, source.name), "none",
                                 f"{source.name}'s {what} are made by {maker}: " + (
                                     f"run {maker}'s phase 30 first" if first else
                                     f"{source.name}'s phase 30 adds them to its groups when run again after "
                                     f"{maker}'s")))
    if out:
        names = tuple(s.name for s in sources)
        out.append(Clash("order", "phases 40 and later: after every phase 30", names, "none",
                         "content names people another migration makes (shares, mentions, authors): each "
                         "migration's phases from 40 on start once every migration's phase 30 is done (they refuse "
                         "before)"))
    return out


def _settings(sources: list[Source], winners: dict[str, str], into: dict[str, Resolution]) -> list[Clash]:
    """A tenant-wide setting area (phase 40) whose values differ between the old tenants: the new tenant takes one
    migration's, the merge file's ``settings.<area>`` or else the first's; the others' phase 40 leaves it alone."""
    out = []
    for area in sorted({a for s in sources for a in s.settings} | set(winners)):
        have = [(s, s.settings[area]) for s in sources if area in s.settings]
        differing = sorted({k for _, v in have for k in v if any(o.get(k) != v.get(k) for _, o in have)})
        if not differing and area not in winners:
            continue
        chosen = winners.get(area) or have[0][0].name
        for source in sources:
            _resolution(into, source).settings_from[area] = chosen
        others = [s.name for s in sources if s.name != chosen]
        out.append(Clash("settings", area, tuple(s.name for s, _ in have) or (chosen,),
                         "merge file" if area in winners else "first",
                         f"{chosen}'s values (they differ in {', '.join(differing[:4]) or 'nothing read'}"
                         f"{', ...' if len(differing) > 4 else ''}); phase 40 of {', '.join(others)} shows its own "
                         f"beside them and does not apply {area}"))
    return out


def _policies(sources: list[Source], into: dict[str, Resolution]) -> list[Clash]:
    """Conditional-access policies of several old tenants: one with another's name is created under a name of its
    own (never adopted as the other's), and one that applies to all users is reported, since in the new tenant it
    covers the other old tenants' people too. Neither is stacked blindly: both stay report-only until ca_enforce."""
    out, seen = [], {}
    for source in sources:
        for policy in source.policies:
            name = str(policy.get("displayName") or "")
            first = seen.setdefault(name.lower(), source)
            if first is not source:
                renamed = f"{name} ({source.suffix})"
                _resolution(into, source).policies[str(policy["id"])] = renamed
                out.append(Clash("conditional access", name, (first.name, source.name), "suffix",
                                 f"{source.name}'s becomes '{renamed}': both are created report-only, neither replaces "
                                 "the other; compare them before switching either on"))
            users = ((policy.get("conditions") or {}).get("users") or {}).get("includeUsers") or []
            others = [s.name for s in sources if s is not source]
            if "All" in users and others:
                out.append(Clash("conditional access", name, (source.name,), "report",
                                 f"{source.name}'s policy applies to all users: in the new tenant it covers "
                                 f"{', '.join(others)}'s people too; scope it to {source.name}'s people (a group) or "
                                 "agree it for everyone before ca_enforce switches it on"))
    return out


def clashes(sources: list[Source], free_seats: dict[str, int], rules: dict[str, str] | None = None,
            into: dict[str, Resolution] | None = None, winners: dict[str, str] | None = None) -> list[Clash]:
    """Everything that meets in the new tenant, with its resolution (the blocking ones carry the fix); ``into``
    receives each migration's :class:`Resolution`, for its phases; ``winners``: phase 40's area -> the migration
    whose values the new tenant takes (the merge file's ``settings``)."""
    chosen = {**DEFAULT_RULES, **(rules or {})}
    into = {} if into is None else into
    for source in sources:
        _resolution(into, source)
    found = (_domains(sources) + _people(sources, chosen["users"], into) + _guests(sources, into)
             + _groups(sources, chosen["groups"], into) + _sites(sources, chosen["sites"], into)
             + _seats(sources, free_seats) + _settings(sources, winners or {}, into) + _policies(sources, into))
    return found + _cutovers(sources) + _order(sources, into)


def table(found: list[Clash]) -> pd.DataFrame:
    return pd.DataFrame([c.row() for c in found], columns=COLUMNS)


def require_resolved(found: list[Clash], where: str) -> None:
    """Stop before any change when a clash has no resolution: the first named in one line, with its fix."""
    blocking = [c for c in found if c.blocking]
    if blocking:
        first = blocking[0]
        more = f" (and {len(blocking) - 1} more: see the merge plan)" if len(blocking) > 1 else ""
        raise MergeRefused(f"{first.area}: {first.key}{more}", where=where, hint=first.resolution)

"""``python -m tenantmove merge-plan MERGE.yaml``: several old tenants into one new one, checked before anything is
written. A merge file names the migrations (one parameter file per old tenant, all with the same new tenant), in
the order whose first keeps its names, each with a suffix for its names that meet another's, and the rules
(:mod:`..workloads.merge`):

    merge: contoso-fabrikam          # the merge's name: its folder is state/<merge>
    sources:
      - {params: demo.yaml, suffix: contoso}
      - {params: demo-fabrikam.yaml, suffix: fabrikam}
    rules: {users: refuse, groups: suffix, sites: suffix}

Each old tenant is read as phase 00 saw it (its state folder's inventory) or, before phase 00, now; its user
mapping is the one in its state folder (or ``user_mapping``), or the one phase 10 would generate. Every clash is
shown with its resolution and kept in ``<merge folder>/merge-plan.csv``; what no rule resolves stops here."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from ..errors import TenantmoveError
from ..paths import default_state_dir
from ..services.conditional_access import CaClient
from ..services.graph import GraphClient, GraphError
from ..services.sites import SiteClient
from ..workloads import inventory, mapping, setting_areas
from ..workloads.inventory import Inventory
from ..workloads.merge import (
    MERGE_ACTION,
    RULES,
    Resolution,
    Source,
    clashes,
    require_resolved,
    rules_problems,
    table,
)
from ..workloads.sites import PUBLIC_HOST_SUFFIX
from . import statefolder
from .connect import Endpoints, check_state_tenants, connect, resolve, tenant_identity
from .params import SETTING_AREAS, Params, absolutize, load_yaml, validate

KEYS = {"merge", "sources", "rules", "settings", "state_dir"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SUFFIX_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?$")
PLAN_FILE = "merge-plan.csv"
RESOLUTIONS_FILE = "merge-plan.json"  # what each migration's phases apply, with what the plan was made from


@dataclass(frozen=True)
class Migration:
    """One old tenant's migration in the merge: its parameters, its raw file and where its state is kept."""

    params: Params
    raw: dict[str, Any]
    suffix: str
    state: Path
    origin: str


@dataclass(frozen=True)
class MergeFile:
    name: str
    path: Path
    migrations: list[Migration]
    rules: dict[str, str]
    folder: Path
    winners: dict[str, str] = field(default_factory=dict)  # phase 40's area -> the migration whose values win


def _bad(message: str, where: str, hint: str) -> TenantmoveError:
    return TenantmoveError(message, where=where, hint=hint)


def load(path: Path) -> MergeFile:
    """The merge file, each migration's parameters validated and what must hold across them checked: one new
    tenant for all, and each name, suffix, old tenant and state folder its own. The first problem, in one line."""
    raw = load_yaml(path)
    origin = str(path)
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise _bad(f"unknown key {unknown[0]!r}", f"{origin}: {unknown[0]}", f"the keys are: {', '.join(sorted(KEYS))}")
    name = str(raw.get("merge") or "").strip()
    if not NAME_RE.match(name):
        raise _bad(f"merge is {name!r}", f"{origin}: merge", "name the merge (letters, digits, dots, dashes), e.g. "
                                                            "merge: contoso-fabrikam")
    entries = raw.get("sources")
    if not isinstance(entries, list) or len(entries) < 2:
        raise _bad("a merge needs at least two sources", f"{origin}: sources",
                   "list one parameter file per old tenant: sources: [{params: a.yaml, suffix: a}, ...]")
    rules = {str(k): str(v) for k, v in (raw.get("rules") or {}).items()}
    problems = rules_problems(rules, origin)
    if problems:
        raise problems[0]
    migrations = []
    for n, entry in enumerate(entries):
        where = f"{origin}: sources[{n}]"
        if not isinstance(entry, dict) or not entry.get("params"):
            raise _bad("a source needs its parameter file", where, "write {params: old-tenant.yaml, suffix: name}")
        suffix = str(entry.get("suffix") or "").strip().lower()
        if not SUFFIX_RE.match(suffix):
            raise _bad(f"suffix {suffix!r} is not usable in names and addresses", f"{where}.suffix",
                       "give 1 to 20 lower-case letters, digits or dashes, e.g. suffix: fabrikam")
        file = (path.parent / str(entry["params"])).resolve()
        if not file.is_file():
            raise _bad(f"{file} does not exist", f"{where}.params", "give the path of the old tenant's parameter file, "
                                                                    "relative to the merge file")
        params_raw = load_yaml(file)
        params = validate(absolutize(params_raw, Path.cwd()), origin=str(file), check_environment=False)
        migrations.append(Migration(params, params_raw, suffix, statefolder.resolve(params_raw), str(file)))
    first = migrations[0]
    for m in migrations[1:]:
        if m.params.target.tenant.lower() != first.params.target.tenant.lower() or m.params.cloud != first.params.cloud:
            raise _bad(f"{m.origin} moves into {m.params.target.tenant}, {first.origin} into "
                       f"{first.params.target.tenant}", f"{m.origin}: target",
                       "a merge has one new tenant: give every source's parameter file the same target")
    for field_name, values in (("name", [m.params.name for m in migrations]), ("suffix", [m.suffix for m in migrations]),
                               ("source.tenant", [m.params.source.tenant.lower() for m in migrations]),
                               ("state folder", [str(m.state) for m in migrations])):
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise _bad(f"two sources share the {field_name} {twice[0]!r}", f"{origin}: sources",
                       f"each old tenant is a migration of its own: give each its own {field_name}")
    winners = {str(k): str(v) for k, v in (raw.get("settings") or {}).items()}
    names = [m.params.name for m in migrations]
    for area, who in winners.items():
        if area not in SETTING_AREAS:
            raise _bad(f"unknown settings area {area!r}", f"{origin}: settings.{area}",
                       f"the areas are: {', '.join(SETTING_AREAS)}")
        if who not in names:
            raise _bad(f"settings.{area} names {who!r}, not a migration of this merge", f"{origin}: settings.{area}",
                       f"name the migration whose values the new tenant takes: one of {', '.join(names)}")
    return MergeFile(name, path, migrations, rules, merge_folder(raw), winners)


def merge_folder(raw: dict[str, Any]) -> Path:
    """Where a merge keeps its plan: its ``state_dir`` (relative to where the command starts), else state/<merge>."""
    if not raw.get("state_dir"):
        return default_state_dir(str(raw.get("merge") or ""))
    folder = Path(str(raw["state_dir"])).expanduser()
    return folder if folder.is_absolute() else Path.cwd() / folder


def _sites(client: GraphClient) -> pd.DataFrame:
    """Every site of the old tenant (subsites too: phase 50 reads them the same way; the root site as ""), by the
    path that meets another's in the new tenant."""
    rows = []
    for site in SiteClient(client).all_sites():  # the root site's path is "": every old tenant has one
        where = urlparse(str(site.get("webUrl") or ""))
        if str(where.hostname or "").endswith(PUBLIC_HOST_SUFFIX):  # a public website: not a site of the tenant's
            continue
        url = where.path.strip("/")
        rows.append({"url": url, "title": site.get("displayName") or site.get("name") or url or "(the root site)"})
    return pd.DataFrame(rows, columns=["url", "title"])


def mapping_file(params: Params, state: Path) -> Path:
    return Path(params.user_mapping) if params.user_mapping else state / "users.csv"


def mapping_digest(path: Path) -> str:
    """What the plan was made from: the mapping file's SHA-256, or ``generated`` before phase 10 wrote one."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "generated"


def _mapping(m: Migration, src: Inventory, new_initial: str) -> pd.DataFrame:
    """The migration's user mapping (its file, or the one phase 10 would generate), actions in lower case."""
    path = mapping_file(m.params, m.state)
    df = mapping.read(path) if path.is_file() else mapping.generate(src, m.params.domains, new_initial)
    action = df["action"].replace("", "move").str.lower() if "action" in df else pd.Series(["move"] * len(df))
    return df.assign(action=action)


def source_of(m: Migration, endpoints: Endpoints, new_initial: str, new: GraphClient) -> Source:
    """One migration as the merge sees it: read from its old tenant (app-only) and its state folder."""
    check_state_tenants(m.params, endpoints, m.state)  # a state folder of another old or new tenant stops here
    _, old = connect(m.params.source, endpoints, company=m.params.company)
    saved = m.state / "inventory" / "source"
    src = inventory.load(saved) if (saved / "inventory.json").is_file() else inventory.collect(old, people=True)
    rows = _mapping(m, src, new_initial)
    licensed = src.users["licences"].fillna("").astype(str).str.strip() != "" if "licences" in src.users else \
        pd.Series(False, index=src.users.index)
    boxes = frozenset(str(u).lower() for u in src.users.loc[licensed, "userPrincipalName"])  # a licence, a mailbox
    return Source(m.params.name, m.suffix, str(src.organization.get("id") or ""), src.domains,
                  rows[rows["action"].isin(["move", MERGE_ACTION])], src.groups, _sites(old), boxes,
                  tuple(m.params.domains), rows[rows["action"] == "guest"], _settings(old, new),
                  tuple(_policies(old)))


def _settings(old: GraphClient, new: GraphClient) -> dict[str, dict[str, Any]]:
    """Phase 40's areas as the old tenant has them; an area it cannot read is left out (phase 40 names why). The
    password expiry is per domain, not the tenant's: each domain keeps its own."""
    found = setting_areas.areas(setting_areas.Sides(old, new))
    out = {}
    for name, area in found.items():
        if name == "domains":
            continue
        try:
            out[name] = area.values("old")
        except (GraphError, TenantmoveError):
            continue
    return out


def _policies(old: GraphClient) -> list[dict[str, Any]]:
    """The old tenant's conditional-access policies (none when this app may not read them: phase 00 names it)."""
    try:
        return CaClient(old).all("policies")
    except GraphError:
        return []


def plan(merge: MergeFile) -> tuple[pd.DataFrame, list[Any]]:
    """Every clash in the new tenant, with its resolution; kept in the merge's folder."""
    first = merge.migrations[0].params
    endpoints = resolve(first)
    signin, new = connect(first.target, endpoints, company=first.company)
    signin.sign_in()
    target_id, _ = tenant_identity(new)
    tgt = inventory.collect(new)
    sources = [source_of(m, endpoints, tgt.initial_domain, new) for m in merge.migrations]
    free = {str(p): int(a) for p, a in zip(tgt.licences["skuPartNumber"], tgt.licences["available"], strict=True)}
    resolutions: dict[str, Resolution] = {}
    found = clashes(sources, free, merge.rules, resolutions, merge.winners)
    frame = table(found)
    merge.folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(merge.folder / PLAN_FILE, index=False)
    record = {"merge": merge.name, "target": target_id, "rules": merge.rules, "blocking": sum(c.blocking for c in found),
              "order": [m.params.name for m in merge.migrations],
              "mappings": {m.params.name: mapping_digest(mapping_file(m.params, m.state)) for m in merge.migrations},
              "resolutions": {k: v.as_json() for k, v in resolutions.items()}}
    (merge.folder / RESOLUTIONS_FILE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return frame, found


def resolution_for(params: Params, state: Path) -> Resolution | None:
    """What the merge changes in this migration (None when it is not part of one): read from the merge plan, which
    must be there, made from this migration's mapping as it is now, and without a clash left unresolved."""
    if not params.merge:
        return None
    raw = load_yaml(Path(params.merge))
    name = str(raw.get("merge") or "")
    record_path = merge_folder(raw) / RESOLUTIONS_FILE
    again = f"run python -m tenantmove merge-plan {params.merge}"
    if not record_path.is_file():
        raise TenantmoveError(f"the merge {name} has no plan yet ({record_path})", where="merge",
                              hint=f"{again}: it checks what meets in the new tenant before anything is written")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if params.name not in record.get("resolutions", {}):
        raise TenantmoveError(f"the merge plan of {name} has no migration {params.name!r}", where="merge",
                              hint=f"add this parameter file to the merge file's sources, then {again}")
    if record.get("blocking"):
        raise TenantmoveError(f"the merge plan of {name} has {record['blocking']} clash(es) without a resolution",
                              where="merge", hint=f"resolve them (see {record_path.with_name(PLAN_FILE)}), then {again}")
    now = mapping_digest(mapping_file(params, state))
    if record.get("mappings", {}).get(params.name) not in (now, "generated"):
        raise TenantmoveError(f"the user mapping of {params.name} changed since the merge plan was made", where="merge",
                              hint=f"{again}: the clashes follow the mapping")
    return Resolution.from_json(record["resolutions"][params.name])


def cmd_merge_plan(path: Path) -> int:
    from .runner import EXIT_BAD_INPUT, EXIT_OK, _stderr

    try:
        merge = load(path)
        frame, found = plan(merge)
    except TenantmoveError as exc:
        _stderr(exc.one_line())
        return EXIT_BAD_INPUT
    with pd.option_context("display.max_colwidth", 120, "display.width", 200):
        print(frame.to_string(index=False) if not frame.empty else "nothing meets in the new tenant")
    print(f"merge plan of {merge.name} ({', '.join(m.params.name for m in merge.migrations)}): "
          f"{merge.folder / PLAN_FILE}")
    try:
        require_resolved(found, str(path))
    except TenantmoveError as exc:
        _stderr(exc.one_line())
        return EXIT_BAD_INPUT
    print(f"every clash has its resolution ({len(found)}); rules: " +
          ", ".join(f"{a} {merge.rules.get(a, RULES[a][0])}" for a in RULES))
    return EXIT_OK

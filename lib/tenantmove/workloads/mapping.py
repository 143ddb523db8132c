"""The user mapping (old UPN -> new UPN): generated from the old tenant's inventory with sensible
defaults, edited by the admin as a CSV, and validated before anything is created.

Every problem names the file, the row (the CSV line number), the column, and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import TenantmoveError
from .inventory import Inventory

COLUMNS = ["source_upn", "target_upn", "display_name", "usage_location", "licences", "groups", "action"]
REQUIRED = ["source_upn", "target_upn"]
RESOURCES = ("shared", "room", "equipment")  # mailboxes without a person: made by the admin's script, then moved
MERGE = "merge"  # the same person as an earlier migration's of a merge (several old tenants into one new one)
ACTIONS = ("move", "skip", "guest", MERGE, *RESOURCES)
# Characters Microsoft allows in the user part of a UPN; no leading, trailing or double dots.
UPN_LOCAL_RE = re.compile(r"^[A-Za-z0-9'._!#^~-]{1,64}$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


@dataclass
class MappingProblem:
    file: str
    line: int | None  # CSV line (the header is line 1); None for the whole file
    column: str
    message: str
    hint: str

    def one_line(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.column}: {self.message} HINT: {self.hint}"


class MappingError(TenantmoveError):
    def __init__(self, problems: list[MappingProblem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the user mapping" if len(problems) > 1 else
                         problems[0].message, where=problems[0].file if problems else "")

    def one_line(self) -> str:
        return "\n".join(p.one_line() for p in getattr(self, "problems", [])) or self.message

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([p.__dict__ for p in self.problems], columns=["file", "line", "column", "message", "hint"])


def _listed(domains: str | list[str]) -> list[str]:
    return [d.lower() for d in ([domains] if isinstance(domains, str) else domains)]


def default_target(upn: str, domain: str | list[str], old_initial: str, new_initial: str) -> str:
    """The custom domains move with their users; anything else lands on the new onmicrosoft domain."""
    local, _, user_domain = upn.partition("@")
    if user_domain.lower() in _listed(domain):
        return f"{local}@{user_domain.lower()}"
    return f"{local}@{new_initial}"


def generate(source: Inventory, domain: str | list[str], new_initial: str) -> pd.DataFrame:
    """A mapping row per user of the old tenant, with memberships from the inventory; a guest's row has the action
    ``guest`` and the address to invite them at as its target."""
    country = source.organization.get("countryLetterCode") or ""
    groups_of: dict[str, list[str]] = {}
    nick = dict(zip(source.groups["id"], source.groups["mailNickname"].fillna(source.groups["displayName"]),
                    strict=True)) if not source.groups.empty else {}
    for _, m in source.memberships.iterrows():
        groups_of.setdefault(m["member_id"], []).append(str(nick.get(m["group_id"], m["group"])))
    purposes = {upn: str(p.get("purpose") or "") for upn, p in (source.raw.get("people") or {}).items()}
    rows = []
    for _, u in source.users.iterrows():
        if u.get("userType") == "Guest":  # invited again, by the address they were invited at
            rows.append({"source_upn": u["userPrincipalName"], "target_upn": u.get("mail") or "",
                         "display_name": u.get("displayName") or "", "usage_location": "", "licences": "",
                         "groups": ";".join(sorted(groups_of.get(u["id"], []))), "action": "guest"})
            continue
        rows.append({
            "source_upn": u["userPrincipalName"],
            "target_upn": default_target(u["userPrincipalName"], domain, source.initial_domain, new_initial),
            "display_name": u.get("displayName") or "",
            "usage_location": u.get("usageLocation") or country,
            "licences": "" if purposes.get(str(u["userPrincipalName"]).lower()) in RESOURCES else u.get("licences") or "",
            "groups": ";".join(sorted(groups_of.get(u["id"], []))),
            "action": purposes.get(str(u["userPrincipalName"]).lower()) if purposes.get(
                str(u["userPrincipalName"]).lower()) in RESOURCES else "move",
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def write(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def read(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise MappingError([MappingProblem(str(path), None, "file", "the user mapping does not exist",
                                           "run phase 10 to generate it, or fix the user_mapping parameter")]) from exc
    except pd.errors.EmptyDataError as exc:
        raise MappingError([MappingProblem(str(path), None, "file", "the user mapping is empty",
                                           "write the header and a row per user, or delete the file so that phase 10 "
                                           "generates it")]) from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise MappingError([MappingProblem(str(path), None, "file", f"not a readable CSV: {exc}",
                                           "save it as UTF-8 CSV with a header row")]) from exc
    except OSError as exc:  # a folder, a file the operator may not read, ...
        raise MappingError([MappingProblem(str(path), None, "file", f"cannot read the user mapping: {exc.strerror}",
                                           "give the operator read access to it (or name another file in "
                                           "user_mapping)")]) from exc
    return df.apply(lambda col: col.str.strip())


def upn_problem(upn: str) -> str:
    """Why ``upn`` is not a valid user principal name ('' if it is)."""
    if upn.count("@") != 1:
        return "needs exactly one @"
    local, domain = upn.split("@")
    if not UPN_LOCAL_RE.match(local):
        bad = sorted({c for c in local if not re.match(r"[A-Za-z0-9'._!#^~-]", c)})
        return f"has character(s) a UPN cannot contain: {' '.join(repr(c) for c in bad)}" if bad else \
            "the part before @ must be 1 to 64 characters"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "the part before @ cannot start or end with a dot or hold two dots in a row"
    if not DOMAIN_RE.match(domain.lower()):
        return f"'{domain}' is not a valid domain"
    return ""


def shape_problems(df: pd.DataFrame, file: str) -> list[MappingProblem]:
    """What makes a mapping unusable as a whole: missing columns (a ';'-separated file among them), or no
    rows at all. Checked before anything else, by :func:`validate` and before a run starts."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        sep = " (the file is separated by ';', not ',')" if any(";" in str(c) for c in df.columns) else ""
        return [MappingProblem(file, 1, ", ".join(missing), f"missing column(s){sep}",
                               f"a comma-separated UTF-8 CSV whose header holds: {', '.join(COLUMNS)}")]
    if df.empty:
        return [MappingProblem(file, None, "file", "the user mapping has no users (only its header)",
                               "add a row per user, or delete the file (or leave user_mapping empty) so that "
                               "phase 10 generates it from the inventory")]
    return []


def validate(df: pd.DataFrame, file: str, source: Inventory, domain: str | list[str], new_initial: str,
             target_licences: pd.DataFrame) -> pd.DataFrame:
    """Check every row; raise :class:`MappingError` listing every problem, or return the rows to move. ``domain``:
    the custom domain (or domains) that move with their users."""
    problems: list[MappingProblem] = []

    def bad(line: int | None, column: str, message: str, hint: str) -> None:
        problems.append(MappingProblem(file, line, column, message, hint))

    shape = shape_problems(df, file)
    if shape:
        raise MappingError(shape)
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = "move" if col == "action" else ""
    df["action"] = df["action"].replace("", "move").str.lower()
    known = {u.lower(): u for u in source.users["userPrincipalName"]}
    moving_domains = _listed(domain)
    allowed = {*moving_domains, new_initial.lower()}
    seen_source: dict[str, int] = {}
    seen_target: dict[str, int] = {}
    for idx, row in df.iterrows():
        line = int(idx) + 2
        src, tgt = row["source_upn"], row["target_upn"]
        if row["action"] not in ACTIONS:
            bad(line, "action", f"{row['action']!r} is not an action", f"write one of {', '.join(ACTIONS)}")
            continue
        if not src:
            bad(line, "source_upn", "empty", "give the user's UPN in the old tenant, or delete the row")
            continue
        if src.lower() in seen_source:
            bad(line, "source_upn", f"{src} is mapped twice (first on line {seen_source[src.lower()]})",
                "keep one row per user")
            continue
        seen_source[src.lower()] = line
        if src.lower() not in known:
            bad(line, "source_upn", f"{src} is not a user of the old tenant",
                "fix the spelling, or delete the row (the inventory in 00_prepare lists every user)")
        if row["action"] == "skip":
            continue
        if row["action"] == "guest":  # invited at an address of their own organisation; no licence from us
            problem = upn_problem(tgt)
            if problem or tgt.split("@")[-1].lower() in allowed:
                bad(line, "target_upn", f"{tgt!r} " + (problem or "is in this organisation's own domain"),
                    "give the guest's own e-mail address (the one to invite), e.g. ann@fabrikam.com")
            if row["licences"]:
                bad(line, "licences", "a guest row takes no licences", "leave licences empty for action guest")
            continue
        if row["action"] == MERGE:  # made by another migration of the merge, at an address of its domain
            problem = upn_problem(tgt)
            if problem:
                bad(line, "target_upn", f"{tgt!r} {problem}", "give the new UPN the other migration gives this person")
            if row["licences"]:
                bad(line, "licences", "a merged person's licences come from the migration that makes them",
                    "leave licences empty for action merge")
            continue
        if row["action"] in RESOURCES and row["licences"]:
            bad(line, "licences", f"a {row['action']} mailbox takes no licence from the mapping",
                "leave licences empty (assign one by hand if the mailbox needs more than 50 GB or an archive)")
        problem = upn_problem(tgt)
        if problem:
            bad(line, "target_upn", f"{tgt!r} {problem}", "use letters, digits and ' . - _ ! # ^ ~ before the @")
            continue
        tgt_domain = tgt.split("@")[1].lower()
        if tgt_domain not in allowed:
            bad(line, "target_upn", f"domain {tgt_domain} is neither {' nor '.join(moving_domains)} nor {new_initial}",
                f"use @{moving_domains[0]} (moves with the domain) or @{new_initial}"
                + ("" if len(moving_domains) > 1 else "; or, if the old tenant's domain "
                   f"{tgt_domain} moves too, name it in also_domains"))
        if tgt.lower() in seen_target:
            bad(line, "target_upn", f"{tgt} is the target of two users (also line {seen_target[tgt.lower()]})",
                "give each user a target UPN of its own")
        seen_target[tgt.lower()] = line
        if row["licences"] and not COUNTRY_RE.match(row["usage_location"]):
            bad(line, "usage_location", f"{row['usage_location']!r} is not a two-letter country code",
                "licences need a usage location such as NL, US or DE")
    moving = df[df["action"] == "move"]
    available = dict(zip(target_licences["skuPartNumber"], target_licences["available"], strict=True)) \
        if not target_licences.empty else {}
    wanted: dict[str, list[int]] = {}
    for idx, row in moving.iterrows():
        for part in str(row["licences"]).split():
            wanted.setdefault(part, []).append(int(idx) + 2)
    for part, lines in sorted(wanted.items()):
        if part not in available:
            bad(lines[0], "licences", f"the new tenant has no licence {part} (used on {len(lines)} row(s))",
                f"use one of: {', '.join(sorted(available)) or 'none - buy licences first'}")
        elif len(lines) > int(available[part]):
            bad(None, "licences", f"{len(lines)} users need {part} but the new tenant has {available[part]} free",
                "buy more seats, or give some users another licence or none")
    if problems:
        raise MappingError(problems)
    return moving.reset_index(drop=True)


def guests(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a validated mapping whose people are invited as guests."""
    if "action" not in df.columns:
        return df.iloc[0:0]
    return df[df["action"].str.lower() == "guest"].reset_index(drop=True)


def resources(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a validated mapping that are shared, room or equipment mailboxes."""
    if "action" not in df.columns:
        return df.iloc[0:0]
    return df[df["action"].str.lower().isin(RESOURCES)].reset_index(drop=True)


def merged(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a validated mapping whose person another migration of a merge makes (action ``merge``)."""
    if "action" not in df.columns:
        return df.iloc[0:0]
    return df[df["action"].str.lower() == MERGE].reset_index(drop=True)

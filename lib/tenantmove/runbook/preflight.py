"""The inputs later phases need, checked before the first phase changes anything: the parameter file
names the tenants and the domain, a given user mapping exists and holds users, the DNS provider's
key works against its server (a signed update that changes nothing), and an unattended run that will
apply destructive phases carries its confirmation. The runner calls :func:`problems` before it starts;
phase 00's readiness shows the same checks to an admin stepping through."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ..errors import TenantmoveError
from ..services.dnsops import Rfc2136Provider
from ..workloads import mapping
from ..workloads.passwords import key_from_env
from .change import Change
from .connect import Endpoints, dns_setup
from .params import Params
from .readiness import Check

EXPLICIT = ("domain", "source", "target")
DESTRUCTIVE_PHASES = ("20", "25", "30")  # the cutover, and its way back


def explicit_keys(raw: dict[str, Any], origin: str) -> list[TenantmoveError]:
    """A parameter file names the tenants and the domain: the sandbox defaults serve a notebook opened by
    hand, never a run that a file describes."""
    return [TenantmoveError(f"{key} is missing", where=f"{origin}: {key}",
                            hint=f"name it in the parameter file (see parameters/example.yaml for {key})")
            for key in EXPLICIT if key not in raw]


def mapping_problems(params: Params) -> list[TenantmoveError]:
    if not params.user_mapping:
        return []  # phase 10 generates one in the state folder
    path = Path(params.user_mapping)
    if not path.is_file():
        return [TenantmoveError(f"the user mapping {path} does not exist", where="user_mapping",
                                hint="give the path of your mapping, or leave user_mapping empty so that phase 10 "
                                     "generates one in the state folder for you to review")]
    try:
        found = mapping.shape_problems(mapping.read(path), str(path))
    except mapping.MappingError as exc:
        found = exc.problems
    return [TenantmoveError(f"{p.column}: {p.message}", where=f"user_mapping {p.file}" + (f":{p.line}" if p.line else ""),
                            hint=p.hint) for p in found]


def dns_problems(params: Params, endpoints: Endpoints) -> list[TenantmoveError]:
    try:
        _, provider = dns_setup(params, endpoints)
        if isinstance(provider, Rfc2136Provider):
            provider.check()
    except TenantmoveError as exc:
        return [exc]
    return []


def confirmation_problems(params: Params, phases: list[str], interactive: bool) -> list[TenantmoveError]:
    destructive = [p for p in phases if p.split("_", 1)[0] in DESTRUCTIVE_PHASES]
    if interactive or params.dry_run or not destructive or params.confirm.strip().lower() == params.domain:
        return []
    given = f"'{params.confirm}' is not the domain name" if params.confirm else "it is missing"
    return [TenantmoveError(f"{', '.join(destructive)} will change the tenants unattended, but the typed "
                            f"confirmation {given}", where="confirm",
                            hint=f"add  confirm: {params.domain}  to the parameter file (or set dry_run: true)")]


def vault_problems(params: Params, phases: list[str]) -> list[TenantmoveError]:
    """Phases that create users (10 when pre-staging, 30) need the password vault's key before they start."""
    creates = [p for p in phases if p[:2] == "30" or (p[:2] == "10" and params.prestage_users)]
    if params.dry_run or not creates:
        return []
    try:
        key_from_env(params.vault_key_env)
    except TenantmoveError as exc:
        return [exc]
    return []


def window_problems(params: Params) -> list[TenantmoveError]:
    """A run that would change something outside its change window, without the override's reason."""
    change = Change.of(params.change)
    outside = change.outside(dt.datetime.now(dt.UTC))
    if not outside or params.dry_run or change.override:
        return []
    return [TenantmoveError(f"{outside}: nothing was run", where="change.window",
                            hint="run inside the window, or give the reason to run anyway in change.override "
                                 "(recorded in the dossier)")]


def problems(params: Params, endpoints: Endpoints, phases: list[str], interactive: bool) -> list[TenantmoveError]:
    """Every problem with what the selected phases will need, each with where and a HINT."""
    return (window_problems(params) + mapping_problems(params) + confirmation_problems(params, phases, interactive)
            + vault_problems(params, phases)
            + (dns_problems(params, endpoints) if any(p[:2] in DESTRUCTIVE_PHASES for p in phases) else []))


def checks(params: Params, endpoints: Endpoints) -> list[Check]:
    """The same checks as readiness rows, for phase 00 stepped through by hand."""
    rows = []
    for name, found in (("the user mapping", mapping_problems(params)), ("the DNS provider and its key",
                                                                         dns_problems(params, endpoints))):
        if found:
            rows += [Check(name, "fail", f"{p.where}: {p.message}", p.hint) for p in found]
        else:
            rows.append(Check(name, "ok", "usable" if name.startswith("the DNS") or params.user_mapping
                              else "phase 10 will generate it in the state folder"))
    return rows

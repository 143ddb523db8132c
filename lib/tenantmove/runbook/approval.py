"""A second person approves the plan before a destructive phase applies it.

What is approved is the plan's **digest**: SHA-256 over the plan's tables (as the notebook shows them), the
parameters (without those that only say how this run is run: its folder, id, the typed confirmation, dry run) and
the code that will run (the notebook's code cells, the library's source). The phase writes it into its folder
(``approval-request.json``) before it asks. The approval is one of two kinds, as ``approval.mode`` says:

- ``signin``: the approver signs in by device code (a widget in JupyterLab, the code on the console unattended)
  to the tenant named; it counts only if that person is not the operator, holds a role the parameters name, and
  signed in within ``max_age_minutes``;
- ``signature``: ``python -m tenantmove approve RUN_DIR --key approver.pem`` signs the digest offline with a
  certificate the parameters name, into ``approval.json`` in the phase's folder, which the phase reads.

Either way it must be given inside the change window. Each accepted approval is kept in the migration's ledger and
in the phase's ``approvals.jsonl`` (refusals there too); ``verify`` compares the two and checks every signature."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ..clock import utc_now
from ..errors import TenantmoveError
from ..paths import notebooks_dir
from ..report import Report
from ..workloads import records
from .approval_policy import ApprovalPolicy
from .change import Change, parse_time

REQUEST = "approval-request.json"
SIGNED = "approval.json"
RECORD = "approvals.jsonl"
NOT_APPROVED = {"run_dir", "run_id", "interactive", "confirm", "dry_run", "operator", "approval"}
LIBRARY = Path(__file__).resolve().parents[1]


class ApprovalMissing(TenantmoveError):
    """The plan waits for the second person's approval; nothing was changed."""

    procedural = True


class ApprovalRefused(TenantmoveError):
    """An approval that does not count (the operator's own, without the role, of another plan, stale, late)."""


# --- the digest ---------------------------------------------------------------------------------------------------
def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def plan_report(plan: Any) -> Report:
    """The report a plan object shows (a Report, a ShowsItself, a StepResult, an Outcome, or a list of them)."""
    if plan is None:
        return Report()
    if isinstance(plan, Report):
        return plan
    if isinstance(plan, list | tuple):
        joined = Report()
        for part in plan:
            joined.add(plan_report(part))
        return joined
    made = getattr(plan, "report", None)
    if isinstance(made, Report):
        return made
    if callable(made):
        return plan_report(made())
    return Report()


def plan_tables(plan: Any) -> list[dict[str, str]]:
    """Each table (and chart's table) of the plan: its title and the SHA-256 of its rows as CSV."""
    out = []
    for section in plan_report(plan).sections:
        frame = section.body if section.kind == "table" else (section.body[0] if section.kind == "bars" else None)
        if isinstance(frame, pd.DataFrame):
            out.append({"title": section.title, "rows": str(len(frame)), "sha256": _sha(frame.to_csv(index=False))})
    return out


def notebook_code(path: Path) -> str:
    """The code cells of a notebook that run, in order (not the parameters cells: the parameters count apart)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"
             and not {"parameters", "injected-parameters"} & set((c.get("metadata") or {}).get("tags") or [])]
    return "\n# ---- cell ----\n".join("".join(c["source"]) if isinstance(c["source"], list) else str(c["source"])
                                      for c in cells)


def library_digest() -> str:
    """SHA-256 over the runbook library's source (not the sandbox's): the code the notebook's calls run."""
    files = sorted(p for p in LIBRARY.rglob("*.py") if "sandbox" not in p.relative_to(LIBRARY).parts)
    return _sha("\n".join(f"{p.relative_to(LIBRARY).as_posix()} {_sha(p.read_bytes())}" for p in files))


def approved_parameters(public: dict[str, Any]) -> dict[str, Any]:
    """The parameters an approval covers: all but those that only say how this run is run."""
    out = {k: v for k, v in public.items() if k not in NOT_APPROVED}
    if isinstance(out.get("change"), dict):
        out["change"] = {k: v for k, v in out["change"].items() if k != "override"}
    return out


def digest_of(phase_id: str, parameters: dict[str, Any], plan: Any, notebook: Path) -> dict[str, Any]:
    """The digest and its parts (each a SHA-256), and the plan's tables."""
    tables = plan_tables(plan)
    parts = {"parameters": _sha(json.dumps(approved_parameters(parameters), sort_keys=True, default=str)),
             "notebook code": _sha(notebook_code(notebook)), "library code": library_digest(),
             "plan tables": _sha(json.dumps(tables, sort_keys=True))}
    digest = _sha("\n".join(f"{k}={v}" for k, v in sorted(parts.items())) + f"\nphase={phase_id}")
    return {"digest": digest, "parts": parts, "tables": tables}


def notebook_of(run_dir: Path, phase_id: str) -> Path:
    """The notebook this phase runs from: its copy in the run folder (as papermill or JupyterLab runs it), else the
    committed one."""
    own = run_dir / f"{phase_id}.ipynb"
    return own if own.is_file() else notebooks_dir() / f"{phase_id}.ipynb"


def message(phase_id: str, digest: str) -> bytes:
    """What a signature approves: the plan of this phase, by its digest (which covers the migration's parameters,
    so an approval serves any run of the same plan: one made in a dry run ahead of the window too)."""
    return f"tenantmove approval\nphase {phase_id}\ndigest {digest}\n".encode()


# --- checks that every approval passes ----------------------------------------------------------------------------
def same_person(who: str, operator: str, others: list[str]) -> str:
    """The operator (or one of the phase's own sign-ins) ``who`` is, or ''."""
    name = who.strip().lower()
    for other in [operator, *others]:
        found = {m.lower() for m in re.findall(r"[\w.+-]+@[\w.-]+", other)} | {other.strip().lower()}
        if name and name in found:
            return other
    return ""


def refusal(entry: dict[str, Any], request: dict[str, Any], policy: ApprovalPolicy, change: Change,
            trusted: dict[str, str], others: list[str], now: dt.datetime) -> str:
    """'' when ``entry`` approves ``request`` as the policy asks; otherwise why it does not, in one sentence."""
    who = str(entry.get("by", ""))
    if entry.get("phase") != request["phase"]:
        return f"the approval by {who} is of {entry.get('phase')}, not of {request['phase']}"
    if entry.get("digest") != request["digest"]:
        return (f"the approval by {who} is of another plan (digest {str(entry.get('digest'))[:12]}…; this plan's is "
                f"{request['digest'][:12]}…): the plan, the parameters or the code changed since it was approved")
    operator = same_person(who, request["operator"], others)
    if operator:
        return f"the approver {who} is the operator ({operator}): a second person must approve"
    if entry.get("how") != policy.mode:
        return f"the approval by {who} was given by {entry.get('how')}, but approval.mode is {policy.mode}"
    at = parse_time(str(entry.get("at", "")))
    if at is None:
        return f"the approval by {who} has no time"
    if not change.in_window(at) and not change.override:
        return f"the approval by {who} was given at {entry.get('at')}, outside the change window {change.window}"
    if policy.mode == "signin":
        held = [r for r in entry.get("roles", []) if r.lower() in {p.lower() for p in policy.roles}]
        if not held:
            return (f"the approver {who} holds none of the roles approval.roles names ({', '.join(policy.roles)}); "
                    f"they hold {', '.join(entry.get('roles') or []) or 'no directory role'}")
        signed_in = parse_time(str(entry.get("signed_in_at", "")))
        age = (now - signed_in).total_seconds() / 60 if signed_in else None
        if age is None or age > policy.max_age_minutes:
            return (f"the approver {who} signed in {'at an unknown time' if age is None else f'{age:.0f} min ago'}; "
                    f"an approval needs a sign-in at most {policy.max_age_minutes} min old")
    else:
        wrong = signature_problem(entry)
        if wrong:
            return wrong
        if entry.get("fingerprint") not in trusted:
            return (f"the certificate of {who} (SHA-256 {str(entry.get('fingerprint'))[:16]}…) is none of the "
                    "approvers' certificates approval.certificates names")
    return ""


def signature_problem(entry: dict[str, Any]) -> str:
    """'' when a signature approval's signature is its certificate's over its run, phase and digest."""
    from .signing import verify_bytes

    try:
        cert = x509.load_pem_x509_certificate(str(entry.get("certificate", "")).encode())
        signature = base64.b64decode(str(entry.get("signature", "")))
    except ValueError:
        return f"the approval by {entry.get('by')} carries no readable certificate or signature"
    if fingerprint(cert) != entry.get("fingerprint"):
        return f"the approval by {entry.get('by')} names another certificate than it carries"
    wrong = verify_bytes(cert, signature, message(str(entry.get("phase")), str(entry.get("digest"))))
    return f"the approval by {entry.get('by')}: {wrong}" if wrong else ""


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def subject_name(cert: x509.Certificate) -> str:
    """The certificate's holder as a person reads it: the e-mail address, else the common name, else the subject."""
    for oid in (x509.NameOID.EMAIL_ADDRESS, x509.NameOID.COMMON_NAME):
        found = cert.subject.get_attributes_for_oid(oid)
        if found:
            return str(found[0].value)
    return cert.subject.rfc4514_string()


def trusted_certificates(files: tuple[str, ...]) -> dict[str, str]:
    """fingerprint -> holder of each approver's certificate the parameters name."""
    out = {}
    for path in files:
        for cert in x509.load_pem_x509_certificates(Path(path).read_bytes()):
            out[fingerprint(cert)] = subject_name(cert)
    return out


# --- the record -----------------------------------------------------------------------------------------------------
def append(folder: Path, entry: dict[str, Any]) -> None:
    records.append_json(folder / RECORD, entry)


def recorded(folder: Path) -> list[dict[str, Any]]:
    return records.read_json_lines(folder / RECORD)


def text(entry: dict[str, Any]) -> str:
    how = (f"by sign-in to {entry.get('tenant')} as {entry.get('by')} ({', '.join(entry.get('roles') or [])})"
           if entry.get("how") == "signin" else f"by signature of {entry.get('by')} (certificate SHA-256 "
                                                 f"{str(entry.get('fingerprint'))[:16]}…)")
    return (f"APPROVED {how} at {entry.get('at')} (UTC): plan of {entry.get('phase')}, digest "
            f"{str(entry.get('digest'))[:16]}…, run {entry.get('run_id')}; the operator is {entry.get('operator')}")


# --- the approver's side (signature) ------------------------------------------------------------------------------
def pending_requests(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(run_dir.glob(f"*/{REQUEST}"))]


def sign_request(run_dir: Path, phase: str, key_file: Path, password_env: str = "",
                 now: Callable[[], str] = utc_now) -> dict[str, Any]:
    """The approver's signature of the plan a phase asked approval for (``approval.json`` in its folder)."""
    from ..services.auth import load_key_pair

    requests = {r["phase"]: r for r in pending_requests(run_dir)}
    if not requests:
        raise TenantmoveError(f"{run_dir} holds no plan waiting for approval", where="RUN_DIR",
                              hint="the operator runs the phase first (it writes <phase>/approval-request.json)")
    if phase:
        match = [p for p in requests if p == phase or p.split("_", 1)[0] == phase]
        if not match:
            raise TenantmoveError(f"no plan of phase {phase} waits in {run_dir}", where="--phase",
                                  hint=f"the plans waiting are: {', '.join(requests)}")
        request = requests[match[0]]
    elif len(requests) == 1:
        request = next(iter(requests.values()))
    else:
        raise TenantmoveError(f"{len(requests)} plans wait in {run_dir}", where="--phase",
                              hint=f"name the one you approve: --phase {' or --phase '.join(requests)}")
    key, cert = load_key_pair(str(key_file), password_env, "--key", "--password-env")
    who = subject_name(cert)
    operator = same_person(who, str(request.get("operator", "")), [])
    if operator:
        raise ApprovalRefused(f"you ({who}) are the operator of this run ({operator}): a second person must approve",
                              where="--key", hint="the approver signs with their own certificate")
    entry = {**signed_entry(key, cert, request["phase"], request["digest"], now()), "run_id": request["run_id"],
             "operator": request.get("operator", "")}
    body = json.dumps(entry, indent=1, sort_keys=True)
    (run_dir / request["phase"] / SIGNED).write_text(body, encoding="utf-8")
    state = request.get("state_dir")
    if state and Path(state).is_dir():  # a later run of the same plan finds it there too
        kept = kept_signature(Path(state), request["phase"], request["digest"])
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(body, encoding="utf-8")
    return entry


def signed_entry(key: Any, cert: x509.Certificate, what: str, digest: str, at: str) -> dict[str, Any]:
    """A signature approval of ``what`` (a phase, or the closure) by its digest, with the signer's certificate."""
    from .signing import sign_bytes

    return {"phase": what, "digest": digest, "how": "signature", "by": subject_name(cert), "at": at,
            "fingerprint": fingerprint(cert), "certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "signature": base64.b64encode(sign_bytes(key, message(what, digest))).decode()}


def kept_signature(state_dir: Path, phase_id: str, digest: str) -> Path:
    """Where the migration's state folder keeps a signed approval of a plan, for any run of that plan."""
    return state_dir / "approvals" / f"{phase_id}-{digest[:32]}.json"


def person_config(config: Any) -> Any:
    """The tenant's app registration, signed in to by a person (device code) as the approver."""
    return replace(config, role="approver", auth="device_code", secret_env="", certificate_file="",
                   certificate_password_env="")


# --- verify ---------------------------------------------------------------------------------------------------------
def check_run(run_dir: Path, state: Path | None, record: dict[str, Any]) -> list[str]:
    """Every approval in the run folder: its signature (if signed), not the operator's, kept alike in the migration's
    ledger; every approval the ledger kept for this run, in the run folder; and every phase that changed something
    where the parameters asked for approval, approved."""
    from ..engine.ledger import LEDGER_FILE, read_approvals

    problems: list[str] = []
    given: list[dict[str, Any]] = []
    for path in sorted(run_dir.glob(f"*/{RECORD}")):
        for entry in recorded(path.parent):
            if entry.get("refused"):
                continue
            given.append(entry)
            name = f"approval of {entry.get('phase')} by {entry.get('by')} at {entry.get('at')}"
            if entry.get("how") == "signature":
                wrong = signature_problem(entry)
                if wrong:
                    problems.append(f"{name}: {wrong} (forged or altered)")
            operator = same_person(str(entry.get("by", "")), str(entry.get("operator", "")), [])
            if operator:
                problems.append(f"{name}: the approver is the operator ({operator})")
    ledger = state / LEDGER_FILE if state is not None else None
    if ledger is not None and ledger.is_file():
        kept = [json.dumps(e, sort_keys=True) for e in read_approvals(ledger, str(record.get("run_id")))
                if e.get("phase") != "closure"]  # the closure is the migration's, checked with the state folder
        shown = [json.dumps(e, sort_keys=True) for e in given]
        problems += [f"approval of {e.get('phase')} by {e.get('by')} at {e.get('at')} in the run folder is not the "
                     "one the migration's ledger kept (forged or altered)" for e, s in zip(given, shown, strict=True)
                     if s not in kept]
        problems += [f"approval of {json.loads(k).get('phase')} by {json.loads(k).get('by')} kept in the migration's "
                     "ledger is missing from the run folder" for k in kept if k not in shown]
    params = record.get("parameters") or {}
    policy = ApprovalPolicy.of(params.get("approval"))
    approved = {str(e.get("phase")) for e in given}
    for entry in record.get("phases", []):
        phase = str(entry.get("phase"))
        if entry.get("changed") and policy.required(phase, bool(params.get("dry_run"))) and phase not in approved:
            problems.append(f"{phase} changed the tenants without a second person's approval, which approval.mode "
                            f"{policy.mode} asks for")
    return problems

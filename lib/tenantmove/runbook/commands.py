"""The change-record commands a second person runs: ``approve`` (sign a phase's plan with a certificate) and
``close`` (sign the closure of the migration)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from ..errors import TenantmoveError
from ..redact import redact
from . import approval, audit, closure, statefolder
from .change import Change

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _stderr(message: str) -> None:
    print(f"tenantmove: {redact(message)}", file=sys.stderr, flush=True)


def cmd_approve(run_dir: Path, phase: str, key: Path, password_env: str) -> int:
    """The approver signs the plan a phase of ``run_dir`` asked approval for, offline, with their certificate."""
    if not (run_dir / audit.RUN_JSON).is_file():
        _stderr(f"{run_dir}: no run.json here. HINT: give the run folder the operator names (runs/<time>-<name>)")
        return EXIT_BAD_INPUT
    record = audit.read_json(run_dir / audit.RUN_JSON)
    change = Change.of((record.get("parameters") or {}).get("change"))
    outside = change.outside(dt.datetime.now(dt.UTC))
    if outside and not change.override:
        _stderr(f"{outside}: an approval must be given in the change window; nothing was signed. HINT: approve inside "
                "the window, or the change's owner records why not in change.override")
        return EXIT_BAD_INPUT
    try:
        entry = approval.sign_request(run_dir, phase, key, password_env)
    except TenantmoveError as exc:
        _stderr(exc.one_line())
        return EXIT_BAD_INPUT
    request = audit.read_json(run_dir / entry["phase"] / approval.REQUEST)
    print(f"plan of {entry['phase']} in {run_dir}, run by {request.get('operator')}")
    for table in request.get("tables", []):
        print(f"  {table['title'] or '(table)'}: {table['rows']} row(s)")
    print(approval.text(entry))
    print(f"written to {run_dir / entry['phase'] / approval.SIGNED}; the phase takes it when it is run again")
    return EXIT_OK


def cmd_close(params_file: Path, key: Path | None, password_env: str) -> int:
    """The second person signs the closure: phase 90 green, the closing checklist done; by sign-in or ``--key``."""
    from .connect import resolve
    from .params import absolutize, load_yaml, validate

    try:
        raw = load_yaml(params_file)
        params = validate(absolutize(raw, Path.cwd()), origin=str(params_file), check_environment=False)
        state = statefolder.resolve(raw)
        entry = closure.close(state, params, None if key is not None else resolve(params), key, password_env)
    except TenantmoveError as exc:
        _stderr(exc.one_line())
        return EXIT_BAD_INPUT
    print(f"CLOSED: signed by {entry['by']} ({entry['how']}) at {entry['at']} (UTC); the migration's index shows the "
          f"change record: {state / 'migration-index.html'}")
    return EXIT_OK

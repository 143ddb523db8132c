"""``python -m tenantmove``: run the phase notebooks with papermill into an audited run folder.

    run PARAMS.yaml [--phases 00,10] [--resume RUN_DIR]   unattended (interactive=False)
    prepare PARAMS.yaml [--phases ...]                     notebooks with parameters, for JupyterLab
    demo [PARAMS.yaml]                                     sandbox + run + index page
    lab [PARAMS.yaml]                                      sandbox + prepare + JupyterLab
    seal RUN_DIR                                           HTML + manifest after stepping through by hand
    verify RUN_DIR [--state DIR]                           re-hash a run folder, check it against the chain
    permissions                                            the Graph permissions each phase needs
    notebooks [--check]                                    regenerate (check) the notebooks' parameters cells
    vault-key                                              a new key for the temporary-password vault
    passwords PARAMS --out FILE                            the vault's temporary passwords, for the admin
    waive PARAMS KEY --why TEXT                            accept a security gap phase 90 named (who, why)
    approve RUN_DIR [--phase 20] --key approver.pem        a second person signs a phase's plan (approval: signature)
    close PARAMS [--key approver.pem]                      a second person signs the closure of the migration
    merge-plan MERGE.yaml                                  several old tenants into one: every clash, before any change
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from ..clock import utc_now
from ..errors import ParameterError, PhaseFailed, TenantmoveError, UnknownPhase
from ..paths import default_runs_dir, default_sandbox_dir, notebooks_dir
from ..redact import install_log_redaction, redact
from ..services.auth import SignIn
from ..workloads import passwords
from . import approval, audit, chain, closure, notebook_check, preflight, signing, statefolder
from .commands import cmd_approve, cmd_close
from .connect import check_state_tenants, resolve
from .demo import AdminHook, OutsideWriter, StandInAdmin
from .notebook_cells import sync
from .params import absolutize, load_yaml, new_run_id, specs_for, validate

log = logging.getLogger("tenantmove.runner")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
DEMO_SECRET_ENVS = ("TENANTMOVE_SOURCE_SECRET", "TENANTMOVE_TARGET_SECRET", "TENANTMOVE_FABRIKAM_SECRET")
DEMO_VAULT_ENV = "TENANTMOVE_VAULT_KEY"


def phase_notebooks(folder: Path | None = None) -> list[Path]:
    folder = folder or notebooks_dir()
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


ON_DEMAND = ("25",)  # run only when named: the way back is for a cutover that cannot finish


def select_phases(available: list[Path], wanted: str | None) -> list[Path]:
    """``--phases 00,10`` (numbers or full names) -> notebooks, in runbook order; without ``--phases`` every phase
    but those run on demand (the way back)."""
    if wanted is None:
        return [p for p in available if p.stem.split("_", 1)[0] not in ON_DEMAND]
    chosen = []
    names = [p.stem for p in available]
    for token in [t.strip() for t in wanted.split(",") if t.strip()]:
        match = [p for p in available if p.stem == token or p.stem.split("_", 1)[0] == token]
        if not match:
            raise UnknownPhase(f"unknown phase {token!r}", where="--phases",
                               hint=f"the phases are: {', '.join(names)}")
        chosen.extend(m for m in match if m not in chosen)
    if not chosen:
        raise UnknownPhase(f"--phases {wanted!r} names no phase", where="--phases",
                           hint=f"name one or more, e.g. --phases 00,10; the phases are: {', '.join(names)}")
    return sorted(chosen)


def _stderr(message: str) -> None:
    print(f"tenantmove: {redact(message)}", file=sys.stderr, flush=True)


class Run:
    """One run folder and its ``run.json``."""

    def __init__(self, run_dir: Path, record: dict[str, Any]) -> None:
        self.dir = run_dir
        self.record = record

    def save(self) -> None:
        audit.write_json_atomic(self.dir / audit.RUN_JSON, self.record)

    def phase_entry(self, phase: str) -> dict[str, Any]:
        for entry in self.record["phases"]:
            if entry["phase"] == phase:
                return entry
        entry = {"phase": phase, "status": "pending"}
        self.record["phases"].append(entry)
        return entry

    def snapshot_ledger(self) -> None:
        """A consistent copy of the migration's ledger as it stands at the end of this run."""
        from ..engine.ledger import LEDGER_FILE, Ledger

        state = (self.record.get("parameters") or {}).get("state_dir")
        if state and (Path(state) / LEDGER_FILE).is_file():
            with Ledger(Path(state) / LEDGER_FILE) as ledger:
                ledger.snapshot(self.dir / LEDGER_FILE)
            self.record["ledger_snapshot"] = LEDGER_FILE

    def merge_phase_results(self) -> None:
        """Fold what each notebook recorded (phases/<id>.json) into run.json."""
        for path in sorted((self.dir / "phases").glob("*.json")):
            self.phase_entry(path.stem)  # a notebook run by hand has no entry yet
        for entry in self.record["phases"]:
            path = audit.phase_result_path(self.dir, entry["phase"])
            if path.is_file():
                result = audit.read_json(path)
                entry["summary"] = result.get("summary", {})
                entry["graph_requests"] = result.get("graph_requests", {})
                entry["changed"] = result.get("changed", [])
                for side, info in (result.get("tenants") or {}).items():
                    self.record["tenants"].setdefault(side, {}).update(info)
                if entry.get("status") in (None, "pending", "prepared"):
                    entry.update(status=result["status"], started=result["started"], ended=result["ended"],
                                 duration_s=result["duration_s"])

    def state_dir(self) -> Path | None:
        state = (self.record.get("parameters") or {}).get("state_dir")
        return Path(state) if state else None

    def finish(self, status: str, error: str | None = None) -> Path:
        """Seal the record: results merged, the ledger's snapshot, the notebooks checked against the committed
        ones, the HTML, the manifest, and its digest chained into the migration's state (and printed)."""
        self.record["status"] = status
        self.record["ended"] = utc_now()
        if error:
            self.record["error"] = redact(error)
        self.merge_phase_results()
        verdicts = [e["summary"]["verdict"] for e in self.record["phases"] if (e.get("summary") or {}).get("verdict")
                    in ("green", "red")]
        if verdicts:  # the verification's verdict (phase 90), beside the run's status wherever the run is shown
            self.record["verdict"] = verdicts[-1]
        self.snapshot_ledger()
        state = self.state_dir()
        self.record["integrity"] = {
            "notebook warnings": notebook_check.check_run(self.dir, str((self.record.get("library") or {})
                                                                        .get("git_commit", ""))),
            "previous run in the chain": chain.head(state) if state else "",
            "how to check": f"python -m tenantmove verify {self.dir}"}
        self.save()
        index = audit.render_run(self.dir)
        manifest = audit.write_manifest(self.dir)
        if state is not None:
            digest = chain.digest_of(manifest)
            chain.append(state, self.record, self.dir, digest)
            print(f"manifest SHA-256 (chained in {state / chain.CHAIN}; for the change ticket): {digest}")
        merge = (self.record.get("parameters") or {}).get("merge")
        if merge and self.record.get("verdict"):  # a merge's migration verified: the merge's one view, refreshed
            refresh_merge_index(Path(merge))
        return index


def refresh_merge_index(merge: Path) -> None:
    """The merge index after a verification of one of its migrations, with the combined verdict printed; a merge
    file that no longer loads is named, and the run stays as it is."""
    from .merge_index import INDEX, write
    from .merge_plan import load

    try:
        loaded = load(merge)
    except TenantmoveError as exc:
        print(f"the merge index was not refreshed: {exc.one_line()}")
        return
    found = write(loaded)
    print(f"merge index ({loaded.folder / INDEX}): combined verdict for the new tenant {found['verdict']}")


def _open_run(args: argparse.Namespace, mode: str) -> tuple[Run, dict[str, Any] | None]:
    """Create (or reopen, with --resume) the run folder before anything else, so even bad input is recorded."""
    params_path = Path(args.params)
    raw: dict[str, Any] | None = None
    load_error: TenantmoveError | None = None
    try:
        raw = load_yaml(params_path)
    except TenantmoveError as exc:
        load_error = exc
    name = str((raw or {}).get("name") or params_path.stem or "run")
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in name)[:64] or "run"
    if getattr(args, "resume", None):
        run_dir = Path(args.resume)
        if not (run_dir / audit.RUN_JSON).is_file():
            raise TenantmoveError(f"no run.json in {run_dir}", where="--resume",
                                  hint="give the folder of an earlier run under runs/")
        record = audit.read_json(run_dir / audit.RUN_JSON)
        before = (record.get("parameter_file") or {}).get("sha256")
        now = audit.file_sha256(params_path) if params_path.is_file() else None
        if record.get("status") in ("completed", "prepared") and before and now != before:
            raise TenantmoveError(f"the run in {run_dir} is {record['status']} under another parameter file "
                                  f"({(record.get('parameter_file') or {}).get('path')}); its record is sealed",
                                  where="--resume", hint="start a new run for these parameters (without --resume)")
        run = Run(run_dir, record)
        run.record["status"] = "running"
        run.record.setdefault("resumed", []).append({"at": utc_now(), "parameter_file": str(params_path),
                                                     "sha256": now, "before": record.get("parameter_file")})
        run.record["parameter_file"] = {"path": str(params_path), "sha256": now}  # the file the record now reflects
    else:
        runs_dir = Path(args.runs_dir) if args.runs_dir else default_runs_dir()
        try:
            run_dir = audit.new_run_dir(runs_dir, name)
        except OSError as exc:
            raise TenantmoveError(f"cannot create a run folder in {runs_dir}: {exc.strerror}", where="--runs-dir",
                                  hint="give a folder you can write to (--runs-dir), or fix its permissions") from exc
        record = audit.base_record(new_run_id(), name, "", mode, {}, str(params_path))
        run = Run(run_dir, record)
    run.save()
    if load_error:
        raise _Recorded(run, load_error)
    return run, raw


class _Recorded(Exception):
    def __init__(self, run: Run, error: TenantmoveError) -> None:
        super().__init__(error.one_line())
        self.run, self.error = run, error


def _preflight(raw: dict[str, Any], params_file: Path, phases: list[str],
               interactive: bool) -> tuple[dict[str, Any], Any]:
    """Check parameters, reach the services and the tenants, and check what the selected phases will need
    (mapping, DNS key, confirmation): every bad input is found here, before anything changes."""
    missing = preflight.explicit_keys(raw, str(params_file))
    raw = absolutize(raw, Path.cwd())
    try:
        params = validate(raw, origin=str(params_file))
    except ParameterError as exc:
        raise ParameterError(missing + exc.problems) from exc
    endpoints = resolve(params)
    for config in (params.source, params.target):
        SignIn(config, authority_host=endpoints.authority_host, verify=endpoints.verify).check_tenant()
    found = missing + preflight.problems(params, endpoints, phases, interactive)
    if found:
        raise ParameterError(found)
    return raw, params


def _refused(run: Run, exc: TenantmoveError) -> int:
    """Bad input: recorded in the run folder, one line on stderr, nothing run."""
    index = run.finish("failed", exc.one_line())
    _stderr(exc.one_line())
    print(f"run folder: {run.dir} (index: {index})")
    return EXIT_BAD_INPUT


def execute(args: argparse.Namespace, interactive: bool) -> int:
    """``run`` (papermill executes) and ``prepare`` (papermill only writes the notebooks)."""
    return execute_in_folder(args, interactive)[0]


def execute_in_folder(args: argparse.Namespace, interactive: bool) -> tuple[int, Path | None]:
    """:func:`execute`, also returning the run folder (None when none could be made)."""
    mode = "prepared" if interactive else "unattended"
    try:
        run, raw = _open_run(args, mode)
    except _Recorded as rec:
        return _refused(rec.run, rec.error), rec.run.dir
    except TenantmoveError as exc:
        _stderr(exc.one_line())
        return EXIT_BAD_INPUT, None
    assert raw is not None
    overrides = getattr(args, "overrides", None) or {}
    if overrides:  # the demo's admin changing a parameter for one pass: on the record, beside the file's hash
        raw = {**raw, **{k: {**raw[k], **v} if isinstance(v, dict) and isinstance(raw.get(k), dict) else v
                         for k, v in overrides.items()}}
        run.record["parameter overrides"] = dict(overrides)
    try:
        notebooks = select_phases(phase_notebooks(), args.phases)
        raw, params = _preflight(raw, Path(args.params), [nb.stem for nb in notebooks], interactive)
    except TenantmoveError as exc:
        return _refused(run, exc), run.dir
    operator = params.operator or audit.default_operator()
    run.record["tenants"].setdefault("source", {})["tenant"] = params.source.tenant
    run.record["tenants"].setdefault("target", {})["tenant"] = params.target.tenant
    if getattr(args, "leave_confirm_to_admin", False):  # make lab: the admin types it in the box
        raw = {k: v for k, v in raw.items() if k != "confirm"}
    injected = dict(raw, run_dir=str(run.dir.resolve()), run_id=run.record["run_id"], operator=operator,
                    interactive=interactive)
    if getattr(args, "fresh_state", False):  # the demo: a new sandbox each time, so a new state folder too
        injected["state_dir"] = str(statefolder.fresh(raw, run.dir.name))
    else:  # the admin's commands (done, waive, passwords) resolve it the same way
        injected["state_dir"] = str(statefolder.resolve(raw))
    try:  # a state folder written for other tenants (or an earlier sandbox) is refused before anything runs
        check_state_tenants(params, resolve(params), Path(injected["state_dir"]))
    except TenantmoveError as exc:
        return _refused(run, exc), run.dir
    operators = run.record.setdefault("operators", [])
    if operator not in operators:  # a resumed run keeps who ran it before
        operators.append(operator)
    run.record.update(operator=operator, parameters=validate(injected, origin=str(args.params)).public())
    run.save()
    status, error = "completed", None
    for nb in notebooks:
        entry = run.phase_entry(nb.stem)
        if entry.get("status") == "completed":
            print(f"{nb.stem}: completed in an earlier attempt, skipped")
            continue
        writer: OutsideWriter | None = getattr(args, "outside_writer", None)
        if writer is not None:  # the demo: the outside world writes to a moving person through the window
            writer.before(nb.stem, params.domain)
        try:
            outcome = _run_phase(nb, run, entry, injected, interactive)
        except PhaseFailed as exc:
            status, error = "failed", exc.one_line()
            _stderr(error)
            break
        finally:
            if writer is not None:
                writer.after(nb.stem)
        print(f"{nb.stem}: {outcome}")
        signed = getattr(args, "demo_signins", None)
        if signed:  # the demo: the people who signed in by device code during this phase
            run.record.setdefault("demo_admin", []).append({"phase": nb.stem, "at": utc_now(),
                                                            "device sign-ins": list(signed)})
            signed.clear()
        for script in sorted((run.dir / nb.stem).glob("manual-*.ps1")):
            print(f"{nb.stem}: manual steps for the admin in {script} (run them, then rerun {nb.stem})")
            stand_in: AdminHook | None = getattr(args, "stand_in_admin", None)
            if stand_in is not None:  # the demo: the sandbox plays the admin who runs the script
                done = stand_in(params.target.tenant, script, Path(args.params))
                run.record.setdefault("demo_admin", []).append({"phase": nb.stem, "script": script.name,
                                                                "at": utc_now(), "done": done})
                print(f"{nb.stem}: demo only: the sandbox's stand-in admin ran {script.name}: {len(done)} "
                      f"command(s), e.g. {'; '.join(done[:2])}")
        run.save()
    if interactive and status == "completed":
        status = "prepared"
    index = run.finish(status, error)
    print(f"run folder: {run.dir}")
    print(f"index page: {index}")
    if interactive:
        print(f"open the notebooks there in JupyterLab; afterwards seal the record with: "
              f"python -m tenantmove seal {run.dir}")
    return (EXIT_OK if status in ("completed", "prepared") else EXIT_FAILED), run.dir


def _run_phase(nb: Path, run: Run, entry: dict[str, Any], injected: dict[str, Any], interactive: bool) -> str:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    output = run.dir / nb.name
    audit.phase_result_path(run.dir, nb.stem).unlink(missing_ok=True)  # never merge an earlier attempt's result
    if output.is_file():  # an earlier attempt (a failed phase, resumed): kept beside the new one, never overwritten
        n = len(entry.get("attempts", [])) or 1
        output.rename(run.dir / f"{nb.stem}.attempt-{n}.ipynb")
        if entry.get("attempts"):
            entry["attempts"][-1]["notebook"] = f"{nb.stem}.attempt-{n}.ipynb"
    entry.update(notebook=nb.name, started=utc_now(), status="running", operator=injected.get("operator", ""))
    entry.pop("error", None)
    entry.setdefault("attempts", []).append({"started": entry["started"], "operator": injected.get("operator", ""),
                                             "status": "running", "notebook": nb.name})
    run.save()
    t0 = time.monotonic()
    try:
        own = {s.name for s in specs_for(nb.stem)}  # the notebook's own and the common parameters, as its cell has
        pm.execute_notebook(str(nb), str(output), parameters={k: v for k, v in injected.items() if k in own},
                            prepare_only=interactive,
                            kernel_name="python3", cwd=str(run.dir), progress_bar=False, log_output=False,
                            stdout_file=sys.stdout, stderr_file=sys.stderr, request_save_on_cell_execute=True)
    except PapermillExecutionError as exc:
        entry.update(status="failed", ended=utc_now(), duration_s=round(time.monotonic() - t0, 1),
                     error={"cell": exc.exec_count, "cell_index": exc.cell_index, "ename": exc.ename,
                            "evalue": redact(str(exc.evalue))})
        entry["attempts"][-1].update(status="failed", ended=entry["ended"], error=entry["error"])
        run.save()
        raise PhaseFailed(nb.stem, exc.exec_count, exc.ename, redact(str(exc.evalue))) from exc
    except Exception as exc:  # noqa: BLE001 - kernel death, nbclient errors: recorded, then reported
        entry.update(status="failed", ended=utc_now(), duration_s=round(time.monotonic() - t0, 1),
                     error={"cell": None, "ename": type(exc).__name__, "evalue": redact(str(exc))[:500]})
        entry["attempts"][-1].update(status="failed", ended=entry["ended"], error=entry["error"])
        run.save()
        raise PhaseFailed(nb.stem, None, type(exc).__name__, redact(str(exc))[:500]) from exc
    entry.update(status="prepared" if interactive else "completed", ended=utc_now(),
                 duration_s=round(time.monotonic() - t0, 1))
    entry["attempts"][-1].update(status=entry["status"], ended=entry["ended"])
    return entry["status"] + f" in {entry['duration_s']} s"


@contextmanager
def sandbox_running(state_dir: Path) -> Iterator[Any]:
    """Start the sandbox for the demo/lab (with fresh demo secrets unless already set)."""
    from ..sandbox import Sandbox

    for name in DEMO_SECRET_ENVS:
        if not os.environ.get(name):
            os.environ[name] = secrets.token_urlsafe(24)
    if not os.environ.get(DEMO_VAULT_ENV):  # the demo's vault key lives as long as the demo (its vault with it)
        os.environ[DEMO_VAULT_ENV] = passwords.new_key()
    sandbox = Sandbox(state_dir).start()
    print(f"sandbox running at {sandbox.endpoints['base_url']} (DNS port {sandbox.endpoints['dns']['port']})")
    try:
        yield sandbox
    finally:
        sandbox.stop()
        print("sandbox stopped")


def stand_in_person(sandbox: Any, stop: threading.Event, signed: list[str]) -> None:
    """The demo's person at the sign-in page: each device code a phase prints (OneNote takes only a person's
    sign-in) is entered as the tenant's admin, as the admin watching the run would."""
    admins = {t["id"]: f"admin@{t['initial_domain']}" for t in sandbox.endpoints["tenants"]}
    while not stop.wait(0.3):
        try:
            pending = sandbox.admin("GET", "device/pending")
            for code in pending:
                user = admins[code["tenant_id"]]
                sandbox.admin("POST", "device/approve", json={"user_code": code["user_code"], "user": user})
                signed.append(user)
                print(f"demo only: the stand-in admin signed in as {user} with the code {code['user_code']}")
        except requests.RequestException as exc:  # the sandbox stopping at the end of the demo
            if not stop.is_set():
                print(f"demo only: the stand-in admin could not sign in: {exc}")


def demo_certificate(sandbox: Any, params_path: str) -> dict[str, Any]:
    """The demo's apps have a certificate beside their secret (the sandbox made them): SharePoint's REST API takes
    app-only tokens only from a certificate, so the demo reads and writes attachments and authorship there
    directly. Recorded as a parameter override."""
    import yaml

    raw = yaml.safe_load(Path(params_path).read_text()) or {}
    out: dict[str, Any] = {}
    for side in ("source", "target"):
        spec = raw.get(side) or {}
        found = (sandbox.endpoints.get("app_certificates") or {}).get(str(spec.get("client_id")))
        if found and not spec.get("certificate_file"):
            out[side] = {"certificate_file": found}
    return out


def demo_change_window(params_path: str, hours: int = 4) -> dict[str, Any]:
    """The demo's change window: from now for ``hours`` (a demo runs whenever it is run). A parameter override, on
    the record."""
    import yaml

    raw = yaml.safe_load(Path(params_path).read_text()) or {}
    if not isinstance(raw.get("change"), dict):
        return {}
    start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    end = start + dt.timedelta(hours=hours)
    return {"change": {"window": f"{start:%Y-%m-%dT%H:%MZ}/{end:%Y-%m-%dT%H:%MZ}"}}


@contextmanager
def person_at_hand(sandbox: Any, signed: list[str]) -> Iterator[None]:
    """The demo's stand-in person (:func:`stand_in_person`) at the sign-in page while the block runs."""
    stop = threading.Event()
    person = threading.Thread(target=stand_in_person, args=(sandbox, stop, signed), daemon=True)
    person.start()
    try:
        yield
    finally:
        stop.set()
        person.join(5)


def demo_run(args: argparse.Namespace, sandbox: Any, close: bool = True, again: bool = True) -> int:
    """One migration's demo against the running sandbox: the phases with the stand-in admin (scripts), person
    (device codes) and outside world (mail through the window), the second pass (``again``), and (``close``) the
    closure."""
    args.resume = None
    args.stand_in_admin = StandInAdmin(sandbox)
    args.outside_writer = OutsideWriter(sandbox, ["megan.bowen"], every_seconds=1.0)
    args.overrides = {**(getattr(args, "overrides", None) or {}), **demo_certificate(sandbox, args.params),
                      **demo_change_window(args.params)}
    args.demo_signins = []
    with person_at_hand(sandbox, args.demo_signins):
        code, run_dir = execute_in_folder(args, interactive=False)
        return demo_second_pass(args, code, run_dir, close) if again else code


def demo_second_pass(args: argparse.Namespace, code: int, run_dir: Path | None, close: bool = True) -> int:
    """The demo's admin ran the phases' scripts (distribution lists, new sites, people's access): as an admin would,
    the demo runs those phases once more (the domain's phase 20 excepted), then the verification, in a run of its
    own on the same state folder; then (``close``) closes the migration."""
    if code != EXIT_OK or run_dir is None:
        return code
    record = audit.read_json(run_dir / audit.RUN_JSON)
    again = sorted({e["phase"] for e in record.get("demo_admin", []) if e["phase"][:2] >= "30" and "script" in e}
                   | {nb.stem for nb in phase_notebooks() if nb.stem.startswith("40")})
    print(f"demo: the stand-in admin ran the scripts of {', '.join(again)}; a second pass of them, as an admin "
          "would run it, then the verification again")
    again += [nb.stem for nb in phase_notebooks() if nb.stem.startswith("90")]
    args.phases = ",".join(p[:2] for p in again)
    args.fresh_state = False  # the first pass's state folder: the one the demo's pointer names
    args.stand_in_admin = None
    args.overrides = {**(getattr(args, "overrides", None) or {}), "ca_enforce": True}
    print("demo: the stand-in admin read the first verification's security gap (conditional access report-only) "
          "and switches the policies on in this pass (ca_enforce: true, recorded in run.json)")
    code = execute(args, interactive=False)
    return demo_close(Path(args.params)) if code == EXIT_OK and close else code


def demo_close(params_file: Path) -> int:
    """The demo's end: its stand-in admin marks the closing checklist done (in a real migration, each step once it
    is done), and its stand-in second person signs the closure by sign-in (the device code entered as the new
    tenant's Global Administrator)."""
    state = statefolder.resolve(load_yaml(params_file))
    last = closure.last_verification(state)
    if last is None or last.get("verdict") != "green":
        print("demo: phase 90 is not green, so the migration is not closed")
        return EXIT_FAILED
    print("demo only: the stand-in admin marks the closing checklist done; in a real migration each step is marked "
          "once it is done")
    code = cmd_done(params_file, [s.key for s in closure.checklist()],
                    "demo only: the sandbox's stand-in admin (nothing to do in a sandbox)")
    return cmd_close(params_file, None, "") if code == EXIT_OK else code


def cmd_seal(run_dir: Path) -> int:
    if not (run_dir / audit.RUN_JSON).is_file():
        _stderr(f"{run_dir}: no run.json here. HINT: give a run folder made by `python -m tenantmove prepare`")
        return EXIT_BAD_INPUT
    run = Run(run_dir, audit.read_json(run_dir / audit.RUN_JSON))
    state = run.state_dir()
    sealed = chain.completed_at(state, str(run.record.get("run_id"))) if state else None
    if sealed is not None:
        _stderr(f"{run_dir}: this run was sealed as completed by {sealed.get('operator')} at {sealed.get('sealed')}; "
                "its record is closed. HINT: start a new run (python -m tenantmove prepare or run)")
        return EXIT_BAD_INPUT
    run.merge_phase_results()
    failed = [e["phase"] for e in run.record["phases"] if e.get("status") != "completed"]
    index = run.finish("completed" if not failed else "incomplete",
                       f"not completed: {', '.join(failed)}" if failed else None)
    print(f"sealed: {index}")
    return EXIT_OK


def cmd_notebooks(check: bool) -> int:
    drifted = sync(phase_notebooks(), write=not check)
    for path in drifted:
        print(f"{path}: parameters cell {'differs from the spec' if check else 'regenerated'}")
    if check and drifted:
        _stderr("notebooks have drifted from the parameter spec. HINT: run `python -m tenantmove notebooks`")
        return EXIT_FAILED
    print("parameters cells match the spec" if not drifted else f"{len(drifted)} notebook(s) regenerated")
    return EXIT_OK


def cmd_done(params_file: Path, keys: list[str], note: str) -> int:
    """The admin's word that manual items no API can check are done: who, when, a note, in the state folder."""
    from ..workloads.settings import MANUAL, mark_done

    try:
        raw = load_yaml(params_file)
    except TenantmoveError as exc:
        _stderr(exc.one_line())
        return EXIT_BAD_INPUT
    known = {m.key for m in MANUAL} | closure.KEYS
    unknown = [k for k in keys if k not in known]
    if unknown:
        _stderr(f"unknown manual item(s): {', '.join(unknown)} HINT: the keys are {', '.join(sorted(known))}")
        return EXIT_BAD_INPUT
    state = statefolder.resolve(raw)
    by = str(raw.get("operator") or audit.default_operator())
    settings_keys, closing_keys = [k for k in keys if k not in closure.KEYS], [k for k in keys if k in closure.KEYS]
    mark_done(state, settings_keys, by, note)
    closure.mark(state, closing_keys, by, note)
    if settings_keys:
        print(f"marked done by {by}: {', '.join(settings_keys)} (in {state}); the next run of phase 40 records it")
    if closing_keys:
        print(f"closing checklist marked done by {by}: {', '.join(closing_keys)} (in {state})")
        left = closure.not_ready(state)
        print("ready to be closed: a second person signs it with python -m tenantmove close PARAMS" if not left
              else f"not ready to close yet: {'; '.join(left)}")
    return EXIT_OK


def cmd_passwords(params_file: Path, out: Path, passes: bool = False) -> int:
    """The vault's temporary passwords (or, with ``passes``, the one-time sign-in passes) in clear, into an
    owner-only file for the admin who hands them out."""
    try:
        raw = load_yaml(params_file)
        params = validate(absolutize(raw, Path.cwd()), origin=str(params_file), check_environment=False)
        fernet = passwords.key_from_env(params.vault_key_env)
        state = statefolder.resolve(raw)
        count = passwords.export(state / ("passes" if passes else "passwords"), fernet, out)
    except TenantmoveError as exc:
        _stderr(exc.one_line())
        return EXIT_BAD_INPUT
    except FileExistsError:
        _stderr(f"{out} exists already. HINT: name a new file; the passwords are never written over another file")
        return EXIT_BAD_INPUT
    except OSError as exc:
        _stderr(f"{out}: {exc.strerror}. HINT: name a file in a folder you can write to")
        return EXIT_BAD_INPUT
    what = "one-time sign-in pass(es)" if passes else "temporary password(s)"
    print(f"{count} {what} written to {out} (readable only by you); hand them over, then delete it")
    return EXIT_OK


def cmd_waive(params_file: Path, key: str, why: str) -> int:
    """An accountable person accepts a security gap phase 90 named (who, when, why), in the state folder."""
    from ..workloads import security

    if not why.strip():
        _stderr("a waiver needs a reason. HINT: --why 'what makes the gap acceptable, and until when'")
        return EXIT_BAD_INPUT
    try:
        raw = load_yaml(params_file)
    except TenantmoveError as exc:
        _stderr(exc.one_line())
        return EXIT_BAD_INPUT
    state = statefolder.resolve(raw)
    by = str(raw.get("operator") or audit.default_operator())
    row = security.waive(state, key, by, why)
    print(f"waived by {by} at {row['at']}: {key} (in {state}); phase 90 shows it as waived, with the reason")
    return EXIT_OK


def cmd_sign(run_dir: Path, key: Path, password_env: str) -> int:
    if not (run_dir / audit.MANIFEST).is_file():
        _stderr(f"{run_dir}: no {audit.MANIFEST} here. HINT: sign a sealed run folder")
        return EXIT_BAD_INPUT
    problems = audit.verify_manifest(run_dir)
    if problems:
        _stderr(f"{run_dir} is not intact ({problems[0]}): not signed. HINT: python -m tenantmove verify {run_dir}")
        return EXIT_FAILED
    try:
        subject = signing.sign(run_dir, key, password_env)
    except TenantmoveError as exc:
        _stderr(exc.one_line())
        return EXIT_BAD_INPUT
    print(f"signed by {subject}: {run_dir / signing.SIGNATURE}")
    return EXIT_OK


def confirmations_differ(run_dir: Path, state: Path, run_id: str) -> list[str]:
    """Each confirmation in the run folder against the one the migration's ledger kept when it was given."""
    from ..engine.ledger import LEDGER_FILE, read_confirmations

    if not (state / LEDGER_FILE).is_file():
        return []
    keys = ("phase", "action", "typed", "by", "at")
    written = []
    for path in sorted(run_dir.glob("*/confirmations.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line) if line.strip() else {}
            if entry and not entry.get("refused"):
                written.append(tuple(str(entry.get(k, "")) for k in keys))
    kept = [tuple(str(c.get(k, "")) for k in keys) for c in read_confirmations(state / LEDGER_FILE, run_id)]
    problems = [f"confirmation in the run folder not in the migration's ledger: {e[0]}, {e[1]!r} typed {e[2]!r} by "
                f"{e[3]} at {e[4]}" for e in written if e not in kept]
    problems += [f"confirmation in the migration's ledger missing from the run folder: {e[0]}, {e[1]!r} by {e[3]} at "
                 f"{e[4]}" for e in kept if e not in written]
    return problems


def cmd_verify(run_dir: Path, state_override: Path | None = None) -> int:
    """The manifest re-hashed, the manifest against the migration's chain, and the notebooks against the
    committed ones (warnings: a hand-stepped run can be right). Reads only: no file anywhere is written,
    opened for writing or touched. ``state_override``: a copy of the state folder (a dossier checked on
    another machine) instead of the path the record names."""
    if not run_dir.is_dir():
        _stderr(f"{run_dir} is no folder. HINT: give a run folder (runs/<time>-<name>)")
        return EXIT_BAD_INPUT
    if state_override is not None and not (state_override / chain.CHAIN).is_file():
        _stderr(f"{state_override} holds no {chain.CHAIN}. HINT: --state takes a copy of the migration's state "
                "folder (the one with runs.chain.jsonl and ledger.sqlite)")
        return EXIT_BAD_INPUT
    problems = audit.verify_manifest(run_dir)
    warnings: list[str] = []
    record = audit.read_json(run_dir / audit.RUN_JSON) if (run_dir / audit.RUN_JSON).is_file() else {}
    state = str(state_override) if state_override is not None else (record.get("parameters") or {}).get("state_dir")
    if state and not Path(state).is_dir():
        warnings.append(f"the state folder {state} is not here, so the run was not checked against the migration's "
                        "chain: give a copy with --state DIR")
    elif state and (run_dir / audit.MANIFEST).is_file():
        found, warned = chain.check(Path(state), str(record.get("run_id")), chain.digest_of(run_dir / audit.MANIFEST))
        problems += found
        warnings += warned
        problems += confirmations_differ(run_dir, Path(state), str(record.get("run_id")))
    problems += approval.check_run(run_dir, Path(state) if state and Path(state).is_dir() else None, record)
    if state and Path(state).is_dir():
        problems += closure.check(Path(state))
    warnings += notebook_check.check_run(run_dir, str((record.get("library") or {}).get("git_commit", "")))
    if (run_dir / audit.MANIFEST).is_file():
        bad, signer = signing.check(run_dir)
        problems += bad
        if signer and not bad:
            print(f"signed by {signer}")
    for problem in problems:
        print(problem)
    for warning in warnings:
        print(f"warning: {warning}")
    print("intact" if not problems else f"{len(problems)} problem(s)")
    return EXIT_OK if not problems else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tenantmove", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("run", "execute the phases unattended"), ("prepare", "write notebooks for JupyterLab"),
                           ("demo", "the whole runbook against the sandbox"), ("lab", "sandbox + JupyterLab")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("params", nargs="?" if name in ("demo", "lab") else None, default="parameters/demo.yaml",
                       help="YAML parameter file")
        p.add_argument("--phases", help="comma-separated phases to run, e.g. 00,10 (default: all)")
        p.add_argument("--runs-dir", help="where run folders go (default: runs/)")
        if name == "run":
            p.add_argument("--resume", metavar="RUN_DIR", help="continue a failed run in its folder")
    sub.add_parser("permissions", help="print the Graph permissions each phase needs (markdown)")
    waive = sub.add_parser("waive", help="accept a security gap phase 90 named, with who and why")
    waive.add_argument("params", help="YAML parameter file (for the state folder)")
    waive.add_argument("key", help="the gap as phase 90 names it, e.g. 'conditional access: Require MFA'")
    waive.add_argument("--why", required=True, help="why the gap is acceptable, for the record")
    sub.add_parser("vault-key", help="print a new key for the temporary-password vault (keep it with your secrets)")
    pw = sub.add_parser("passwords", help="write the new users' temporary passwords to an owner-only file")
    pw.add_argument("params", help="YAML parameter file (for the state folder and vault_key_env)")
    pw.add_argument("--out", type=Path, required=True, help="a new file to write them to")
    pw.add_argument("--passes", action="store_true", help="the one-time sign-in passes phase 40 gave (first_day_passes)")
    nbs = sub.add_parser("notebooks", help="regenerate the notebooks' parameters cells from the parameter spec")
    nbs.add_argument("--check", action="store_true", help="only check: exit 1 if a notebook has drifted")
    done = sub.add_parser("done", help="mark manual items done (what no API can check), as the admin")
    done.add_argument("params", help="YAML parameter file (for the state folder)")
    done.add_argument("keys", nargs="+", help="the manual items' keys, as the manual script names them")
    done.add_argument("--note", default="", help="what was done, for the record")
    for name in ("seal", "verify", "sign"):
        p = sub.add_parser(name, help={"seal": "seal a prepared run", "verify": "check a run's manifest",
                                       "sign": "sign a run's manifest with the organisation's certificate"}[name])
        p.add_argument("run_dir", type=Path)
        if name == "verify":
            p.add_argument("--state", type=Path, default=None,
                           help="a copy of the migration's state folder to check the chain against (default: the "
                                "folder the run's record names)")
        if name == "sign":
            p.add_argument("--key", type=Path, required=True, help="PEM file: the private key and its certificate")
            p.add_argument("--password-env", default="", help="environment variable holding the key's password")
    approve = sub.add_parser("approve", help="sign the plan a phase waits approval for, as the second person")
    approve.add_argument("run_dir", type=Path)
    approve.add_argument("--phase", default="", help="the phase whose plan you approve, e.g. 20 (when several wait)")
    approve.add_argument("--key", type=Path, required=True, help="PEM file: your private key and certificate")
    approve.add_argument("--password-env", default="", help="environment variable holding the key's password")
    closing = sub.add_parser("close", help="sign the closure of the migration, as the second person")
    closing.add_argument("params", help="YAML parameter file (for the state folder and the tenant to sign in to)")
    closing.add_argument("--key", type=Path, default=None, help="sign with this PEM file (key and certificate) "
                                                                "instead of signing in")
    closing.add_argument("--password-env", default="", help="environment variable holding the key's password")
    merging = sub.add_parser("merge-plan", help="several old tenants into one new one: what meets there, with its "
                                                "resolution, before anything is written")
    merging.add_argument("merge", type=Path, help="the merge file (its sources' parameter files, suffixes, rules)")
    indexing = sub.add_parser("merge-index", help="one view of a merge: each migration's runs and verdict, the "
                                                  "clashes and their resolutions, the combined verdict")
    indexing.add_argument("merge", type=Path, help="the merge file")
    demoing = sub.add_parser("demo-merge", help="the merge demo: two old tenants of the sandbox into one new one")
    demoing.add_argument("merge", type=Path, nargs="?", default=Path("parameters/merge-demo.yaml"),
                         help="the merge file (default: parameters/merge-demo.yaml)")
    demoing.add_argument("--runs-dir", help="where run folders go (default: runs/)")
    args = parser.parse_args(argv)
    # SIGTERM (a CI timeout, `kill`) ends the run like Ctrl-C: finally-blocks stop the sandbox
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    if args.command == "run":
        return execute(args, interactive=False)
    if args.command == "prepare":
        args.resume = None
        return execute(args, interactive=True)
    if args.command == "demo":
        args.fresh_state = True
        with sandbox_running(default_sandbox_dir()) as sandbox:
            return demo_run(args, sandbox)
    if args.command == "demo-merge":
        from .merge_demo import demo_merge

        return demo_merge(args.merge, args.runs_dir)
    if args.command == "lab":
        args.resume = None
        args.fresh_state = True  # a fresh sandbox each time: its own state folder, as the demo has
        args.leave_confirm_to_admin = True
        with sandbox_running(default_sandbox_dir()):
            code, run_dir = execute_in_folder(args, interactive=True)
            if code != EXIT_OK or run_dir is None:
                return code
            command = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={run_dir}"]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                command.append("--allow-root")  # Jupyter refuses root otherwise; containers often are root
            print("JupyterLab stops with Ctrl-C; the sandbox stops with it.")
            return subprocess.call(command)
    if args.command == "seal":
        return cmd_seal(args.run_dir)
    if args.command == "merge-plan":
        from .merge_plan import cmd_merge_plan

        return cmd_merge_plan(args.merge)
    if args.command == "merge-index":
        from .merge_index import cmd_merge_index

        return cmd_merge_index(args.merge)
    if args.command == "done":
        return cmd_done(Path(args.params), args.keys, args.note)
    if args.command == "close":
        return cmd_close(Path(args.params), args.key, args.password_env)
    if args.command == "approve":
        return cmd_approve(args.run_dir, args.phase, args.key, args.password_env)
    if args.command == "sign":
        return cmd_sign(args.run_dir, args.key, args.password_env)
    if args.command == "notebooks":
        return cmd_notebooks(args.check)
    if args.command == "waive":
        return cmd_waive(Path(args.params), args.key, args.why)
    if args.command == "vault-key":
        print(passwords.new_key())
        return EXIT_OK
    if args.command == "passwords":
        return cmd_passwords(Path(args.params), args.out, args.passes)
    if args.command == "permissions":
        from .permissions import markdown

        print(markdown())
        return EXIT_OK
    return cmd_verify(args.run_dir, args.state)

"""The audit trail: one folder per run with the executed notebooks, ``run.json``, an HTML
rendering (code hidden, outputs shown) with an index page, and a SHA-256 manifest of it all."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import html
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..clock import utc_now
from ..paths import project_root
from ..redact import redact
from . import approval, glossary
from .approval_policy import ApprovalPolicy
from .change import Change

MANIFEST = "MANIFEST.sha256"
RUN_JSON = "run.json"
SIGNED_AFTER = {"MANIFEST.sha256.sig", "MANIFEST.sha256.cert.pem"}  # the signature of the manifest, and its signer


def default_operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def git_commit() -> str:
    root = project_root()
    if root is None or not (root / ".git").exists():
        return "unknown"
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=False)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown (no commit yet)"
    commit = out.stdout.strip() or "unknown"
    return commit + ("+dirty" if dirty.stdout.strip() else "")


def library_info() -> dict[str, str]:
    return {"version": __version__, "git_commit": git_commit(), "python": platform.python_version()}


def new_run_dir(runs_dir: Path, name: str) -> Path:
    """``runs/<UTC time>-<name>/``, created; a second run in the same second gets a suffix."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    runs_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        candidate = runs_dir / (f"{stamp}-{name}" + (f"-{n}" if n else ""))
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError("could not create a run folder")


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(redact(json.dumps(data, indent=2, default=str)) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def phase_result_path(run_dir: Path, phase: str) -> Path:
    return run_dir / "phases" / f"{phase}.json"


# --- manifest ----------------------------------------------------------------------------------
def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record_files(run_dir: Path) -> list[Path]:
    """The files that make up a run's record: JupyterLab's checkpoints and half-written files are not."""
    return sorted(p for p in run_dir.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts
                  and not p.name.endswith(".tmp"))


def write_manifest(run_dir: Path) -> Path:
    """``MANIFEST.sha256`` in ``sha256sum -c`` format, covering every other file of the run."""
    lines = []
    for path in record_files(run_dir):
        rel = path.relative_to(run_dir).as_posix()
        if rel == MANIFEST or rel in SIGNED_AFTER:
            continue
        lines.append(f"{file_sha256(path)}  {rel}")
    target = run_dir / MANIFEST
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def verify_manifest(run_dir: Path) -> list[str]:
    """Problems found re-hashing the run folder against its manifest (empty: intact)."""
    manifest = run_dir / MANIFEST
    if not manifest.is_file():
        return [f"{manifest} is missing"]
    problems = []
    listed = set()
    for line in manifest.read_text(encoding="utf-8").splitlines():
        digest, _, rel = line.partition("  ")
        listed.add(rel)
        path = run_dir / rel
        if not path.is_file():
            problems.append(f"missing: {rel}")
        elif file_sha256(path) != digest:
            problems.append(f"changed: {rel}")
    for path in record_files(run_dir):
        rel = path.relative_to(run_dir).as_posix()
        if rel != MANIFEST and rel not in listed and rel not in SIGNED_AFTER:
            problems.append(f"not in manifest: {rel}")
    return problems


# --- HTML for people without Jupyter -------------------------------------------------------------
def render_notebook_html(notebook: Path, out: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nbformat.read(str(notebook), as_version=4))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")


def render_run(run_dir: Path) -> Path:
    """HTML of every executed notebook (code hidden) and ``index.html`` linking them."""
    record = read_json(run_dir / RUN_JSON) if (run_dir / RUN_JSON).is_file() else {}
    for nb in sorted(run_dir.glob("*.ipynb")):
        render_notebook_html(nb, run_dir / "html" / f"{nb.stem}.html")
    return write_index(run_dir, record)


REHEARSAL = ("REHEARSAL against the embedded sandbox: nothing in this run touched Microsoft 365. It is evidence that "
             "the procedure works, not a record of the real move.")


def is_rehearsal(record: dict[str, Any]) -> bool:
    """A run against the embedded sandbox (its parameters say ``cloud: sandbox``)."""
    return str((record.get("parameters") or {}).get("cloud", "")) == "sandbox"


def write_index(run_dir: Path, record: dict[str, Any]) -> Path:
    esc = html.escape
    rows = []
    for ph in record.get("phases", []):
        page = run_dir / "html" / f"{ph['phase']}.html"
        link = f"<a href='html/{esc(ph['phase'])}.html'>{esc(ph['phase'])}</a>" if page.is_file() else esc(ph["phase"])
        nb = f"<a href='{esc(ph['phase'])}.ipynb'>notebook</a>" if (run_dir / f"{ph['phase']}.ipynb").is_file() else ""
        err = ph.get("error") or {}
        detail = esc(f"cell {err.get('cell')}: {err.get('ename')}: {err.get('evalue')}") if err else \
            esc("; ".join(f"{k}: {v}" for k, v in (ph.get("summary") or {}).items()))
        changed = "; ".join(f"{c['kind']} {c['state']}: {c['items']}" for c in ph.get("changed") or [])
        if changed and not err:
            detail += f"<br><small>this run changed: {esc(changed)}</small>"
        attempts = "<br>".join(
            f"{esc(str(a.get('status')))} · {esc(str(a.get('operator')))} · {esc(str(a.get('started')))}"
            + (f" · <a href='{esc(a['notebook'])}'>{esc(a['notebook'])}</a>" if a.get("notebook") else "")
            for a in ph.get("attempts", []))
        status = str(ph.get("status", ""))
        verdict = (ph.get("summary") or {}).get("verdict")
        shown, css = status, status
        if verdict == "red":  # the verification ran to its end, and what it found is not green
            shown, css = f"{status}, verdict RED", "failed"
        elif verdict == "green":
            shown = f"{status}, verdict green"
        rows.append(f"<tr><td>{link}</td><td class='{esc(css)}'>{esc(shown)}</td>"
                    f"<td>{esc(str(ph.get('operator', '')))}</td>"
                    f"<td>{esc(str(ph.get('started', '')))}</td><td>{ph.get('duration_s', '')}</td>"
                    f"<td>{detail}</td><td>{attempts}</td><td>{nb}</td></tr>")
    tenants = record.get("tenants", {})
    facts = {
        "Run": record.get("run_id", ""), "Name": record.get("name", ""), "Status": record.get("status", ""),
        "Verdict (phase 90)": {"green": "green: everything reconciles", "red": "RED: not everything reconciles "
                               "(see phase 90)"}.get(str(record.get("verdict")), "not verified in this run"),
        "Operator": record.get("operator", ""), "Host": record.get("host", ""),
        "Started (UTC)": record.get("started", ""), "Ended (UTC)": record.get("ended", ""),
        "Mode": record.get("mode", ""),
        "Old tenant": " ".join(str(v) for v in (tenants.get("source") or {}).values()),
        "New tenant": " ".join(str(v) for v in (tenants.get("target") or {}).values()),
        "tenantmove": "{version} (commit {git_commit}, Python {python})".format(
            **{"version": "?", "git_commit": "?", "python": "?", **(record.get("library") or {})}),
        "Command": record.get("command", ""),
        "Parameter file": (record.get("parameter_file") or {}).get("path", ""),
    }
    facts["Operators (every attempt)"] = ", ".join(record.get("operators") or [record.get("operator", "")])
    facts["Parameter file SHA-256"] = (record.get("parameter_file") or {}).get("sha256") or ""
    params = record.get("parameters") or {}
    facts["User mapping"] = params.get("user_mapping") or f"{params.get('state_dir', '')}/users.csv"
    facts["State folder"] = params.get("state_dir", "")
    change = Change.of(params.get("change"))
    facts.update({k[0].upper() + k[1:]: v for k, v in change.facts().items()})
    facts["Approval of the plans"] = ApprovalPolicy.of(params.get("approval")).describe()
    approvals = [a for p in sorted(run_dir.glob(f"*/{approval.RECORD}")) for a in approval.recorded(p.parent)]
    if approvals:
        facts["Approvals"] = "; ".join(approval.text(a) if not a.get("refused") else
                                       f"REFUSED ({a.get('phase')}, {a.get('by')}): {a['refused']}" for a in approvals)
    if record.get("error"):
        facts["Error"] = record["error"]
    fact_rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in facts.items())
    extra = _dossier(run_dir, record)
    files = [p.relative_to(run_dir).as_posix() for p in record_files(run_dir)]
    file_list = "".join(f"<li><a href='{esc(f)}'>{esc(f)}</a></li>" for f in files if not f.startswith("html/"))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>tenantmove run {esc(str(record.get('run_id', '')))}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}
.completed{{color:#1b7f3b}}.failed{{color:#b00020;font-weight:bold}}.manual{{color:#8a5a00}}.skipped{{color:#777}}
.rehearsal{{background:#fff4ce;border:2px solid #8a5a00;padding:.6em 1em;font-weight:bold}}</style></head><body>
{f"<p class='rehearsal'>{esc(REHEARSAL)}</p>" if is_rehearsal(record) else ""}
<h1>tenantmove run</h1><table>{fact_rows}</table>
<h2>Phases</h2><table><tr><th>phase</th><th>status</th><th>operator</th><th>started</th><th>seconds</th><th>result</th>
<th>attempts (kept)</th><th></th></tr>
{''.join(rows)}</table>
{extra}
{_rehearsals(run_dir, record)}
<h2>Files</h2><p>Every file is listed with its SHA-256 in <a href="{MANIFEST}">{MANIFEST}</a>
(check with <code>sha256sum -c {MANIFEST}</code> in this folder).</p><ul>{file_list}</ul>
{glossary.section()}
</body></html>"""
    index = run_dir / "index.html"
    index.write_text(redact(glossary.link_terms(page)), encoding="utf-8")
    return index


def _rehearsals(run_dir: Path, record: dict[str, Any]) -> str:
    """A production run's evidence of testing: the rehearsals of the same migration (same ``name``, ``cloud:
    sandbox``) in the same runs folder, linked."""
    if is_rehearsal(record) or not run_dir.parent.is_dir():
        return ""
    found = []
    for other in sorted(run_dir.parent.iterdir()):
        path = other / RUN_JSON
        if other == run_dir or not path.is_file():
            continue
        seen = read_json(path)
        if seen.get("name") == record.get("name") and is_rehearsal(seen):
            found.append(f"<li><a href='../{html.escape(other.name)}/index.html'>{html.escape(other.name)}</a>: "
                         f"{html.escape(str(seen.get('status')))}, verdict {html.escape(str(seen.get('verdict') or '-'))}, "
                         f"by {html.escape(str(seen.get('operator')))}</li>")
    listed = "".join(found) or ("<li>none found beside this run: a production run should follow a green rehearsal "
                                "with the same parameter file</li>")
    return f"<h2>Rehearsals of this migration (evidence of testing)</h2><ul>{listed}</ul>"


def _dossier(run_dir: Path, record: dict[str, Any]) -> str:
    """The index's answers beyond the phases: confirmations, items on both sides, integrity."""
    from .confirm import how  # the widgets' module: loaded only when a page is written

    esc = html.escape
    parts = []
    confirmations = []
    for path in sorted(run_dir.glob("*/confirmations.jsonl")):
        confirmations += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if confirmations:
        rows = "".join(f"<tr><td>{esc(str(c.get('phase')))}</td><td>{esc(str(c.get('action')))}</td>"
                       f"<td>{esc(str(c.get('by')))}</td><td>{esc(str(c.get('at')))}</td>"
                       f"<td><code>{esc(str(c.get('typed')))}</code></td><td>{esc(how(str(c.get('via'))))}"
                       f"{' — refused' if c.get('refused') else ''}</td></tr>"
                       for c in confirmations)
        parts.append("<h2>Confirmations of destructive steps</h2><table><tr><th>phase</th><th>what</th><th>by</th>"
                     f"<th>at (UTC)</th><th>text</th><th>how</th></tr>{rows}</table>")
    summary = run_dir / "90_verify_and_close" / "reconcile-summary.csv"
    if summary.is_file():
        lines = [line.split(",") for line in summary.read_text(encoding="utf-8").splitlines()]
        table = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in lines[1:])
        head = "".join(f"<th>{esc(c)}</th>" for c in lines[0])
        parts.append(f"<h2>Items per workload, both sides (phase 90)</h2><table><tr>{head}</tr>{table}</table>")
    state = Path(str((record.get("parameters") or {}).get("state_dir") or ""))
    cutover = state / "cutover.json"
    if str(state) not in ("", ".") and cutover.is_file():
        window = read_json(cutover)
        down, up = window.get("mail_down") or {}, window.get("mail_up") or {}
        parts.append(f"<h2>Mail downtime window</h2><p>down {esc(str(down.get('at', '?')))} "
                     f"({esc(str(down.get('note', '')))}, by {esc(str(down.get('by', '?')))}, run "
                     f"{esc(str(down.get('run_id', '?')))}) → up {esc(str(up.get('at', 'not yet')))} "
                     f"({esc(str(up.get('note', '')))})</p>")
        attempts = window.get("attempts") or []
        if attempts:  # cutovers the way back (phase 25) closed
            rows = "".join(f"<tr><td>{esc(str((a.get('mail_down') or {}).get('at', '-')))}</td>"
                           f"<td>{esc(str((a.get('mail_up') or {}).get('at', 'never')))}</td>"
                           f"<td>{esc(str(a['rolled_back'].get('at', '?')))}</td>"
                           f"<td>{esc(str(a['rolled_back'].get('by', '?')))}</td>"
                           f"<td>{esc(str(a['rolled_back'].get('run_id', '?')))}</td></tr>" for a in attempts)
            parts.append("<h2>Cutovers rolled back</h2><table><tr><th>mail stopped</th><th>mail flowed</th>"
                         f"<th>rolled back at (UTC)</th><th>by</th><th>run</th></tr>{rows}</table>")
    parts.append(_ledger_history(run_dir / "ledger.sqlite", state))
    integrity = record.get("integrity") or {}
    warnings = integrity.get("notebook warnings") or []
    items = "".join(f"<li>{esc(w)}</li>" for w in warnings) or "<li>every notebook's code is the committed code of this " \
        "version, its cells ran once, in order</li>"
    parts.append(f"<h2>Integrity</h2><ul>{items}</ul><p>Previous run in the migration's chain: "
                 f"<code>{esc(str(integrity.get('previous run in the chain') or 'none (the first run)'))}</code>. "
                 f"This run's manifest digest is chained into the state folder when it is sealed; check the folder "
                 f"with <code>{esc(str(integrity.get('how to check', 'python -m tenantmove verify RUN_DIR')))}</code>."
                 "</p>")
    return "\n".join(parts)


# how an item's state looks in the dossier: a manual item waits for the admin, it has not failed
STATE_CLASS = {"done": "completed", "manual": "manual", "planned": "manual", "failed": "failed"}


def _ledger_history(ledger: Path, state: Path) -> str:
    """From the run's ledger snapshot: every manual item and who marked it done, every failure and how it
    ended (across all runs of the migration; a run's operator from the migration's chain)."""
    from ..engine.ledger import open_read_only

    if not ledger.is_file():
        return ""
    esc = html.escape
    who: dict[str, str] = {}
    chain_file = state / "runs.chain.jsonl"
    if chain_file.is_file():
        for line in chain_file.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            who[str(entry.get("run_id"))] = str(entry.get("operator"))
    db = open_read_only(ledger)
    try:
        rows = db.execute("SELECT i.phase, i.kind, COALESCE(i.name, i.source_id), i.state, e.state, e.at, e.run_id, "
                          "e.note FROM items i JOIN events e ON e.item = i.id WHERE i.id IN (SELECT item FROM events "
                          "WHERE state IN ('manual', 'failed')) ORDER BY i.id, e.id").fetchall()
    finally:
        db.close()
    items: dict[tuple[str, str, str], list[tuple[Any, ...]]] = {}
    for phase, kind, name, state_now, ev_state, at, run_id, note in rows:
        items.setdefault((phase, kind, name), []).append((state_now, ev_state, at, run_id, note))
    out = []
    for (phase, kind, name), events in items.items():
        now = events[-1][0]
        trail = " → ".join(f"{esc(str(ev))} {esc(str(at))} ({esc(who.get(str(run), str(run)))})"
                           for _, ev, at, run, _ in events if ev != "planned")
        reason = next((str(note) for _, ev, _, _, note in events if ev in ("manual", "failed")), "")
        out.append(f"<tr><td>{esc(phase)}</td><td>{esc(kind)}</td><td>{esc(str(name))}</td>"
                   f"<td class='{STATE_CLASS.get(now, 'failed')}'>{esc(now)}</td><td>{esc(reason[:200])}</td>"
                   f"<td>{trail}</td></tr>")
    if not out:
        return "<h2>Manual items and failures</h2><p>None, in any run of this migration.</p>"
    return ("<h2>Manual items and failures, across the migration's runs</h2><table><tr><th>phase</th><th>kind</th>"
            "<th>item</th><th>now</th><th>why</th><th>history (state, when, who)</th></tr>" + "".join(out[:500])
            + "</table>" + (f"<p>… {len(out) - 500} more: the ledger snapshot.</p>" if len(out) > 500 else ""))


def base_record(run_id: str, name: str, operator: str, mode: str, parameters: dict[str, Any],
                parameter_file: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run_id": run_id, "name": name, "status": "running", "mode": mode, "operator": operator,
        "host": socket.gethostname(), "started": utc_now(), "ended": None, "library": library_info(),
        "command": " ".join(["python -m tenantmove", *sys.argv[1:]]), "parameters": parameters,
        "tenants": {}, "phases": [],
    }
    if parameter_file:
        path = Path(parameter_file)
        record["parameter_file"] = {"path": str(path),
                                    "sha256": file_sha256(path) if path.is_file() else None}
    return record

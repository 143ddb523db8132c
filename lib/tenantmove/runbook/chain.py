"""The migration's chain of runs: each sealed run's manifest digest, appended to the state folder's
``runs.chain.jsonl`` with the digest of the entry before it, so that a run folder rewritten together with its
manifest, or a run sealed again (another operator, an edited cell), no longer matches what was chained when it
ended. The digest is also printed at the end of a run, for a change ticket. The chain also gives the
migration its own index: every run from the first rehearsal to the close."""

from __future__ import annotations

import hashlib
import html
import json
import os
from pathlib import Path
from typing import Any

from ..clock import utc_now
from ..redact import redact
from ..workloads import records

CHAIN = "runs.chain.jsonl"
INDEX = "migration-index.html"


def digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def entries(state_dir: Path) -> list[dict[str, Any]]:
    return records.read_json_lines(state_dir / CHAIN)


def _entry_digest(entry: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()


def head(state_dir: Path) -> str:
    """The digest of the chain's last entry ('' for a new migration): what the next run records as its previous."""
    found = entries(state_dir)
    return _entry_digest(found[-1]) if found else ""


def append(state_dir: Path, record: dict[str, Any], run_dir: Path, manifest_digest: str) -> dict[str, Any]:
    entry = {"run_id": record.get("run_id"), "run_dir": str(run_dir.resolve()), "status": record.get("status"),
             "verdict": record.get("verdict"), "cloud": (record.get("parameters") or {}).get("cloud"),
             "operator": record.get("operator"), "ended": record.get("ended"), "sealed": utc_now(),
             "manifest_sha256": manifest_digest, "previous": head(state_dir)}
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / CHAIN, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
    write_migration_index(state_dir)
    return entry


def check(state_dir: Path, run_id: str, manifest_digest: str) -> tuple[list[str], list[str]]:
    """(problems, warnings) for one run against the chain: its manifest as chained, the chain unbroken, and a
    run sealed more than once."""
    problems, warnings = [], []
    found = entries(state_dir)
    if not found:
        return [f"the migration's chain ({state_dir / CHAIN}) is missing: the run cannot be checked against it"], []
    for before, entry in zip(found, found[1:], strict=False):
        if entry.get("previous") != _entry_digest(before):
            problems.append(f"the chain is broken after run {before.get('run_id')}: an entry was changed or removed")
    mine = [e for e in found if e.get("run_id") == run_id]
    if not mine:
        problems.append(f"run {run_id} is not in the migration's chain")
        return problems, warnings
    if mine[-1]["manifest_sha256"] != manifest_digest:
        problems.append(f"the manifest is not the one chained when the run was sealed ({mine[-1]['sealed']}, digest "
                        f"{mine[-1]['manifest_sha256'][:16]}…): the folder was rewritten together with its manifest")
    done = next((n for n, e in enumerate(mine) if e.get("status") == "completed"), None)
    if done is not None and done < len(mine) - 1:
        again = mine[done + 1]
        problems.append(f"sealed again after it was completed ({mine[done].get('operator')} at {mine[done]['sealed']}"
                        f"): by {again.get('operator')} at {again['sealed']}")
    if len(mine) > 1:  # prepared then sealed, failed then resumed: each seal is in the record
        warnings.append("sealed " + str(len(mine)) + " times: " + "; ".join(
            f"{e.get('status')} by {e.get('operator')} at {e.get('sealed')}" for e in mine))
    return problems, warnings


def completed_at(state_dir: Path, run_id: str) -> dict[str, Any] | None:
    """The chain's entry that sealed ``run_id`` as completed, if any."""
    return next((e for e in entries(state_dir) if e.get("run_id") == run_id and e.get("status") == "completed"), None)


def write_migration_index(state_dir: Path) -> Path:
    """Every run of the migration, in order, with its status, operator and chained digest; the change record; the
    glossary."""
    from . import change_record, glossary

    esc = html.escape
    rows = []
    found = entries(state_dir)
    for n, e in enumerate(found, start=1):
        index = Path(str(e.get("run_dir", ""))) / "index.html"
        # relative to this page, so a copied dossier (state folder beside the runs) keeps working
        href = Path(os.path.relpath(index, state_dir.resolve())).as_posix() if index.is_absolute() else ""
        link = f"<a href='{esc(href)}'>{esc(str(e.get('run_id')))}</a>" if href else esc(str(e.get("run_id")))
        verdict = {"green": "green", "red": "RED"}.get(str(e.get("verdict")), "")
        against = "rehearsal (sandbox)" if e.get("cloud") == "sandbox" else str(e.get("cloud") or "")
        rows.append(f"<tr><td>{n}</td><td>{link}</td><td>{esc(against)}</td>"
                    f"<td>{esc(str(e.get('status')))}</td><td>{esc(verdict)}</td>"
                    f"<td>{esc(str(e.get('operator')))}</td><td>{esc(str(e.get('ended')))}</td>"
                    f"<td><code>{esc(str(e.get('manifest_sha256')))}</code></td></tr>")
    banner = ("<p style='background:#fff4ce;border:2px solid #8a5a00;padding:.6em 1em;font-weight:bold'>Every run "
              "here is a REHEARSAL against the embedded sandbox: none touched Microsoft 365.</p>\n"
              if found and all(e.get("cloud") == "sandbox" for e in found) else "")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>tenantmove migration</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style></head><body>
{banner}<h1>tenantmove migration: every run</h1>
<p>From the first rehearsal to the close. Each run's manifest digest is chained to the one before it
(<code>{CHAIN}</code> in this folder); <code>python -m tenantmove verify RUN_DIR</code> checks a run against it.</p>
<table><tr><th>#</th><th>run</th><th>against</th><th>status</th><th>verdict (phase 90)</th><th>operator</th><th>ended (UTC)</th><th>manifest SHA-256</th></tr>
{''.join(rows)}</table>
{change_record.section(state_dir, found)}
{glossary.section()}</body></html>"""
    out = state_dir / INDEX
    out.write_text(redact(glossary.link_terms(page)), encoding="utf-8")
    return out

"""One view of a merge: ``python -m tenantmove merge-index MERGE.yaml`` reads each migration's state folder (its
chain of runs, its last verification, its ledger's manual items) and the merge plan (every clash and how it was
resolved), and gives the new tenant a combined verdict: green when every migration's last phase 90 is green, no
clash is left unresolved, and no object of the new tenant is claimed by two migrations' ledgers unless the plan
merges them (nothing of one old tenant overwrote anything of another). Written to the merge's folder as
``merge-index.html`` and ``merge-verdict.json``."""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from ..clock import utc_now
from ..engine import Ledger
from ..redact import redact
from . import chain, closure
from .merge_plan import PLAN_FILE, RESOLUTIONS_FILE, MergeFile, load

INDEX = "merge-index.html"
VERDICT = "merge-verdict.json"
# the ledger kinds whose target is an object of the new tenant that one migration makes and owns (a guest is not:
# the same outside person may be a guest of two old tenants, and is one guest of the new one)
OWNED = ("user", "group", "site", "library", "library-folder", "library-file", "list", "list-item", "mail-folder",
         "mail-item", "drive-folder", "drive-file", "onenote-section", "onenote-page", "team", "team-channel",
         "team-message")


def migration_rows(merge: MergeFile) -> pd.DataFrame:
    """Per migration: its runs, its last verification, its open manual items, and whether it is closed."""
    rows = []
    for m in merge.migrations:
        runs = chain.entries(m.state)
        last = closure.last_verification(m.state) or {}
        manual = 0
        if (m.state / "ledger.sqlite").is_file():
            with Ledger(m.state / "ledger.sqlite") as ledger:
                manual = len(ledger.items(states=["manual"]))
        rows.append({"migration": m.params.name, "old tenant": m.params.source.tenant,
                     "domains": ", ".join(m.params.domains), "runs": len(runs),
                     "last verification": str(last.get("verdict") or "none yet"),
                     "verified by run": str(last.get("run_id") or ""), "run folder": str(last.get("run_dir") or ""),
                     "manual items open": manual, "closed": "yes" if closure.closed(m.state) else "no",
                     "state folder": str(m.state)})
    return pd.DataFrame(rows)


def claimed_twice(merge: MergeFile) -> pd.DataFrame:
    """Each object of the new tenant that two migrations' ledgers claim (done, same target id), but for the groups
    the plan merges: what one migration made and another then wrote over."""
    claims: dict[tuple[str, str], list[str]] = defaultdict(list)
    for m in merge.migrations:
        if not (m.state / "ledger.sqlite").is_file():
            continue
        with Ledger(m.state / "ledger.sqlite") as ledger:
            for kind in OWNED:
                for item in ledger.items(kind, ["done"]):
                    if item.target_id:
                        claims[(kind, str(item.target_id))].append(f"{m.params.name}: {item.name or item.source_id}")
    merged = merge.rules.get("groups") == "merge"
    rows = [{"kind": kind, "object in the new tenant": target, "claimed by": "; ".join(who)}
            for (kind, target), who in sorted(claims.items())
            if len({w.split(":", 1)[0] for w in who}) > 1 and not (kind == "group" and merged)]
    return pd.DataFrame(rows, columns=["kind", "object in the new tenant", "claimed by"])


def combined(merge: MergeFile) -> dict[str, Any]:
    """The new tenant's verdict across the merge, with its reasons."""
    migrations = migration_rows(merge)
    plan_path = merge.folder / PLAN_FILE
    plan = pd.read_csv(plan_path, keep_default_na=False) if plan_path.is_file() else pd.DataFrame()
    record = json.loads((merge.folder / RESOLUTIONS_FILE).read_text(encoding="utf-8")) \
        if (merge.folder / RESOLUTIONS_FILE).is_file() else {}
    twice = claimed_twice(merge)
    reasons = [f"{r['migration']}: last verification {r['last verification']}" for _, r in migrations.iterrows()
               if r["last verification"] != "green"]
    reasons += ["no merge plan: run python -m tenantmove merge-plan"] if plan.empty else []
    reasons += [f"{record['blocking']} clash(es) without a resolution"] if record.get("blocking") else []
    reasons += [f"{len(twice)} object(s) of the new tenant claimed by two migrations"] if not twice.empty else []
    return {"merge": merge.name, "verdict": "green" if not reasons else "red", "reasons": reasons, "at": utc_now(),
            "migrations": migrations.to_dict("records"), "claimed twice": twice.to_dict("records"),
            "clashes": plan.to_dict("records")}


def _table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def write(merge: MergeFile) -> dict[str, Any]:
    """The merge's index page and verdict file, in its folder."""
    found = combined(merge)
    merge.folder.mkdir(parents=True, exist_ok=True)
    (merge.folder / VERDICT).write_text(json.dumps(found, indent=1, default=str) + "\n", encoding="utf-8")
    esc = html.escape
    migrations = pd.DataFrame(found["migrations"])
    if not migrations.empty:
        migrations["run folder"] = [f"{p}/index.html" if p else "" for p in migrations["run folder"]]
    verdict = ("green: every migration verified green, every clash resolved, nothing claimed by two migrations"
               if found["verdict"] == "green" else "RED: " + "; ".join(found["reasons"]))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>merge {esc(merge.name)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:80em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}
.green{{color:#1b7f3b;font-weight:bold}}.red{{color:#b00020;font-weight:bold}}</style></head><body>
<h1>Merge {esc(merge.name)}: {len(merge.migrations)} old tenants into one new one</h1>
<p class="{esc(found['verdict'])}">Combined verdict for the new tenant: {esc(verdict)}</p>
<p>Merge file: {esc(str(merge.path))}; written {esc(found['at'])} (UTC)</p>
<h2>Migrations (the merge file's order: the first keeps its names)</h2>{_table(migrations)}
<h2>What met in the new tenant, and how each was resolved</h2>{_table(pd.DataFrame(found["clashes"]))}
<h2>Objects of the new tenant claimed by two migrations</h2>{_table(pd.DataFrame(found["claimed twice"]))}
</body></html>"""
    (merge.folder / INDEX).write_text(redact(page), encoding="utf-8")
    return found


def cmd_merge_index(path: Path) -> int:
    from ..errors import TenantmoveError
    from .runner import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, _stderr

    try:
        merge = load(path)
    except TenantmoveError as exc:
        _stderr(exc.one_line())
        return EXIT_BAD_INPUT
    found = write(merge)
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        print(pd.DataFrame(found["migrations"]).drop(columns=["state folder", "run folder"]).to_string(index=False))
    print(f"merge index: {merge.folder / INDEX}")
    print(f"combined verdict for the new tenant: {found['verdict']}"
          + (f" ({'; '.join(found['reasons'])})" if found["reasons"] else ""))
    return EXIT_OK if found["verdict"] == "green" else EXIT_FAILED

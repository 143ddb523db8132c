"""``make demo-merge``: the article's third case against the sandbox. Its two old tenants (Contoso and Fabrikam)
move into the one new tenant. Each migration gets a fresh state folder, as ``make demo`` does. The merge plan is
made before anything is written. Each migration then runs its whole runbook in the merge file's order, with the
stand-in admin, person and outside world of the demo; the plan names the merge in every run (a parameter override,
on the record).

The plan's order rows say how: every migration's cutover (phases 00 to 30) first, in the merge file's order, since
a person of one may be named by another's content (a guest who is the other's person); then each migration's
content (phase 30 again, which adds such people to its groups, then 40 to 90, with the demo's second pass). Then
the merge index gives the combined verdict, and each migration is closed once it is green."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from ..errors import TenantmoveError
from ..paths import default_sandbox_dir
from . import merge_index, statefolder
from .merge_plan import MergeFile, cmd_merge_plan, load
from .runner import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    _stderr,
    demo_close,
    demo_run,
    person_at_hand,
    sandbox_running,
)

CUTOVER, CONTENT = "00,10,20,30", "30,40,50,60,65,70,80,90"


def fresh_states(merge: MergeFile, name: str) -> MergeFile:
    """A new state folder for each migration (the sandbox is new), then the merge file read again to find them."""
    for m in merge.migrations:
        statefolder.fresh(m.raw, name)
    return load(merge.path)


def demo_merge(path: Path, runs_dir: str | None = None) -> int:
    try:
        merge = load(path)
    except TenantmoveError as exc:
        _stderr(exc.one_line())
        return EXIT_BAD_INPUT
    overrides = {"merge": str(path.resolve())}
    with sandbox_running(default_sandbox_dir()) as sandbox:
        merge = fresh_states(merge, f"merge-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}")
        print(f"demo: the merge {merge.name}: {', '.join(m.params.name for m in merge.migrations)} into "
              f"{merge.migrations[0].params.target.tenant}; first its plan, before anything is written")
        code = cmd_merge_plan(path)
        for phases, what, again in ((CUTOVER, "the cutover", False), (CONTENT, "the content", True)):
            for m in merge.migrations:
                if code != EXIT_OK:
                    return code
                print(f"demo: the migration {m.params.name} ({m.origin}): {what}, phases {phases}")
                args = argparse.Namespace(params=m.origin, phases=phases, runs_dir=runs_dir, fresh_state=False,
                                          overrides=dict(overrides))
                code = demo_run(args, sandbox, close=False, again=again)
        if code != EXIT_OK:
            return code
        found = merge_index.write(merge)
        print(f"demo: merge index {merge.folder / merge_index.INDEX}: combined verdict {found['verdict']}"
              + (f" ({'; '.join(found['reasons'])})" if found["reasons"] else ""))
        if found["verdict"] != "green":
            return EXIT_FAILED
        with person_at_hand(sandbox, []):  # the closure's second person signs in by device code
            for m in merge.migrations:
                code = demo_close(Path(m.origin))
                if code != EXIT_OK:
                    return code
        merge_index.write(merge)  # closed now
        return EXIT_OK

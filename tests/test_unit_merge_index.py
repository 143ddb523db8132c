"""The merge's one view: each migration's last verification, and nothing of the new tenant claimed by two
migrations' ledgers unless the plan merges it (real ledgers in temporary state folders; no tenant is read)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tenantmove.engine import Ledger
from tenantmove.engine.ledger import Planned
from tenantmove.runbook import chain, merge_index
from tenantmove.runbook.merge_plan import PLAN_FILE, RESOLUTIONS_FILE, MergeFile, Migration
from tenantmove.runbook.params import defaults, validate


def _migration(tmp_path: Path, name: str, made: dict[str, str], verdict: str) -> Migration:
    state = tmp_path / name
    with Ledger(state / "ledger.sqlite", "r1") as ledger:
        for key, target in made.items():
            kind, source = key.split(":")
            ledger.plan("30", kind, [Planned(source, name=source)])
            ledger.done(kind, source, target)
        ledger.plan("30", "distribution-list", [Planned("dl", name="dl")])
        ledger.manual("distribution-list", "dl", "a script for Exchange")
    (state / chain.CHAIN).write_text(json.dumps({"run_id": "r1", "verdict": verdict, "run_dir": ""}) + "\n")
    params = validate({**defaults(), "name": name, "source": {**defaults()["source"], "tenant": f"{name}.example"}})
    return Migration(params, {}, name, state, f"{name}.yaml")


@pytest.mark.parametrize("groups_rule", ["suffix", "merge"])
def test_the_combined_verdict_names_what_two_migrations_claim(tmp_path: Path, groups_rule: str) -> None:
    contoso = _migration(tmp_path, "contoso", {"user:alex": "u1", "group:sales": "g1"}, "green")
    fabrikam = _migration(tmp_path, "fabrikam", {"user:megan": "u2", "group:sales": "g1"}, "green")
    folder = tmp_path / "merge"
    folder.mkdir()
    (folder / PLAN_FILE).write_text("area,in the new tenant,migrations,rule,resolution,blocking\n"
                                    "group name,sales,\"contoso, fabrikam\",merge,one group,False\n")
    (folder / RESOLUTIONS_FILE).write_text(json.dumps({"blocking": 0}))
    merge = MergeFile("m", tmp_path / "merge.yaml", [contoso, fabrikam], {"groups": groups_rule}, folder)
    found = merge_index.write(merge)
    assert [m["manual items open"] for m in found["migrations"]] == [1, 1]
    if groups_rule == "merge":  # the plan merges the two Sales groups into one: claimed by both, rightly
        assert found["verdict"] == "green" and not found["claimed twice"]
    else:  # one migration's group adopted by the other: an overwrite
        assert found["verdict"] == "red" and found["claimed twice"][0]["object in the new tenant"] == "g1"
        assert found["reasons"] == ["1 object(s) of the new tenant claimed by two migrations"]
    assert "Combined verdict for the new tenant" in (folder / merge_index.INDEX).read_text()


def test_a_migration_not_verified_green_keeps_the_merge_red(tmp_path: Path) -> None:
    merge = MergeFile("m", tmp_path / "merge.yaml", [_migration(tmp_path, "a", {}, "green"),
                                                    _migration(tmp_path, "b", {}, "red")], {}, tmp_path / "merge")
    found = merge_index.combined(merge)
    assert found["verdict"] == "red"
    assert "b: last verification red" in found["reasons"] and "no merge plan: run python -m tenantmove merge-plan" \
        in found["reasons"]

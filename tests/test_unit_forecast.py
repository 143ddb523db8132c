"""The forecast before the move: which limit binds each content phase, and how the duration changes with the
worker processes (Exchange's limits are per mailbox, SharePoint's budget per app and tenant)."""

from __future__ import annotations

import pandas as pd

from tenantmove.workloads import forecast as model


def _sizes(*rows: tuple[int, int]) -> pd.DataFrame:
    return pd.DataFrame([{"scope": f"s{n}", "items": i, "bytes": b} for n, (i, b) in enumerate(rows)])


def test_many_mailboxes_grow_with_the_workers_one_big_mailbox_does_not() -> None:
    limits = model.Limits(latency_s=0.3, workers=4, scopes_at_once=1)  # worker processes, a mailbox at a time each
    many = _sizes(*[(2_000, 50_000_000)] * 500)  # 500 mailboxes of 2,000 items: the pool binds
    one, four = (model.mail(many, limits, n) for n in (1, 4))
    assert one.binds.startswith("the machine") and abs(one.seconds / four.seconds - 4) < 0.01
    threads = model.mail(many, model.Limits(latency_s=0.3, workers=4), 1)  # the notebook's pool: 4 items at once
    assert abs(threads.seconds - (500 * (2_000 + 1 + 100)) / (4 / 0.3)) < 1
    big = _sizes((200_000, 5_000_000_000), (100, 1_000_000))  # one mailbox of 200,000 items: its own limits bind
    alone = [model.mail(big, limits, n) for n in (1, 4)]
    assert alone[1].binds.startswith("Exchange's limits per mailbox") and alone[1].seconds >= 200_000 / 15


def test_sharepoints_budget_is_the_apps_whatever_the_workers() -> None:
    limits = model.Limits(latency_s=0.05, workers=16, sharepoint_units_per_minute=model.ru_per_minute(800))
    drives = _sizes(*[(10_000, 1_000_000_000)] * 40)  # 400,000 small files
    one, four = (model.files(drives, limits, n) for n in (1, 4))
    assert four.binds.startswith("SharePoint's resource units") and four.seconds == one.seconds
    units = 2 * 2 * 400_000  # two requests a file, two units a request: more than a day's budget (1,200,000)
    assert four.seconds == units / (1_250 * model.RU_DAY_PER_MINUTE / 86_400) > units / (1_250 / 60)
    assert model.ru_per_minute(999) == 1_250 and model.ru_per_minute(60_000) == 6_250


def test_the_table_has_a_row_per_content_phase_with_both_bindings() -> None:
    table = model.forecast(_sizes((10, 10_000)), _sizes(), _sizes((5, 5_000)), model.Limits())
    assert list(table["phase"]) == ["50_team_sites", "60_mailboxes", "70_onedrive"]
    assert table.set_index("phase").loc["70_onedrive", "binds (this notebook)"] == "nothing to move"
    assert list(table.columns[5:8]) == ["this notebook", "2 worker processes", "4 worker processes"]

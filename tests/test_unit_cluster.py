"""The cluster's rules that need no cluster: which versions must agree, and how SharePoint's budget is shared."""

from __future__ import annotations

from tenantmove.engine.cluster import mismatches
from tenantmove.services.auth import TenantConfig
from tenantmove.services.graph import units_reserve
from tenantmove.services.remote import RemoteSignIn

SAME = {"python": "3.11.9.final.0", "dask": "2026.8.0", "distributed": "2026.8.0", "cloudpickle": "3.1.1",
        "tornado": "6.5", "toolz": "1.0.0", "msgpack": "1.1.0"}


def versions(scheduler: dict[str, str], **workers: dict[str, str]) -> dict:
    return {"client": {"packages": SAME}, "scheduler": {"packages": scheduler},
            "workers": {name: {"packages": packages} for name, packages in workers.items()}}


def test_the_same_versions_everywhere_pass_and_a_patch_release_of_python_too() -> None:
    assert mismatches(versions(SAME, a=SAME, b={**SAME, "python": "3.11.4.final.0"})) == []


def test_each_difference_is_named_with_where_it_is() -> None:
    found = mismatches(versions({**SAME, "distributed": "2024.1.0"}, w1=SAME,
                                w2={**SAME, "python": "3.12.1.final.0", "cloudpickle": None}))
    assert found == ["distributed 2024.1.0 on the scheduler, 2026.8.0 here", "Python 3.12 on worker w2, 3.11 here",
                     "cloudpickle missing on worker w2, 3.1.1 here"]


def test_a_sharepoint_workload_has_as_many_scopes_out_as_the_budgets_last_fifth_pays_for() -> None:
    config = TenantConfig("source", "t", "id", secret_env="X")
    signin = RemoteSignIn(config, config, "https://login", "https://graph", True)
    scopes, shared = signin.shared_budget(4)
    assert (scopes, shared.at_once) == (12, 48)  # unknown budget: the smallest, 1,250 a minute; 250 / (4 x 5)
    big = RemoteSignIn(config, config, "https://login", "https://graph", True, sharepoint_units=6_250)
    assert big.shared_budget(4)[0] == 62
    tiny = RemoteSignIn(config, config, "https://login", "https://graph", True, sharepoint_units=50)
    assert tiny.shared_budget(4)[0] == 1  # at least one scope, whatever the budget
    assert units_reserve(shared.at_once) == 240 <= 1_250 * 0.2 and units_reserve(1) == 8

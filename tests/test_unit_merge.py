"""Two old tenants into one new one: what meets in the new tenant is found before anything is written, each with
its resolution (a rule, the admin's mapping) or stopped in one line with the fix."""

from __future__ import annotations

import pandas as pd
import pytest

from tenantmove.workloads.merge import MergeRefused, Source, clashes, require_resolved, rules_problems, table

NEW = "contosonew.onmicrosoft.com"


def _source(name: str, suffix: str, domain: str, people: list[tuple[str, str, str]], groups: list[tuple[str, str]],
            sites: list[str], verified: list[str]) -> Source:
    moving = pd.DataFrame([{"source_upn": s, "target_upn": t, "action": a, "licences": "O365_BUSINESS_PREMIUM"}
                           for s, t, a in people])
    return Source(name, suffix, f"{name}-tenant",
                  pd.DataFrame([{"domain": d, "verified": True} for d in verified], columns=["domain", "verified"]),
                  moving,
                  pd.DataFrame([{"id": f"{name}-{n}", "displayName": d, "mailNickname": n, "kind": "unified"}
                                for d, n in groups], columns=["id", "displayName", "mailNickname", "kind"]),
                  pd.DataFrame([{"url": u, "title": u} for u in sites], columns=["url", "title"]),
                  frozenset(s.lower() for s, _, _ in people), (domain,))


def _two(alex_action: str = "merge") -> list[Source]:
    contoso = _source("contoso", "contoso", "contoso.example",
                      [("megan.bowen@contoso.example", "megan.bowen@contoso.example", "move"),
                       ("alex.wilber@contoso.example", "alex.wilber@contoso.example", "move"),
                       ("admin@contoso.onmicrosoft.com", f"admin@{NEW}", "move")],
                      [("Sales", "sales"), ("Marketing", "marketing")], ["sites/intranet", "sites/marketing"],
                      ["contoso.example", "contoso.onmicrosoft.com"])
    fabrikam = _source("fabrikam", "fabrikam", "fabrikam.example",
                       [("megan.bowen@fabrikam.example", "megan.bowen@fabrikam.example", "move"),  # a namesake
                        ("alex.wilber@fabrikam.example", "alex.wilber@contoso.example", alex_action),  # the same man
                        ("admin@fabrikam.onmicrosoft.com", f"admin@{NEW}", "move")],
                       [("Sales", "sales"), ("Purchasing", "purchasing")], ["sites/intranet"],
                       ["fabrikam.example", "fabrikam.onmicrosoft.com"])
    return [contoso, fabrikam]


def test_each_meeting_in_the_new_tenant_is_found_with_its_resolution() -> None:
    found = clashes(_two(), {"O365_BUSINESS_PREMIUM": 10}, {"users": "suffix"})
    by = {(c.area, c.key): c for c in found}
    assert by[("people", "alex.wilber@contoso.example")].rule == "mapping: merge"  # the admin said: one person
    assert "fabrikam" in by[("people", "alex.wilber@contoso.example")].resolution
    assert by[("people", f"admin@{NEW}")].resolution.endswith(f"becomes admin.fabrikam@{NEW}")
    assert ("people", "megan.bowen@contoso.example") not in by  # namesakes on their own domains do not meet
    assert "sales-fabrikam" in by[("group mail nickname", "sales")].resolution
    assert '"Sales (fabrikam)"' in by[("group name", "sales")].resolution
    assert ("group mail nickname", "marketing") not in by
    assert by[("sites", "sites/intranet")].resolution == "fabrikam's becomes sites/intranet-fabrikam"
    seats = by[("seats", "O365_BUSINESS_PREMIUM")]
    assert seats.resolution == "contoso 3 + fabrikam 2 = 5 of 10 free" and not seats.blocking  # merged: counted once
    assert not any(c.blocking for c in found)
    assert by[("order", "phase 30: contoso, then fabrikam")].resolution == (
        "fabrikam's merged people are made by contoso: run contoso's phase 30 first")
    require_resolved(found, "merge.yaml")  # nothing stops
    assert list(table(found).columns)[0] == "area"


def test_what_no_rule_resolves_stops_before_any_change_in_one_line_with_the_fix() -> None:
    found = clashes(_two(alex_action="move"), {"O365_BUSINESS_PREMIUM": 4})
    blocking = [c for c in found if c.blocking]
    assert {(c.area, c.key) for c in blocking} == {("people", "alex.wilber@contoso.example"),
                                                    ("people", f"admin@{NEW}"), ("seats", "O365_BUSINESS_PREMIUM")}
    with pytest.raises(MergeRefused) as refused:
        require_resolved(found, "merge.yaml")
    line = refused.value.one_line()
    assert "claimed by contoso (alex.wilber@contoso.example) and fabrikam (alex.wilber@fabrikam.example)" in line
    assert "action: merge" in line and "(and 2 more" in line and "\n" not in line


def test_a_domain_verified_in_another_migrations_old_tenant_is_refused() -> None:
    contoso, fabrikam = _two()
    wrong = Source(fabrikam.name, fabrikam.suffix, fabrikam.tenant, fabrikam.domains, fabrikam.moving,
                   fabrikam.groups, fabrikam.sites, fabrikam.mailboxes, ("contoso.example",))
    found = clashes([contoso, wrong], {"O365_BUSINESS_PREMIUM": 10})
    domain = [c for c in found if c.area == "domains" and c.blocking]
    assert len(domain) == 1 and "move it with contoso" in domain[0].resolution
    stays = next(c for c in found if c.area == "domains" and c.key == "fabrikam.example")  # moved by nobody
    assert not stays.blocking and stays.resolution.startswith("stays in fabrikam's old tenant")


def test_groups_merged_or_refused_and_sites_refused_by_rule() -> None:
    merged = clashes(_two(), {"O365_BUSINESS_PREMIUM": 10}, {"groups": "merge", "sites": "refuse"})
    by = {(c.area, c.key): c for c in merged}
    assert by[("group mail nickname", "sales")].resolution.startswith("one group: the members and owners of")
    assert by[("sites", "sites/intranet")].blocking
    assert [p.where for p in rules_problems({"groups": "rename", "teams": "suffix"}, "merge.yaml")] == [
        "merge.yaml: rules.groups", "merge.yaml: rules.teams"]


def test_each_migration_gets_what_its_phases_apply() -> None:
    from tenantmove.workloads.merge import Resolution

    into: dict[str, Resolution] = {}
    clashes(_two(), {"O365_BUSINESS_PREMIUM": 10}, {"users": "suffix"}, into)
    first, later = into["contoso"], into["fabrikam"]
    assert first == Resolution("contoso", folder="Contoso",  # the first keeps every name; Alex's mailbox is shared
                               merged_in={"alex.wilber@contoso.example": ["Fabrikam"]})
    assert later.merged == {"alex.wilber@fabrikam.example": "alex.wilber@contoso.example"}
    assert later.users == {"admin@fabrikam.onmicrosoft.com": f"admin.fabrikam@{NEW}"}
    assert later.groups == {"fabrikam-sales": {"mailNickname": "sales-fabrikam", "displayName": "Sales (fabrikam)"}}
    assert later.sites == {"sites/intranet": "sites/intranet-fabrikam",  # the clash of the sites
                           "sites/sales": "sites/sales-fabrikam"} and later.folder == "Fabrikam"  # the group's site
    assert Resolution.from_json(later.as_json()) == later
    moved = later.moving(_two()[1].moving)
    assert f"admin.fabrikam@{NEW}" in set(moved["target_upn"])


def test_a_merges_site_names_move_their_subsites_with_them() -> None:
    from tenantmove.workloads.sites import moved_path

    renamed = {"sites/intranet": "sites/intranet-fabrikam", "sites/sales": "sites/sales-fabrikam"}
    assert moved_path("/sites/intranet", renamed) == "/sites/intranet-fabrikam"
    assert moved_path("/sites/Sales/emea", renamed) == "/sites/sales-fabrikam/emea"  # a subsite follows its site
    assert moved_path("/sites/salesforce", renamed) == "/sites/salesforce"  # a prefix of a name is not the name
    assert moved_path("/", renamed) == "/" and moved_path("/sites/hr", {}) == "/sites/hr"


def test_a_merged_mailbox_lands_under_its_folder_and_is_checked_for_what_is_missing_only() -> None:
    from tenantmove.workloads import fidelity
    from tenantmove.workloads.mail import MailboxPair

    pair = MailboxPair("alex.wilber@fabrikam.example", "alex.wilber@contoso.example", "o", "n", under="Fabrikam",
                       paths={"f1": "Inbox", "f2": "Q1\\/Q2"}, target_ids={"inbox": "own", "fabrikam/inbox": "theirs"})
    assert pair.target_of("f1") == "theirs" and pair.new_path("Q1\\/Q2") == "Fabrikam/Q1\\/Q2"
    assert not pair.well_known("Inbox") and MailboxPair("a", "b", "o", "n").well_known("Inbox")

    class Reader:  # a mailbox as fidelity reads it: its items' signatures are all that matter here
        def __init__(self, subjects: list[str]) -> None:
            self.subjects = subjects

        def messages(self, user: str) -> list[dict[str, str]]:
            return [{"id": s, "subject": s} for s in self.subjects]

        def events(self, user: str) -> list[dict[str, str]]:
            return []

        contacts = todo_lists = events

    old, new = Reader(["a", "b"]), Reader(["a", "b", "contoso's own"])
    pairs = [("alex", "o", "n")]
    assert fidelity.compare(old, new, pairs).loc[0, "extra or duplicate"] == 1  # type: ignore[arg-type]
    shared = fidelity.compare(old, new, pairs, shared=frozenset({"alex"}))  # type: ignore[arg-type]
    assert (shared.loc[0, "extra or duplicate"], shared.loc[0, "identical"]) == (0, 2)
    assert fidelity.compare(Reader(["a", "c"]), new, pairs, shared=frozenset({"alex"})).loc[  # type: ignore[arg-type]
        0, "missing or changed"] == 1


def test_settings_take_one_migrations_values_and_policies_neither_replace_nor_stack_blindly() -> None:
    from dataclasses import replace

    from tenantmove.workloads.merge import Resolution

    contoso, fabrikam = _two()
    admins = {"id": "c1", "displayName": "Require MFA for administrators",
              "conditions": {"users": {"includeUsers": ["admin"]}}}
    everyone = {"id": "f2", "displayName": "Everyone: require MFA", "conditions": {"users": {"includeUsers": ["All"]}}}
    contoso = replace(contoso, settings={"pronouns": {"isEnabledInOrganization": True}, "sharepoint": {"a": 1}},
                      policies=(admins,))
    fabrikam = replace(fabrikam, settings={"pronouns": {"isEnabledInOrganization": False}, "sharepoint": {"a": 1}},
                       policies=({**admins, "id": "f1"}, everyone))
    into: dict[str, Resolution] = {}
    found = {(c.area, c.key): c for c in clashes([contoso, fabrikam], {"O365_BUSINESS_PREMIUM": 10}, {"users": "suffix"}, into,
                                                  {"pronouns": "fabrikam"})}
    assert found[("settings", "pronouns")].resolution.startswith("fabrikam's values (they differ in "
                                                                  "isEnabledInOrganization)")
    assert ("settings", "sharepoint") not in found  # the same in both: nothing to choose
    assert into["contoso"].settings_from == {"pronouns": "fabrikam"}
    assert into["fabrikam"].policies == {"f1": "Require MFA for administrators (fabrikam)"}
    assert "covers contoso's people too" in found[("conditional access", "Everyone: require MFA")].resolution
    assert not any(c.blocking for c in found.values())

"""User mapping: generated defaults and every bad-input case, each with file, line, column and fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tenantmove.workloads.inventory import Inventory
from tenantmove.workloads.mapping import MappingError, generate, guests, read, upn_problem, validate, write

DOMAIN, NEW = "contoso.example", "contosonew.onmicrosoft.com"


@pytest.fixture
def source() -> Inventory:
    users = pd.DataFrame([
        {"id": "1", "userPrincipalName": "admin@contoso.onmicrosoft.com", "displayName": "Admin", "usageLocation": "NL",
         "licences": "E3", "userType": "Member"},
        {"id": "2", "userPrincipalName": "megan@contoso.example", "displayName": "Megan", "usageLocation": "",
         "licences": "E3", "userType": "Member"},
        {"id": "3", "userPrincipalName": "x_fabrikam.example#EXT#@contoso.onmicrosoft.com", "displayName": "Guest",
         "usageLocation": "", "licences": "", "userType": "Guest", "mail": "x@fabrikam.example"},
        {"id": "4", "userPrincipalName": "alex@contoso.example", "displayName": "Alex", "usageLocation": "DE",
         "licences": "", "userType": "Member"},
    ])
    groups = pd.DataFrame([{"id": "g1", "displayName": "Sales", "mailNickname": "sales"}])
    members = pd.DataFrame([{"group_id": "g1", "group": "Sales", "member_id": "2", "member_type": "user",
                             "member": "megan@contoso.example"}])
    return Inventory({"id": "t1", "countryLetterCode": "NL",
                      "verifiedDomains": [{"name": "contoso.onmicrosoft.com", "isInitial": True}]},
                     pd.DataFrame(), users, groups, members, pd.DataFrame(), pd.DataFrame())


LICENCES = pd.DataFrame([{"skuPartNumber": "E3", "available": 2}])


def test_generated_defaults(source: Inventory, tmp_path: Path) -> None:
    df = generate(source, DOMAIN, NEW)
    assert list(df["source_upn"]) == ["admin@contoso.onmicrosoft.com", "megan@contoso.example",
                                      "x_fabrikam.example#EXT#@contoso.onmicrosoft.com", "alex@contoso.example"]
    assert list(df["target_upn"]) == ["admin@contosonew.onmicrosoft.com", "megan@contoso.example",
                                      "x@fabrikam.example", "alex@contoso.example"]
    assert list(df["action"]) == ["move", "move", "guest", "move"]  # a guest is invited again at their address
    assert df.loc[1, "usage_location"] == "NL"  # the organisation's country when the user has none
    assert df.loc[1, "groups"] == "sales"
    path = write(df, tmp_path / "users.csv")
    assert len(validate(read(path), str(path), source, DOMAIN, NEW, LICENCES)) == 3
    assert list(guests(read(path))["target_upn"]) == ["x@fabrikam.example"]


def test_a_guest_row_needs_their_own_address_and_no_licence(source: Inventory) -> None:
    found = problems_for(source, [row("x_fabrikam.example#EXT#@contoso.onmicrosoft.com", "x@contoso.example",
                                      action="guest", lic="E3")])
    assert any("target_upn" in p and "own domain" in p and "the guest's own e-mail address" in p for p in found)
    assert any("licences" in p and "takes no licences" in p for p in found)


def problems_for(source: Inventory, rows: list[dict], licences: pd.DataFrame = LICENCES) -> list[str]:
    with pytest.raises(MappingError) as info:
        validate(pd.DataFrame(rows), "users.csv", source, DOMAIN, NEW, licences)
    return [p.one_line() for p in info.value.problems]


def row(src: str, tgt: str, **kw: str) -> dict:
    return {"source_upn": src, "target_upn": tgt, "display_name": "", "usage_location": kw.get("loc", "NL"),
            "licences": kw.get("lic", ""), "groups": "", "action": kw.get("action", "move")}


def test_every_bad_row_is_named(source: Inventory) -> None:
    lines = problems_for(source, [
        row("megan@contoso.example", "megan@contoso.example"),
        row("megan@contoso.example", "megan2@contoso.example"),            # line 3: duplicate source
        row("nobody@contoso.example", "nobody@contoso.example"),           # line 4: unknown user
        row("alex@contoso.example", "alex wilber@contoso.example"),        # line 5: space
        row("admin@contoso.onmicrosoft.com", "admin@fabrikam.com"),        # line 6: foreign domain
    ])
    joined = "\n".join(lines)
    assert "users.csv:3: source_upn: megan@contoso.example is mapped twice (first on line 2)" in joined
    assert "users.csv:4: source_upn: nobody@contoso.example is not a user of the old tenant" in joined
    assert "users.csv:5: target_upn: 'alex wilber@contoso.example' has character(s) a UPN cannot contain: ' '" in joined
    assert "users.csv:6: target_upn: domain fabrikam.com is neither contoso.example nor contosonew" in joined
    assert all("HINT:" in line for line in lines)


def test_duplicate_target_and_usage_location(source: Inventory) -> None:
    lines = problems_for(source, [row("megan@contoso.example", "same@contoso.example"),
                                  row("alex@contoso.example", "same@contoso.example", lic="E3", loc="")])
    joined = "\n".join(lines)
    assert "users.csv:3: target_upn: same@contoso.example is the target of two users (also line 2)" in joined
    assert "users.csv:3: usage_location" in joined


def test_more_users_than_licences_and_unknown_sku(source: Inventory) -> None:
    lines = problems_for(source, [row("megan@contoso.example", "megan@contoso.example", lic="E3"),
                                  row("alex@contoso.example", "alex@contoso.example", lic="E3"),
                                  row("admin@contoso.onmicrosoft.com", "admin@contosonew.onmicrosoft.com",
                                      lic="E3 E5")], LICENCES)
    joined = "\n".join(lines)
    assert "users.csv: licences: 3 users need E3 but the new tenant has 2 free" in joined
    assert "users.csv:4: licences: the new tenant has no licence E5" in joined


def test_skipped_users_are_not_checked_or_moved(source: Inventory) -> None:
    moving = validate(pd.DataFrame([row("megan@contoso.example", "megan@contoso.example"),
                                    row("alex@contoso.example", "bad target", action="skip")]),
                      "users.csv", source, DOMAIN, NEW, LICENCES)
    assert list(moving["source_upn"]) == ["megan@contoso.example"]


def test_missing_columns_and_unreadable_file(tmp_path: Path, source: Inventory) -> None:
    assert "missing column(s)" in problems_for(source, [{"source_upn": "x"}])[0]
    with pytest.raises(MappingError, match="does not exist"):
        read(tmp_path / "absent.csv")


@pytest.mark.parametrize("upn,ok", [("a.b@contoso.example", True), ("o'neil@contoso.example", True),
                                    (".a@contoso.example", False), ("a..b@contoso.example", False),
                                    ("a@b@contoso.example", False), ("a@contoso", False), ("ä@contoso.example", False)])
def test_upn_rules(upn: str, ok: bool) -> None:
    assert (upn_problem(upn) == "") is ok


def test_a_merged_person_is_not_made_here_and_takes_no_licence(source: Inventory) -> None:
    df = pd.DataFrame([row("alex@contoso.example", "alex.wilber@fabrikam.example", action="merge"),
                       row("megan@contoso.example", "megan@contoso.example", lic="E3")])
    moving = validate(df, "users.csv", source, DOMAIN, NEW, LICENCES)  # another migration's domain is fine here
    assert list(moving["source_upn"]) == ["megan@contoso.example"]  # the other migration makes Alex
    found = problems_for(source, [row("alex@contoso.example", "alex.wilber@fabrikam.example", action="merge",
                                      lic="E3")])
    assert any("licences" in p and "leave licences empty for action merge" in p for p in found)

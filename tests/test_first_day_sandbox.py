"""The first day against the sandbox: the Temporary Access Pass policy and passes as Graph documents them, the
passes workload (into the vault only, the password as the fallback, a pass once the policy allows it), and the
letters (the person's language, no secret in them)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from cryptography.fernet import Fernet

from tenantmove.engine import Engine, Ledger
from tenantmove.sandbox import Sandbox
from tenantmove.services.graph import GraphError
from tenantmove.workloads import letters
from tenantmove.workloads.passes import FALLBACK, POLICY, SignInPasses
from tenantmove.workloads.passwords import PasswordVault, read_vault

from .conftest import make_client

MEGAN, ALEX = "megan.bowen@contosonew.onmicrosoft.com", "alex.wilber@contosonew.onmicrosoft.com"


def _people(new: object, *upns: str) -> pd.DataFrame:
    for upn in upns:
        new.post("users", {"accountEnabled": True, "displayName": upn.split("@")[0], "mailNickname":  # type: ignore[attr-defined]
                           upn.split("@")[0].replace(".", ""), "userPrincipalName": upn,
                           "passwordProfile": {"password": "Sandbox-Passw0rd!"}})
    return pd.DataFrame({"source_upn": list(upns), "target_upn": list(upns)})


def test_the_policy_decides_a_pass_is_shown_once_and_a_new_one_replaces_it(fresh_sandbox: Sandbox) -> None:
    _, new = make_client(fresh_sandbox, "target")
    _people(new, MEGAN)
    methods = f"users/{MEGAN}/authentication/temporaryAccessPassMethods"
    assert new.get(POLICY)["state"] == "disabled"  # a new tenant's default
    with pytest.raises(GraphError) as off:
        new.post(methods, {"lifetimeInMinutes": 60})
    assert off.value.status == 400 and "not enabled" in off.value.graph_message
    new.patch(POLICY, {"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
                       "state": "enabled"})
    with pytest.raises(GraphError) as long:
        new.post(methods, {"lifetimeInMinutes": 600})  # the policy's maximum is 480
    assert long.value.status == 400 and "between 60 and 480" in long.value.graph_message
    first = new.post(methods, {"lifetimeInMinutes": 60, "startDateTime": "2030-01-07T07:00:00Z", "isUsableOnce": True})
    assert len(first["temporaryAccessPass"]) == 8 and first["methodUsabilityReason"] == "NotYetValid"
    listed = new.get(methods)["value"]
    assert [m["id"] for m in listed] == [first["id"]] and listed[0]["temporaryAccessPass"] is None  # never again
    second = new.post(methods, {"lifetimeInMinutes": 60})
    assert second["isUsable"] and [m["id"] for m in new.get(methods)["value"]] == [second["id"]]  # replaced


def test_passes_go_to_the_vault_only_a_refused_one_falls_back_and_is_given_once_allowed(
        fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    _, new = make_client(fresh_sandbox, "target")
    moving = _people(new, MEGAN, ALEX)
    vault = PasswordVault(tmp_path / "passes" / "r1.csv", Fernet(Fernet.generate_key()))
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        engine = Engine(ledger, "40", folder=tmp_path / "40")
        refused = engine.run(SignInPasses(new, moving, vault, "2030-01-07T07:00:00Z", 480), dry_run=False)
        assert refused.counts() == {FALLBACK: 2} and not (tmp_path / "passes").exists()
        assert "the temporary password in the vault (phase 30) stands" in refused.rows[0]["note"]
        new.patch(POLICY, {"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
                           "state": "enabled"})
        given = engine.run(SignInPasses(new, moving, vault, "2030-01-07T07:00:00Z", 480), dry_run=False)
        assert given.counts() == {"issued": 2}  # the policy changed: each item's version with it
        held = read_vault(tmp_path / "passes", vault.fernet)
        assert set(held) == {MEGAN, ALEX} and all(len(v) == 8 for v in held.values())
        for secret in held.values():  # nowhere but the vault
            assert not any(secret in p.read_text(errors="replace") for p in (tmp_path / "40").rglob("*") if p.is_file())
        again = engine.run(SignInPasses(new, moving, vault, "2030-01-07T07:00:00Z", 480), dry_run=False)
        assert again.changed == 0


def test_letters_in_the_persons_language_with_a_bundle_per_department_and_no_secret(tmp_path: Path) -> None:
    people = [letters.Person("Megan Bowen", "megan.bowen@contoso.example", "megan.bowen@contoso.example", "nl-NL",
                             "Marketing", "pass", "2030-01-07T07:00:00Z", "2030-01-07T15:00:00Z",
                             [("MB-LAPTOP-01", "Entra-joined", "Windows", ("autopilot", "intune"))],
                             [("https://old/x", "https://new/x")]),
              letters.Person("Alex Wilber", "alex.wilber@contoso.example", "alex.wilber@contoso.example", None,
                             "Sales"),
              letters.Person("Pat Tester", "pat@contoso.example", "pat@contoso.example", "fr-FR", "Sales")]
    index = letters.write(people, letters.Context("Contoso", "2030-01-06T18:00:00Z", mail_safe=True), tmp_path)
    assert list(index["language"]) == ["nl", "en", "en"]
    assert list(index["language note"]) == ["", "no preferredLanguage: the default language",
                                            "no translation for fr-FR: the default language"]
    megan = (tmp_path / "megan.bowen@contoso.example.html").read_text()
    assert "Uw aanmeldnaam is <b>megan.bowen@contoso.example</b>" in megan and "eenmalige toegangscode" in megan
    assert "https://new/x" in megan and "gaat verloren" in megan
    assert "MB-LAPTOP-01 (gekoppeld aan de organisatie, Windows): IT verhuist de registratie" in megan  # in Dutch
    assert "app Bedrijfsportal" in megan
    alex = (tmp_path / "alex.wilber@contoso.example.html").read_text()
    assert "temporary password" in alex and "No devices are registered to you." in alex
    sales = (tmp_path / "department-sales.html").read_text()
    assert sales.count('class="letter"') == 2 and "Megan" not in sales
    unsafe = letters.write(people[1:2], letters.Context("Contoso", "x", mail_safe=False), tmp_path / "u")
    assert "return mail sent to you" in (tmp_path / "u" / unsafe.iloc[0]["file"]).read_text()


def test_the_announcement_is_sent_once_in_each_persons_language_and_a_sender_without_mailbox_is_refused(
        fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    from tenantmove.workloads.announcement import Announcement, SenderNotReady, check_sender

    _, old = make_client(fresh_sandbox, "source")
    sender = "admin@contoso.onmicrosoft.com"
    assert check_sender(old, sender) == sender
    old.post("users", {"accountEnabled": True, "displayName": "No Mailbox", "mailNickname": "nomailbox",
                       "userPrincipalName": "nomailbox@contoso.onmicrosoft.com",
                       "passwordProfile": {"password": "Sandbox-Passw0rd!"}})
    with pytest.raises(SenderNotReady) as nobox:
        check_sender(old, "nomailbox@contoso.onmicrosoft.com")
    assert "has no mailbox" in nobox.value.one_line() and "announce_from" in nobox.value.one_line()
    people = pd.DataFrame([
        {"source_upn": "megan.bowen@contoso.example", "target_upn": "megan.bowen@contoso.example",
         "display_name": "Megan Bowen", "address": "megan.bowen@contoso.example", "language": "nl-NL"},
        {"source_upn": "alex.wilber@contoso.example", "target_upn": "alex.wilber@contoso.example",
         "display_name": "Alex Wilber", "address": "alex.wilber@contoso.example", "language": None}])
    before = fresh_sandbox.stats()["counts"].get("sendMail messages", 0)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        engine = Engine(ledger, "10", folder=tmp_path / "10")
        first = engine.run(Announcement(old, sender, people, "Saturday 9 January 2027", "Contoso"), dry_run=False)
        assert first.counts() == {"sent": 2}
        assert engine.run(Announcement(old, sender, people, "Saturday 9 January 2027", "Contoso"),
                          dry_run=False).changed == 0  # once
    with Ledger(tmp_path / "other.sqlite") as lost:  # a run killed before it recorded them: found, not resent
        again = Engine(lost, "10").run(Announcement(old, sender, people, "Saturday 9 January 2027", "Contoso"),
                                       dry_run=False)
        assert again.counts() == {"adopted": 2}
    assert fresh_sandbox.stats()["counts"]["sendMail messages"] - before == 2
    inbox = {m["subject"] for m in old.get_all("users/megan.bowen@contoso.example/messages", {"$select": "subject"})}
    assert "Uw Microsoft 365-account verhuist op Saturday 9 January 2027" in inbox
    alex = {m["subject"] for m in old.get_all("users/alex.wilber@contoso.example/messages", {"$select": "subject"})}
    assert "Your Microsoft 365 account moves on Saturday 9 January 2027" in alex

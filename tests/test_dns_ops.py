"""tenantmove.services.dnsops against real DNS servers: the sandbox's, and BIND 9 where it is installed."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantmove.sandbox import Sandbox
from tenantmove.services.dnsops import (
    DnsError,
    ManualProvider,
    Nameservers,
    RecordPlan,
    Rfc2136Provider,
    TsigKey,
    from_graph,
    load_tsig,
    plan_changes,
    record,
    wait_until_applied,
)


def sandbox_ns(sb: Sandbox) -> Nameservers:
    return Nameservers([(sb.endpoints["dns"]["host"], sb.endpoints["dns"]["port"])])


def sandbox_provider(sb: Sandbox) -> Rfc2136Provider:
    return Rfc2136Provider(sb.endpoints["dns"]["host"], sb.endpoints["dns"]["port"], "contoso.example",
                           load_tsig(key_file=sb.endpoints["dns"]["tsig_file"]))


def test_graph_records_convert() -> None:
    srv = from_graph({"recordType": "Srv", "label": "contoso.example", "service": "_sip", "protocol": "_tls",
                      "priority": 100, "weight": 1, "port": 443, "nameTarget": "sipdir.online.lync.com", "ttl": 3600})
    assert srv == record("_sip._tls.contoso.example", "SRV", "100 1 443 sipdir.online.lync.com.")
    mx = from_graph({"recordType": "Mx", "label": "Contoso.Example", "preference": 0,
                     "mailExchange": "contoso-example.mail.protection.outlook.com", "ttl": 3600})
    assert mx.name == "contoso.example" and mx.rdata_text() == "0 contoso-example.mail.protection.outlook.com."
    assert record("x.example", "TXT", '"v=spf1 " "-all"').value == "v=spf1 -all"


def test_lookups_are_authoritative(sandbox: Sandbox) -> None:
    ns = sandbox_ns(sandbox)
    assert ns.values("contoso.example", "MX") == [{"0 contoso-example.mail.protection.outlook.com"}]
    assert ns.presence(record("autodiscover.contoso.example", "CNAME", "autodiscover.outlook.com")) == 1
    with pytest.raises(DnsError, match="REFUSED") as info:
        ns.values("example.org", "A")  # not this server's zone
    assert info.value.hint


def test_plan_apply_wait_and_nothing_twice(sandbox: Sandbox) -> None:
    ns, provider = sandbox_ns(sandbox), sandbox_provider(sandbox)
    new = record("_tm-test.contoso.example", "TXT", "MS=ms12345678", 300)
    old = record("www.contoso.example", "CNAME", "contoso.azurewebsites.net")
    plan = plan_changes(ns, present=[new], absent=[old])
    assert plan.add == [new] and plan.remove == [old]
    assert list(plan.frame()["action"]) == ["add", "remove"]
    provider.apply(plan)
    progress: list[tuple[int, int]] = []
    assert wait_until_applied(ns, plan, timeout=5, interval=0.1, progress=lambda d, t, e: progress.append((d, t))) == []
    assert progress[-1] == (2, 2)
    assert plan_changes(ns, present=[new], absent=[old]).empty  # applied: a rerun plans nothing
    provider.apply(RecordPlan(add=[old], remove=[new]))  # restore the sandbox
    assert ns.presence(old) == 1 and ns.presence(new) == 0


def test_manual_provider_waits_and_reports_what_is_missing(sandbox: Sandbox) -> None:
    ns = sandbox_ns(sandbox)
    plan = RecordPlan(add=[record("_never.contoso.example", "TXT", "x")])
    assert "waiting" in ManualProvider().apply(plan)[0]
    slept: list[float] = []
    left = wait_until_applied(ns, plan, timeout=0.3, interval=0.1, sleep=lambda s: (slept.append(s), time.sleep(s)))
    assert left == plan.add and slept


def test_wrong_tsig_key_is_a_clear_error(sandbox: Sandbox) -> None:
    bad = Rfc2136Provider(sandbox.endpoints["dns"]["host"], sandbox.endpoints["dns"]["port"], "contoso.example",
                          TsigKey("tenantmove-sandbox.", base64.b64encode(b"x" * 32).decode()))
    with pytest.raises(DnsError) as info:
        bad.apply(RecordPlan(add=[record("_x.contoso.example", "TXT", "x")]))
    assert info.value.where.startswith("dns") and "HINT" in str(info.value)


def test_tsig_keys_load_from_json_bind_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "k.json").write_text(json.dumps({"name": "k1.", "secret": "c2VjcmV0", "algorithm": "hmac-sha512"}))
    assert load_tsig(key_file=str(tmp_path / "k.json")) == TsigKey("k1.", "c2VjcmV0", "hmac-sha512")
    (tmp_path / "k.key").write_text('key "upd-key" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0Mg==";\n};\n')
    assert load_tsig(key_file=str(tmp_path / "k.key")) == TsigKey("upd-key", "c2VjcmV0Mg==", "hmac-sha256")
    monkeypatch.setenv("TM_TSIG", "c2VjcmV0Mw==")
    assert load_tsig(secret_env="TM_TSIG", name="env-key.").secret == "c2VjcmV0Mw=="
    with pytest.raises(DnsError, match="is not set"):
        load_tsig(secret_env="TM_TSIG_UNSET_X")
    from tenantmove.errors import ConfigFileError

    with pytest.raises(ConfigFileError):
        load_tsig(key_file=str(tmp_path / "absent.key"))


# --- BIND 9 -----------------------------------------------------------------------------------
NAMED = shutil.which("named") or ("/usr/sbin/named" if os.path.exists("/usr/sbin/named") else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def bind9(tmp_path: Path) -> Iterator[tuple[int, TsigKey]]:
    if not NAMED:
        pytest.skip("BIND 9 (named) is not installed; .ci/run installs Debian's bind9")
    port = _free_port()
    key = TsigKey("tenantmove-test", base64.b64encode(secrets.token_bytes(32)).decode())
    (tmp_path / "zone.db").write_text(
        "$TTL 300\n@ IN SOA ns1.fabrikam.test. hostmaster.fabrikam.test. 1 3600 600 86400 300\n"
        "@ IN NS ns1.fabrikam.test.\nns1 IN A 127.0.0.1\n@ IN MX 10 old-mx.fabrikam.test.\n")
    (tmp_path / "named.conf").write_text(f"""
key "{key.name}" {{ algorithm {key.algorithm}; secret "{key.secret}"; }};
options {{
    directory "{tmp_path}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    pid-file none;
    session-keyfile none;
    recursion no;
    dnssec-validation no;
}};
controls {{ }};
zone "fabrikam.test" {{ type primary; file "zone.db"; allow-update {{ key "{key.name}"; }}; }};
""")
    proc = subprocess.Popen([NAMED, "-g", "-c", str(tmp_path / "named.conf")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    ns = Nameservers([("127.0.0.1", port)], timeout=1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if ns.values("fabrikam.test", "MX"):
                break
        except DnsError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError("named did not start: " + (proc.stdout.read() if proc.stdout else ""))
    yield port, key
    proc.terminate()
    proc.wait(timeout=10)
    if proc.stdout:
        proc.stdout.close()


def test_rfc2136_against_bind9(bind9: tuple[int, TsigKey]) -> None:
    port, key = bind9
    ns = Nameservers([("127.0.0.1", port)])
    provider = Rfc2136Provider("127.0.0.1", port, "fabrikam.test", key)
    want = [record("fabrikam.test", "MX", "0 fabrikam-test.mail.protection.outlook.com"),
            record("autodiscover.fabrikam.test", "CNAME", "autodiscover.outlook.com"),
            record("fabrikam.test", "TXT", "v=spf1 include:spf.protection.outlook.com -all"),
            record("_sip._tls.fabrikam.test", "SRV", "100 1 443 sipdir.online.lync.com")]
    gone = [record("fabrikam.test", "MX", "10 old-mx.fabrikam.test")]
    plan = plan_changes(ns, want, gone)
    assert len(plan.add) == 4 and len(plan.remove) == 1
    provider.apply(plan)
    assert wait_until_applied(ns, plan, timeout=10, interval=0.2) == []
    assert plan_changes(ns, want, gone).empty
    wrong = Rfc2136Provider("127.0.0.1", port, "fabrikam.test", TsigKey(key.name, base64.b64encode(b"y" * 32).decode()))
    with pytest.raises(DnsError):
        wrong.apply(RecordPlan(remove=want))
    assert ns.presence(want[0]) == 1  # the forged update changed nothing
    assert ns.ttl("fabrikam.test", "MX") == 3600  # a real server's TTL, lowered and raised again by one update each
    provider.set_ttl([want[0]], 300)
    assert ns.ttl("fabrikam.test", "MX") == 300 and ns.presence(want[0]) == 1
    provider.set_ttl([want[0]], 3600)
    assert ns.ttl("fabrikam.test", "MX") == 3600


# --- dns-lexicon -----------------------------------------------------------------------------
def test_lexicon_provider_through_a_real_lexicon_provider(tmp_path: Path) -> None:
    """dns-lexicon's own client and its localzone provider (a zone file): removes by content, adds."""
    from tenantmove.services.dnsops import LexiconProvider

    zone = tmp_path / "db.tenantmove-test.com"
    zone.write_text("$ORIGIN tenantmove-test.com.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n"
                    "@ IN NS ns1\nns1 IN A 127.0.0.1\n@ IN MX 10 old-mx\nwww IN CNAME site.azurewebsites.net.\n")
    provider = LexiconProvider("localzone", "tenantmove-test.com", {"filename": str(zone)}, ttl=300)
    plan = RecordPlan(add=[record("tenantmove-test.com", "TXT", "MS=ms42424242"),
                           record("autodiscover.tenantmove-test.com", "CNAME", "autodiscover.outlook.com")],
                      remove=[record("tenantmove-test.com", "MX", "10 old-mx.tenantmove-test.com"),
                              record("www.tenantmove-test.com", "CNAME", "site.azurewebsites.net")])
    note = provider.apply(plan)[0]
    assert "removed 2, added 2" in note
    text = zone.read_text()
    assert "MS=ms42424242" in text and "autodiscover.outlook.com" in text
    assert "old-mx" not in text and "azurewebsites" not in text


def test_lexicon_sets_a_records_ttl_in_place(tmp_path: Path) -> None:
    from tenantmove.services.dnsops import LexiconProvider

    zone = tmp_path / "db.tenantmove-test.com"
    zone.write_text("$ORIGIN tenantmove-test.com.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n"
                    "@ IN NS ns1\nns1 IN A 127.0.0.1\n@ 3600 IN MX 10 mx.example.net.\n")
    provider = LexiconProvider("localzone", "tenantmove-test.com", {"filename": str(zone)})
    done = provider.set_ttl([record("tenantmove-test.com", "MX", "10 mx.example.net")], 300)
    assert done == ["localzone (dns-lexicon): MX tenantmove-test.com now has a TTL of 300 seconds"]
    mx = next(line for line in zone.read_text().splitlines() if " MX " in line)
    assert "300" in mx.split() and "mx.example.net." in mx
    with pytest.raises(DnsError) as missing:
        provider.set_ttl([record("tenantmove-test.com", "MX", "10 other.example.net")], 300)
    assert "is not at localzone" in str(missing.value)


def test_lexicon_failure_is_a_clear_error(tmp_path: Path) -> None:
    from tenantmove.services.dnsops import LexiconProvider

    provider = LexiconProvider("localzone", "tenantmove-test.com", {"filename": str(tmp_path / "missing.zone")})
    with pytest.raises(DnsError) as info:
        provider.apply(RecordPlan(add=[record("tenantmove-test.com", "TXT", "x")]))
    assert "LEXICON_LOCALZONE_" in info.value.hint


def test_the_sandbox_serves_ttls_and_a_signed_update_changes_them(fresh_sandbox: Sandbox) -> None:
    ns, provider = sandbox_ns(fresh_sandbox), sandbox_provider(fresh_sandbox)
    mx = next(iter(ns.values("contoso.example", "MX")[0]))
    assert ns.ttl("contoso.example", "MX") == 3600 and ns.ttl("nothing.contoso.example", "MX") is None
    provider.set_ttl([record("contoso.example", "MX", mx)], 300)
    assert ns.ttl("contoso.example", "MX") == 300 and ns.values("contoso.example", "MX") == [{mx}]
    assert "set the TTL of MX contoso.example" in ManualProvider().set_ttl([record("contoso.example", "MX", mx)],
                                                                          300)[0]


def test_one_query_per_name_and_type_per_pass(sandbox: Sandbox) -> None:
    ns = sandbox_ns(sandbox)
    apex_txt = [record("contoso.example", "TXT", "v=spf1 include:spf.protection.outlook.com include:_spf.mailhost.example -all"),
                record("contoso.example", "TXT", "MS=ms00000000"),
                record("contoso.example", "TXT", "another")]
    before = ns.queries
    plan = plan_changes(ns, present=apex_txt, absent=[record("contoso.example", "MX", "5 x.example")])
    assert ns.queries - before == 2  # TXT and MX at the apex, once each, not once per record
    assert [r.value for r in plan.add] == ["MS=ms00000000", "another"] and plan.remove == []

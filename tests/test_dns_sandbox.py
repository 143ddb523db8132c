"""The sandbox's authoritative DNS server over real UDP and TCP, and RFC 2136 updates with TSIG."""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest

from tenantmove.sandbox import Sandbox


def ask(sb: Sandbox, name: str, rdtype: str, tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype)
    server, port = sb.endpoints["dns"]["host"], sb.endpoints["dns"]["port"]
    return (dns.query.tcp if tcp else dns.query.udp)(q, server, port=port, timeout=5)


def answers(resp: dns.message.Message) -> set[str]:
    return {rd.to_text() for rrset in resp.answer for rd in rrset}


@pytest.mark.parametrize("tcp", [False, True])
def test_serves_what_the_old_tenant_implies(sandbox: Sandbox, tcp: bool) -> None:
    mx = ask(sandbox, "contoso.example", "MX", tcp)
    assert mx.flags & dns.flags.AA
    assert answers(mx) == {"0 contoso-example.mail.protection.outlook.com."}
    assert answers(ask(sandbox, "autodiscover.contoso.example", "CNAME", tcp)) == {"autodiscover.outlook.com."}
    txt = answers(ask(sandbox, "contoso.example", "TXT", tcp))
    assert '"v=spf1 include:spf.protection.outlook.com include:_spf.mailhost.example -all"' in txt
    assert answers(ask(sandbox, "_dmarc.contoso.example", "TXT", tcp)) == {
        '"v=DMARC1; p=quarantine; rua=mailto:dmarc@contoso.example"'}
    assert answers(ask(sandbox, "selector1._domainkey.contoso.example", "CNAME", tcp)) == {
        "selector1-contoso-example._domainkey.contoso.onmicrosoft.com."}
    assert answers(ask(sandbox, "contoso.example", "CAA", tcp)) == {'0 issue "letsencrypt.org"'}
    assert answers(ask(sandbox, "_sip._tls.contoso.example", "SRV", tcp)) == {"100 1 443 sipdir.online.lync.com."}
    assert answers(ask(sandbox, "_sipfederationtls._tcp.contoso.example", "SRV", tcp)) == {
        "100 1 5061 sipfed.online.lync.com."}
    assert answers(ask(sandbox, "lyncdiscover.contoso.example", "CNAME", tcp)) == {"webdir.online.lync.com."}
    assert answers(ask(sandbox, "www.contoso.example", "CNAME", tcp)) == {"contoso.azurewebsites.net."}


def test_nxdomain_and_refused(sandbox: Sandbox) -> None:
    assert ask(sandbox, "nothing-here.contoso.example", "A").rcode() == dns.rcode.NXDOMAIN
    assert ask(sandbox, "example.org", "A").rcode() == dns.rcode.REFUSED


def _key(sb: Sandbox) -> tuple[dict, str, str]:
    data = json.loads(Path(sb.endpoints["dns"]["tsig_file"]).read_text())
    assert oct(Path(sb.endpoints["dns"]["tsig_file"]).stat().st_mode & 0o777) == "0o600"
    return dns.tsigkeyring.from_text({data["name"]: data["secret"]}), data["name"], data["algorithm"]


def _send(sb: Sandbox, update: dns.update.UpdateMessage) -> dns.message.Message:
    return dns.query.tcp(update, sb.endpoints["dns"]["host"], port=sb.endpoints["dns"]["port"], timeout=5)


def test_signed_update_adds_and_removes_a_record(sandbox: Sandbox) -> None:
    keyring, name, alg = _key(sandbox)
    add = dns.update.UpdateMessage("contoso.example", keyring=keyring, keyname=name, keyalgorithm=alg)
    add.add("_test-verify", 300, "TXT", '"MS=ms00000001"')
    assert _send(sandbox, add).rcode() == dns.rcode.NOERROR
    assert answers(ask(sandbox, "_test-verify.contoso.example", "TXT")) == {'"MS=ms00000001"'}
    remove = dns.update.UpdateMessage("contoso.example", keyring=keyring, keyname=name, keyalgorithm=alg)
    remove.delete("_test-verify", "TXT")
    assert _send(sandbox, remove).rcode() == dns.rcode.NOERROR
    assert ask(sandbox, "_test-verify.contoso.example", "TXT").rcode() == dns.rcode.NXDOMAIN


def test_prerequisites_are_checked(sandbox: Sandbox) -> None:
    keyring, name, alg = _key(sandbox)
    upd = dns.update.UpdateMessage("contoso.example", keyring=keyring, keyname=name, keyalgorithm=alg)
    upd.present("does-not-exist")
    upd.add("never", 300, "TXT", '"x"')
    assert _send(sandbox, upd).rcode() == dns.rcode.NXDOMAIN
    assert ask(sandbox, "never.contoso.example", "TXT").rcode() == dns.rcode.NXDOMAIN


def test_unsigned_or_wrongly_signed_updates_change_nothing(sandbox: Sandbox) -> None:
    unsigned = dns.update.UpdateMessage("contoso.example")
    unsigned.replace("contoso.example.", 300, "MX", "10 attacker.invalid.")
    assert _send(sandbox, unsigned).rcode() == dns.rcode.REFUSED
    wrong = dns.tsigkeyring.from_text({"tenantmove-sandbox.": "d3JvbmcgYnV0IGxvbmcgZW5vdWdoIGtleSBtYXRlcmlhbA=="})
    forged = dns.update.UpdateMessage("contoso.example", keyring=wrong, keyname="tenantmove-sandbox.",
                                      keyalgorithm=dns.tsig.HMAC_SHA256)
    forged.replace("contoso.example.", 300, "MX", "10 attacker.invalid.")
    sock = socket.create_connection((sandbox.endpoints["dns"]["host"], sandbox.endpoints["dns"]["port"]), timeout=5)
    with sock:
        wire = forged.to_wire()
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        size = struct.unpack("!H", sock.recv(2))[0]
        reply = dns.message.from_wire(sock.recv(size), keyring=False)
    assert reply.rcode() == dns.rcode.NOTAUTH
    assert answers(ask(sandbox, "contoso.example", "MX")) == {"0 contoso-example.mail.protection.outlook.com."}

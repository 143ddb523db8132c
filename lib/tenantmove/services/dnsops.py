"""DNS for the domain cutover: ask the domain's authoritative name servers directly (never a caching
resolver), plan what to add and remove against what they serve, apply the plan through a provider,
and wait until every authoritative server shows the change.

Providers: ``manual`` (the admin changes DNS at the host; we show the table and wait), ``rfc2136``
(TSIG-signed dynamic updates: BIND, PowerDNS, Knot, Windows DNS; also the sandbox's server), and
``lexicon`` (the cloud DNS hosts dns-lexicon supports: Cloudflare, Route 53, Azure DNS, Gandi, OVH, ...).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.tsig
import dns.tsigkeyring
import dns.update
import pandas as pd

from ..errors import ConfigFileError, TenantmoveError


class DnsError(TenantmoveError):
    """A lookup or an update failed."""


@dataclass(frozen=True)
class Record:
    name: str   # absolute, lower case, without the trailing dot
    type: str   # MX, CNAME, TXT, SRV, A, AAAA
    value: str  # presentation form: names without trailing dot, TXT without quotes
    ttl: int = 3600

    def key(self) -> tuple[str, str, str]:
        return (self.name, self.type, self.value)

    def rdata_text(self) -> str:
        """The value as a zone file writes it (absolute names, quoted TXT)."""
        if self.type == "TXT":
            return '"' + self.value.replace('"', '\\"') + '"'
        if self.type in ("CNAME", "NS"):
            return self.value + "."
        if self.type in ("MX", "SRV"):
            *numbers, target = self.value.split()
            return " ".join([*numbers, target + "."])
        return self.value


def normalize(rtype: str, value: str) -> str:
    rtype = rtype.upper()
    if rtype == "TXT":
        parts = [p for p in value.split('"') if p.strip()] if '"' in value else [value]
        return "".join(parts)
    return " ".join(p.rstrip(".").lower() for p in value.split())


def record(name: str, rtype: str, value: str, ttl: int = 3600) -> Record:
    return Record(name.rstrip(".").lower(), rtype.upper(), normalize(rtype, value), ttl)


def from_graph(rec: dict[str, Any]) -> Record:
    """A Graph ``domainDnsRecord`` (verification or service configuration) as a :class:`Record`."""
    kind, label, ttl = rec["recordType"].upper(), rec["label"], int(rec.get("ttl") or 3600)
    if kind == "MX":
        return record(label, "MX", f"{rec['preference']} {rec['mailExchange']}", ttl)
    if kind == "CNAME":
        return record(label, "CNAME", rec["canonicalName"], ttl)
    if kind == "TXT":
        return record(label, "TXT", rec["text"], ttl)
    if kind == "SRV":
        return record(f"{rec['service']}.{rec['protocol']}.{label}", "SRV",
                      f"{rec['priority']} {rec['weight']} {rec['port']} {rec['nameTarget']}", ttl)
    raise DnsError(f"record type {kind} of {label} is not supported", hint="publish it by hand")


def frame(records: list[Record], **extra: list[Any]) -> pd.DataFrame:
    df = pd.DataFrame([r.__dict__ for r in records], columns=["name", "type", "value", "ttl"])
    for key, values in extra.items():
        df[key] = values
    return df


# --- lookups ---------------------------------------------------------------------------------------
class Nameservers:
    """The authoritative servers of a zone, asked directly; every answer must be authoritative."""

    def __init__(self, servers: list[tuple[str, int]], timeout: float = 3.0) -> None:
        if not servers:
            raise DnsError("no authoritative name server to ask", hint="set dns.servers, e.g. 192.0.2.53:53")
        self.servers = servers
        self.timeout = timeout
        self.queries = 0

    @classmethod
    def for_zone(cls, zone: str, timeout: float = 3.0) -> Nameservers:
        """Find the zone's NS records and their addresses with the system resolver (only for that)."""
        try:
            ns_names = [r.target.to_text() for r in dns.resolver.resolve(zone, "NS", lifetime=timeout * 3)]
            servers = [(a.to_text(), 53) for ns in ns_names for a in dns.resolver.resolve(ns, "A", lifetime=timeout * 3)]
        except dns.exception.DNSException as exc:
            raise DnsError(f"cannot find the name servers of {zone}: {exc}", where="dns.servers",
                           hint="name them explicitly in dns.servers (host:port, comma-separated)") from exc
        return cls(servers, timeout)

    @classmethod
    def parse(cls, text: str, timeout: float = 3.0) -> Nameservers:
        servers = []
        for item in [t.strip() for t in text.split(",") if t.strip()]:
            host, _, port = item.rpartition(":") if item.count(":") == 1 else (item, "", "53")
            servers.append((host or item, int(port or 53)))
        return cls(servers, timeout)

    def _ask(self, server: tuple[str, int], name: str, rtype: str) -> set[str] | None:
        return self._answer(server, name, rtype)[0]

    def _answer(self, server: tuple[str, int], name: str, rtype: str) -> tuple[set[str] | None, int | None]:
        """What ``server`` serves for ``name``/``rtype``, and the TTL it serves it with (None when absent)."""
        query = dns.message.make_query(name, rtype)
        query.flags &= ~dns.flags.RD
        self.queries += 1
        try:
            resp, _ = dns.query.udp_with_fallback(query, server[0], port=server[1], timeout=self.timeout)
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsError(f"name server {server[0]}:{server[1]} did not answer for {name} {rtype}: {exc}",
                           where="dns.servers", hint="check the server address and that it is reachable") from exc
        if resp.rcode() == dns.rcode.NXDOMAIN:
            return set(), None
        if resp.rcode() != dns.rcode.NOERROR:
            raise DnsError(f"{server[0]}:{server[1]} answered {dns.rcode.to_text(resp.rcode())} for {name} {rtype}",
                           where="dns.servers", hint="is this server authoritative for the domain?")
        if not resp.flags & dns.flags.AA:
            raise DnsError(f"{server[0]}:{server[1]} is not authoritative for {name}", where="dns.servers",
                           hint="name the domain's own name servers, not a caching resolver")
        want = dns.rdatatype.from_text(rtype)
        found = [rrset for rrset in resp.answer if rrset.rdtype == want]
        return {normalize(rtype, rd.to_text()) for rrset in found for rd in rrset}, \
            max((rrset.ttl for rrset in found), default=None)

    def values(self, name: str, rtype: str) -> list[set[str]]:
        """What each server serves for ``name``/``rtype``."""
        return [self._ask(s, name, rtype) or set() for s in self.servers]

    def ttl(self, name: str, rtype: str) -> int | None:
        """The longest TTL any authoritative server gives ``name``/``rtype`` (what a resolver may cache longest);
        None when no server serves it."""
        seen = [t for t in (self._answer(s, name, rtype)[1] for s in self.servers) if t is not None]
        return max(seen) if seen else None

    def presence(self, rec: Record) -> int:
        """On how many of the servers ``rec`` is published."""
        return sum(1 for vals in self.values(rec.name, rec.type) if rec.value in vals)


# --- plans and waiting -----------------------------------------------------------------------------
@dataclass
class RecordPlan:
    add: list[Record] = field(default_factory=list)
    remove: list[Record] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.add and not self.remove

    def frame(self) -> pd.DataFrame:
        rows = [dict(action="add", **r.__dict__) for r in self.add] + \
               [dict(action="remove", **r.__dict__) for r in self.remove]
        return pd.DataFrame(rows, columns=["action", "name", "type", "value", "ttl"])


def _unapplied(ns: Nameservers, present: list[Record], absent: list[Record]) -> RecordPlan:
    """Records to add that some server lacks and records to remove that some server still serves,
    asking each server once per (name, type), however many records share it."""
    seen: dict[tuple[str, str], list[set[str]]] = {}

    def on(rec: Record) -> int:
        key = (rec.name, rec.type)
        if key not in seen:
            seen[key] = ns.values(rec.name, rec.type)
        return sum(1 for vals in seen[key] if rec.value in vals)

    total = len(ns.servers)
    return RecordPlan(add=[r for r in present if on(r) < total], remove=[r for r in absent if on(r) > 0])


def plan_changes(ns: Nameservers, present: list[Record], absent: list[Record]) -> RecordPlan:
    """Only what DNS does not show yet."""
    return _unapplied(ns, present, absent)


def pending(ns: Nameservers, plan: RecordPlan) -> list[Record]:
    """What of ``plan`` the servers do not show yet."""
    left = _unapplied(ns, plan.add, plan.remove)
    return left.add + left.remove


def wait_until_applied(ns: Nameservers, plan: RecordPlan, timeout: float, interval: float = 5.0,
                       progress: Callable[[int, int, float], None] | None = None,
                       sleep: Callable[[float], None] = time.sleep) -> list[Record]:
    """Poll the authoritative servers until they show the plan; return what is still pending at the timeout."""
    started = time.monotonic()
    total = len(plan.add) + len(plan.remove)
    while True:
        left = pending(ns, plan)
        elapsed = time.monotonic() - started
        if progress:
            progress(total - len(left), total, elapsed)
        if not left or elapsed >= timeout:
            return left
        sleep(min(interval, max(0.0, timeout - elapsed)))


# --- providers -------------------------------------------------------------------------------------
class Provider(Protocol):
    name: str

    def apply(self, plan: RecordPlan) -> list[str]: ...

    def set_ttl(self, records: list[Record], ttl: int) -> list[str]: ...


class ManualProvider:
    """The admin makes the change at the DNS host; the notebook shows the plan and waits for it."""

    name = "manual"

    def apply(self, plan: RecordPlan) -> list[str]:
        return [f"{len(plan.add)} record(s) to add and {len(plan.remove)} to remove at your DNS host, "
                "as listed in the plan; waiting until the authoritative servers show them"]

    def set_ttl(self, records: list[Record], ttl: int) -> list[str]:
        """Nothing changes here: the exact change for the admin to make at the DNS host."""
        return [f"at your DNS host, set the TTL of {r.type} {r.name} ({r.value}) to {ttl} seconds" for r in records]


@dataclass
class TsigKey:
    name: str
    secret: str
    algorithm: str = "hmac-sha256"

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        key = dns.tsig.Key(self.name, self.secret, self.algorithm)
        return {key.name: key}


def load_tsig(key_file: str = "", secret_env: str = "", name: str = "", algorithm: str = "hmac-sha256") -> TsigKey:
    """A TSIG key from a JSON file ({name, algorithm, secret}), a BIND key file, or an env variable."""
    if key_file:
        try:
            text = Path(key_file).read_text()
        except OSError as exc:
            raise ConfigFileError(f"cannot read the TSIG key file {key_file}: {exc.strerror}", where="dns.tsig_file",
                                  hint="give the path of the key (JSON or BIND format), readable by you") from exc
        if text.lstrip().startswith("{"):
            try:
                data = json.loads(text)
                return TsigKey(str(data["name"]), str(data["secret"]), str(data.get("algorithm", algorithm)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigFileError(f"{key_file} is not a TSIG key in JSON ({type(exc).__name__}: {exc})",
                                      where="dns.tsig_file",
                                      hint='write {"name": "key-name.", "algorithm": "hmac-sha256", "secret": "base64"}, '
                                           "or a BIND key statement") from exc
        import re

        match = re.search(r'key\s+"?([^"\s{]+)"?\s*\{(.*?)\};', text, re.S)
        if not match:
            raise ConfigFileError(f"{key_file} is neither JSON nor a BIND key statement", where="dns.tsig_file",
                                  hint='write: key "name" { algorithm hmac-sha256; secret "base64"; };')
        body = match.group(2)
        alg = re.search(r"algorithm\s+([\w-]+)\s*;", body)
        secret = re.search(r'secret\s+"([^"]+)"\s*;', body)
        if not secret:
            raise ConfigFileError(f"{key_file} has no secret", where="dns.tsig_file", hint="add secret \"...\";")
        return TsigKey(match.group(1), secret.group(1), alg.group(1) if alg else algorithm)
    if secret_env:
        value = os.environ.get(secret_env)
        if not value:
            raise DnsError(f"environment variable {secret_env} is not set", where="dns.tsig_secret_env",
                           hint=f"export {secret_env}=<base64 TSIG secret>")
        from ..redact import register_secret

        register_secret(value)
        return TsigKey(name or "tenantmove.", value, algorithm)
    raise DnsError("no TSIG key given", where="dns", hint="set dns.tsig_file or dns.tsig_secret_env")


class Rfc2136Provider:
    """Dynamic updates (RFC 2136) signed with TSIG, sent over TCP to the primary server."""

    name = "rfc2136"

    def __init__(self, server: str, port: int, zone: str, key: TsigKey, timeout: float = 10.0) -> None:
        self.server, self.port, self.zone, self.key, self.timeout = server, port, zone.rstrip("."), key, timeout
        from ..redact import register_secret

        register_secret(key.secret)

    def check(self) -> str:
        """Before anything changes: an update that only asserts the zone's SOA exists and changes nothing,
        signed with the key. A wrong key, an unreachable server or a refusal is found here."""
        update = dns.update.UpdateMessage(self.zone, keyring=self.key.keyring(), keyname=self.key.name,
                                          keyalgorithm=self.key.algorithm)
        update.present("@", "SOA")
        return self._send(update, "a check that changes nothing")

    def _send(self, update: dns.update.UpdateMessage, what: str) -> str:
        try:
            resp = dns.query.tcp(update, self.server, port=self.port, timeout=self.timeout)
        except dns.exception.FormError as exc:
            if "requires a TSIG" not in str(exc):
                raise DnsError(f"{self.server}:{self.port} sent a malformed answer to {what}: {exc}",
                               where="dns.server", hint="check that dns.server is the zone's primary DNS server") from exc
            raise DnsError(f"{self.server}:{self.port} answered without signing: it does not accept the TSIG key "
                           f"{self.key.name} for zone {self.zone}", where="dns.tsig_file / dns.tsig_secret_env",
                           hint="use the key the server has for this zone (name, algorithm and secret)") from exc
        except dns.tsig.PeerError as exc:
            raise DnsError(f"{self.server}:{self.port} refused the TSIG key {self.key.name} ({exc})",
                           where="dns.tsig_file / dns.tsig_secret_env",
                           hint="the key's name, algorithm or secret differs from the server's: fix the key") from exc
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsError(f"cannot reach the DNS server {self.server}:{self.port} for {what}: {exc}",
                           where="dns.server",
                           hint="check the primary server's address and that it allows updates from here") from exc
        code = dns.rcode.to_text(resp.rcode())
        if code == "NOTAUTH":
            raise DnsError(f"{self.server}:{self.port} answered NOTAUTH: it does not accept the TSIG key "
                           f"{self.key.name} for zone {self.zone}", where="dns.tsig_file / dns.tsig_secret_env",
                           hint="use the key the server has for this zone (name, algorithm and secret)")
        if code != "NOERROR":
            raise DnsError(f"{self.server}:{self.port} answered {code} to {what} in zone {self.zone}",
                           where="dns", hint="REFUSED: the server does not allow this key to update the zone; "
                                             "NOTZONE: check dns.zone")
        return code

    def apply(self, plan: RecordPlan) -> list[str]:
        if plan.empty:
            return ["nothing to change"]
        update = dns.update.UpdateMessage(self.zone, keyring=self.key.keyring(), keyname=self.key.name,
                                          keyalgorithm=self.key.algorithm)
        origin = dns.name.from_text(self.zone)
        for rec in plan.remove:
            update.delete(dns.name.from_text(rec.name).relativize(origin), rec.type, rec.rdata_text())
        for rec in plan.add:
            update.add(dns.name.from_text(rec.name).relativize(origin), rec.ttl, rec.type, rec.rdata_text())
        self._send(update, "the update")
        return [f"{self.server}:{self.port}: removed {len(plan.remove)}, added {len(plan.add)} record(s) in {self.zone}"]

    def set_ttl(self, records: list[Record], ttl: int) -> list[str]:
        """Each record set of ``records`` served again with ``ttl`` (one signed update: the set replaced by the
        same values; a value of the set not in ``records`` would be dropped, so give whole sets)."""
        if not records:
            return ["nothing to change"]
        update = dns.update.UpdateMessage(self.zone, keyring=self.key.keyring(), keyname=self.key.name,
                                          keyalgorithm=self.key.algorithm)
        origin = dns.name.from_text(self.zone)
        sets: dict[tuple[str, str], list[Record]] = {}
        for rec in records:
            sets.setdefault((rec.name, rec.type), []).append(rec)
        for (name, rtype), members in sets.items():
            update.replace(dns.name.from_text(name).relativize(origin), ttl, rtype, *(r.rdata_text() for r in members))
        self._send(update, "the TTL change")
        return [f"{self.server}:{self.port}: {rtype} {name} now has a TTL of {ttl} seconds" for name, rtype in sets]


class LexiconProvider:
    """Any DNS host dns-lexicon supports, through one class. Non-secret options may come from the
    parameters; credentials come only from lexicon's environment variables
    (``LEXICON_<PROVIDER>_<OPTION>``, e.g. ``LEXICON_CLOUDFLARE_AUTH_TOKEN``)."""

    name = "lexicon"

    def __init__(self, provider: str, domain: str, options: dict[str, Any] | None = None, ttl: int = 3600) -> None:
        import logging

        # tldextract tries to download the public-suffix list first and logs a traceback when it cannot;
        # it then uses the copy it ships, which is all the zone guess needs
        logging.getLogger("tldextract").setLevel(logging.CRITICAL)
        self.provider, self.domain, self.options = provider, domain.rstrip(".").lower(), dict(options or {})
        self.config = self._config(ttl)

    def _config(self, ttl: int) -> Any:
        from lexicon.config import ConfigResolver

        return ConfigResolver().with_env().with_dict(
            {"provider_name": self.provider, "domain": self.domain, "ttl": ttl, self.provider: self.options})

    def _content(self, rec: Record) -> str:
        return rec.rdata_text().strip('"') if rec.type == "TXT" else rec.rdata_text()

    def _normalized(self, rtype: str, content: str) -> str:
        parts = content.split()
        if rtype in ("CNAME", "MX", "SRV", "NS") and parts and not parts[-1].endswith(".") \
                and not parts[-1].lower().endswith(self.domain):
            parts[-1] = f"{parts[-1]}.{self.domain}"  # a name relative to the zone
        return normalize(rtype, " ".join(parts))

    def apply(self, plan: RecordPlan) -> list[str]:
        from lexicon.client import Client

        removed = added = 0
        try:
            with Client(self.config) as ops:
                for rec in plan.remove:
                    for found in ops.list_records(rec.type, rec.name):
                        if self._normalized(rec.type, str(found.get("content", ""))) == rec.value:
                            ops.delete_record(found["id"])
                            removed += 1
                for rec in plan.add:
                    ops.create_record(rec.type, rec.name, self._content(rec))
                    added += 1
        except Exception as exc:  # noqa: BLE001 - lexicon raises plain exceptions per host; all become one error
            raise DnsError(f"dns-lexicon ({self.provider}) failed after {removed} removal(s) and {added} addition(s): "
                           f"{type(exc).__name__}: {exc}", where="dns.lexicon_provider",
                           hint=f"check the LEXICON_{self.provider.upper()}_* environment variables and the "
                                "provider's support for this record type; or use provider: manual") from exc
        return [f"{self.provider} (dns-lexicon): removed {removed}, added {added} record(s) in {self.domain}"]

    def set_ttl(self, records: list[Record], ttl: int) -> list[str]:
        """Each record updated in place with ``ttl`` (lexicon's update takes the TTL from its configuration)."""
        from lexicon.client import Client

        done: list[str] = []
        try:
            with Client(self._config(ttl)) as ops:
                for rec in records:
                    found = [f for f in ops.list_records(rec.type, rec.name)
                             if self._normalized(rec.type, str(f.get("content", ""))) == rec.value]
                    if not found:
                        raise DnsError(f"{rec.type} {rec.name} ({rec.value}) is not at {self.provider}",
                                       where="dns.lexicon_provider", hint="check the zone at the DNS host")
                    ops.update_record(found[0]["id"], rec.type, rec.name, self._content(rec))
                    done.append(f"{self.provider} (dns-lexicon): {rec.type} {rec.name} now has a TTL of {ttl} seconds")
        except DnsError:
            raise
        except Exception as exc:  # noqa: BLE001 - lexicon raises plain exceptions per host; all become one error
            raise DnsError(f"dns-lexicon ({self.provider}) could not set the TTL after {len(done)} record(s): "
                           f"{type(exc).__name__}: {exc}", where="dns.lexicon_provider",
                           hint="lower the TTL at the DNS host by hand (dns.provider: manual prints the change)") \
                from exc
        return done

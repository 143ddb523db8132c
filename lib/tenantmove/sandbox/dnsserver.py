"""An authoritative DNS server for the sandbox's domains, on loopback (UDP and TCP), that accepts
RFC 2136 dynamic updates signed with TSIG."""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import dns.update
import dns.zone

log = logging.getLogger("tenantmove.sandbox.dns")
IN = dns.rdataclass.IN


class ZoneStore:
    """The zones the server is authoritative for; thread-safe."""

    def __init__(self, keyring: dict[dns.name.Name, dns.tsig.Key]) -> None:
        self.lock = threading.RLock()
        self.zones: dict[dns.name.Name, dns.zone.Zone] = {}
        self.keyring = keyring
        self.queries = 0
        self.updates = 0

    def clear(self) -> None:
        with self.lock:
            self.zones.clear()

    def add_zone(self, origin: str, ns_ip: str = "127.0.0.1") -> None:
        name = dns.name.from_text(origin)
        with self.lock:
            if name in self.zones:
                return
            zone = dns.zone.Zone(name)
            with zone.writer() as txn:
                txn.add("@", 3600, dns.rdata.from_text(
                    IN, "SOA", f"ns1.{origin}. hostmaster.{origin}. 1 3600 600 86400 300"))
                txn.add("@", 3600, dns.rdata.from_text(IN, "NS", f"ns1.{origin}."))
                txn.add("ns1", 3600, dns.rdata.from_text(IN, "A", ns_ip))
            self.zones[name] = zone

    def _zone_for(self, qname: dns.name.Name) -> dns.zone.Zone | None:
        best = None
        for origin, zone in self.zones.items():
            if qname.is_subdomain(origin) and (best is None or len(origin) > len(best.origin)):
                best = zone
        return best

    def set(self, name: str, rdtype: str, values: list[str], ttl: int = 3600) -> None:
        """Replace the records of ``name``/``rdtype`` (absolute name)."""
        qname = dns.name.from_text(name)
        with self.lock:
            zone = self._zone_for(qname)
            if zone is None:
                raise KeyError(f"no zone for {name}")
            with zone.writer() as txn:
                txn.delete(qname, dns.rdatatype.from_text(rdtype))
                for value in values:
                    txn.add(qname, ttl, dns.rdata.from_text(IN, rdtype, value))
                self._bump_serial(zone, txn)

    def values(self, name: str, rdtype: str) -> set[str]:
        """The values served for ``name``/``rdtype`` (absolute name), as a zone file writes them."""
        qname = dns.name.from_text(name)
        with self.lock:
            zone = self._zone_for(qname)
            node = zone.get_node(qname) if zone is not None else None
            rds = node.get_rdataset(IN, dns.rdatatype.from_text(rdtype)) if node is not None else None
            return {rd.to_text() for rd in rds} if rds is not None else set()

    def records(self) -> list[dict[str, Any]]:
        out = []
        with self.lock:
            for zone in self.zones.values():
                for name, node in zone.nodes.items():
                    for rds in node.rdatasets:
                        for rd in rds:
                            out.append({"name": str(name.derelativize(zone.origin)),
                                        "type": dns.rdatatype.to_text(rds.rdtype), "ttl": rds.ttl,
                                        "value": rd.to_text()})
        return out

    @staticmethod
    def _bump_serial(zone: dns.zone.Zone, txn: Any) -> None:
        soa_set = txn.get("@", dns.rdatatype.SOA)
        if soa_set:
            soa = soa_set[0]
            txn.replace("@", dns.rdataset.from_rdata(soa_set.ttl, soa.replace(serial=soa.serial + 1)))

    # --- answering -------------------------------------------------------------------------
    def handle(self, wire: bytes) -> dns.message.Message | None:
        try:
            msg = dns.message.from_wire(wire, keyring=self.keyring)
        except (dns.message.UnknownTSIGKey, dns.tsig.BadSignature, dns.tsig.BadTime, dns.tsig.PeerError) as exc:
            log.warning("refused a message with a bad TSIG: %s", exc)
            try:
                bare = dns.message.from_wire(wire, ignore_trailing=True, keyring=False)
            except dns.exception.DNSException:
                return None
            resp = dns.message.Message(bare.id)  # unsigned: the key is not to be trusted
            resp.flags = dns.flags.QR | (bare.flags & dns.flags.RD)
            resp.set_opcode(bare.opcode())
            resp.question = list(bare.question)
            resp.set_rcode(dns.rcode.NOTAUTH)
            return resp
        except dns.exception.DNSException:
            return None
        if msg.opcode() == dns.opcode.UPDATE:
            return self._update(msg)
        return self._query(msg)

    def _query(self, msg: dns.message.Message) -> dns.message.Message:
        resp = dns.message.make_response(msg)
        resp.flags |= dns.flags.AA
        with self.lock:
            self.queries += 1
            if not msg.question:
                resp.set_rcode(dns.rcode.FORMERR)
                return resp
            q = msg.question[0]
            zone = self._zone_for(q.name)
            if zone is None:
                resp.flags &= ~dns.flags.AA
                resp.set_rcode(dns.rcode.REFUSED)
                return resp
            qname, seen = q.name, 0
            while seen < 8:
                seen += 1
                node = zone.get_node(qname)
                if node is None:
                    if qname == q.name:
                        resp.set_rcode(dns.rcode.NXDOMAIN)
                    self._soa(resp, zone)
                    return resp
                rds = node.get_rdataset(IN, q.rdtype)
                if rds is not None:
                    resp.answer.append(dns.rrset.from_rdata_list(qname, rds.ttl, list(rds)))
                    return resp
                cname = node.get_rdataset(IN, dns.rdatatype.CNAME)
                if cname is not None and q.rdtype != dns.rdatatype.CNAME:
                    resp.answer.append(dns.rrset.from_rdata_list(qname, cname.ttl, list(cname)))
                    target = cname[0].target
                    if not target.is_subdomain(zone.origin):
                        return resp
                    qname = target
                    continue
                self._soa(resp, zone)
                return resp
        return resp

    @staticmethod
    def _soa(resp: dns.message.Message, zone: dns.zone.Zone) -> None:
        soa = zone.get_rdataset(zone.origin, dns.rdatatype.SOA)
        if soa is not None:
            resp.authority.append(dns.rrset.from_rdata_list(zone.origin, soa.ttl, list(soa)))

    def _update(self, msg: dns.message.Message) -> dns.message.Message:
        resp = dns.message.make_response(msg)
        if not msg.had_tsig:
            resp.set_rcode(dns.rcode.REFUSED)  # unsigned updates are never accepted
            return resp
        zone_name = msg.zone[0].name if msg.zone else None
        with self.lock:
            zone = self.zones.get(zone_name) if zone_name else None
            if zone is None:
                resp.set_rcode(dns.rcode.NOTAUTH)
                return resp
            rcode = self._check_prerequisites(zone, msg.prerequisite)
            if rcode != dns.rcode.NOERROR:
                resp.set_rcode(rcode)
                return resp
            for rrset in msg.update:
                if not rrset.name.is_subdomain(zone.origin):
                    resp.set_rcode(dns.rcode.NOTZONE)
                    return resp
            with zone.writer() as txn:
                for rrset in msg.update:
                    deleting = rrset.deleting
                    if deleting is None:
                        for rd in rrset:
                            txn.add(rrset.name, rrset.ttl, rd)
                    elif deleting == dns.rdataclass.ANY:
                        if rrset.rdtype == dns.rdatatype.ANY:
                            if rrset.name != zone.origin:
                                txn.delete(rrset.name)
                        elif txn.get(rrset.name, rrset.rdtype):
                            txn.delete(rrset.name, rrset.rdtype)
                    elif deleting == dns.rdataclass.NONE:
                        existing = txn.get(rrset.name, rrset.rdtype)
                        for rd in rrset:
                            if existing and rd in existing:
                                txn.delete(rrset.name, dns.rdataset.from_rdata(existing.ttl, rd))
                self._bump_serial(zone, txn)
            self.updates += 1
        return resp

    @staticmethod
    def _check_prerequisites(zone: dns.zone.Zone, prereqs: list[dns.rrset.RRset]) -> int:
        for rrset in prereqs:
            node = zone.get_node(rrset.name)
            if rrset.deleting == dns.rdataclass.ANY:  # name/rrset must exist
                if node is None or (rrset.rdtype != dns.rdatatype.ANY and
                                    node.get_rdataset(IN, rrset.rdtype) is None):
                    return dns.rcode.NXDOMAIN if rrset.rdtype == dns.rdatatype.ANY else dns.rcode.NXRRSET
            elif rrset.deleting == dns.rdataclass.NONE:  # name/rrset must not exist
                if rrset.rdtype == dns.rdatatype.ANY and node is not None:
                    return dns.rcode.YXDOMAIN
                if node is not None and node.get_rdataset(IN, rrset.rdtype) is not None:
                    return dns.rcode.YXRRSET
        return dns.rcode.NOERROR


class _UDPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        resp = self.server.store.handle(data)  # type: ignore[attr-defined]
        if resp is None:
            return
        try:
            wire = resp.to_wire(max_size=max(512, resp.payload if resp.edns >= 0 else 512))
        except dns.exception.TooBig:
            resp.answer, resp.authority, resp.additional = [], [], []
            resp.flags |= dns.flags.TC
            wire = resp.to_wire()
        sock.sendto(wire, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        while True:
            head = _recv_exact(sock, 2)
            if not head:
                return
            data = _recv_exact(sock, struct.unpack("!H", head)[0])
            if data is None:
                return
            resp = self.server.store.handle(data)  # type: ignore[attr-defined]
            if resp is None:
                return
            wire = resp.to_wire()
            sock.sendall(struct.pack("!H", len(wire)) + wire)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except (TimeoutError, OSError):
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = True


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class DnsServer:
    """UDP and TCP listeners on the same loopback port, sharing one :class:`ZoneStore`."""

    def __init__(self, store: ZoneStore, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = store
        self.tcp = _TCPServer((host, port), _TCPHandler)
        bound_port = self.tcp.server_address[1]
        self.udp = _UDPServer((host, bound_port), _UDPHandler)
        self.tcp.store = store  # type: ignore[attr-defined]
        self.udp.store = store  # type: ignore[attr-defined]
        self.host, self.port = host, bound_port

    def start(self) -> None:
        for srv in (self.tcp, self.udp):
            threading.Thread(target=srv.serve_forever, daemon=True, name=f"dns-{srv.socket_type}").start()

    def stop(self) -> None:
        for srv in (self.tcp, self.udp):
            srv.shutdown()
            srv.server_close()


def make_keyring(name: str, secret_b64: str, algorithm: str = "hmac-sha256") -> dict[dns.name.Name, dns.tsig.Key]:
    key = dns.tsig.Key(name, secret_b64, algorithm)
    return {key.name: key}


def seed_zones(store: ZoneStore, tenants: list[Any]) -> None:
    """Serve what each tenant's setup implies for its verified custom domains."""
    from .state import service_records, verification_code

    for tenant in tenants:
        for name, domain in tenant.domains.items():
            if domain["isInitial"] or not domain["isVerified"]:
                continue
            store.add_zone(name)
            # what a real domain has beside Microsoft 365's records, and the cutover must leave alone: an SPF record
            # with another sender, DMARC, an apex address for the website, CAA; and the DKIM selectors, which point
            # at this tenant's onmicrosoft name
            store.set(f"{name}.", "TXT", [f'"{verification_code(tenant.id, name)}"',
                                          '"v=spf1 include:spf.protection.outlook.com include:_spf.mailhost.example -all"'])
            store.set(f"_dmarc.{name}.", "TXT", [f'"v=DMARC1; p=quarantine; rua=mailto:dmarc@{name}"'])
            store.set(f"{name}.", "A", ["192.0.2.80"])
            store.set(f"{name}.", "CAA", ['0 issue "letsencrypt.org"'])
            initial = next(d for d, v in tenant.domains.items() if v["isInitial"])
            for selector in ("selector1", "selector2"):
                store.set(f"{selector}._domainkey.{name}.", "CNAME",
                          [f"{selector}-{name.replace('.', '-')}._domainkey.{initial}."])
            for rec in service_records(tenant.id, name, domain["supportedServices"]):
                if rec["recordType"].upper() != "TXT":  # the SPF above already has Microsoft's include
                    apply_record(store, rec, replace=False)
            if name in tenant.public_websites:
                store.set(f"{tenant.public_websites[name]}.{name}.", "CNAME", [f"{name.split('.')[0]}.azurewebsites.net."])


def apply_record(store: ZoneStore, rec: dict[str, Any], replace: bool = True) -> None:
    """Publish one Graph ``domainDnsRecord`` in the zone."""
    kind = rec["recordType"].upper()
    if kind == "MX":
        store.set(f"{rec['label']}.", "MX", [f"{rec['preference']} {rec['mailExchange']}."], rec["ttl"])
    elif kind == "CNAME":
        store.set(f"{rec['label']}.", "CNAME", [f"{rec['canonicalName']}."], rec["ttl"])
    elif kind == "SRV":
        name = f"{rec['service']}.{rec['protocol']}.{rec['label']}."
        store.set(name, "SRV", [f"{rec['priority']} {rec['weight']} {rec['port']} {rec['nameTarget']}."], rec["ttl"])
    elif kind == "TXT" and not replace:
        name = dns.name.from_text(f"{rec['label']}.")
        with store.lock:
            zone = store._zone_for(name)
            existing = zone.get_rdataset(name, dns.rdatatype.TXT) if zone else None
            values = {rd.to_text() for rd in existing} if existing else set()
        values.add(f'"{rec["text"]}"')
        store.set(f"{rec['label']}.", "TXT", sorted(values), rec["ttl"])
    elif kind == "TXT":
        store.set(f"{rec['label']}.", "TXT", [f'"{rec["text"]}"'], rec["ttl"])

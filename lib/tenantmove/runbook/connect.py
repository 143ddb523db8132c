"""Where the services are: Microsoft's global cloud, or the running sandbox."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.ledger import LEDGER_FILE, Ledger
from ..errors import TenantmoveError
from ..paths import default_sandbox_dir
from ..services.auth import GLOBAL_AUTHORITY_HOST, DevicePrompt, SignIn, TenantConfig
from ..services.graph import GLOBAL_GRAPH_URL, GraphClient
from ..services.http import user_agent
from .params import Params


@dataclass
class Endpoints:
    cloud: str
    authority_host: str
    graph_url: str
    verify: str | bool
    dns: dict[str, Any] | None = None  # the sandbox's DNS server (host, port, tsig_file)
    sharepoint_url: str = ""  # the sandbox's stand-in for https://<name>.sharepoint.com (empty: the real hosts)
    # mail hosts by name (glob) -> (address, port): the sandbox's SMTP servers, whose port is not 25 (empty: DNS)
    smtp_hosts: dict[str, tuple[str, int]] = field(default_factory=dict)
    admin_url: str = ""  # the sandbox's admin API: its outside world (empty: a real cloud has none)


def resolve(params: Params) -> Endpoints:
    """The endpoints for ``params.cloud``, with the explicit overrides applied."""
    if params.cloud == "sandbox":
        from ..sandbox import read_endpoints

        found = read_endpoints(Path(params.sandbox_dir) if params.sandbox_dir else default_sandbox_dir())
        ends = Endpoints("sandbox", found["authority_host"], found["graph_url"], found["ca_file"], found["dns"],
                         found.get("sharepoint_url", ""),
                         {k: (str(v[0]), int(v[1])) for k, v in ((found.get("smtp") or {}).get("hosts") or {}).items()},
                         found.get("admin_url", ""))
    else:
        ends = Endpoints("global", GLOBAL_AUTHORITY_HOST, GLOBAL_GRAPH_URL, True)
    if params.authority_host:
        ends.authority_host = params.authority_host
    if params.graph_url:
        ends.graph_url = params.graph_url
    if params.ca_file:
        ends.verify = params.ca_file
    return ends


def directory_roles(client: GraphClient) -> set[str]:
    """The directory roles of the person a delegated client is signed in as (``me/memberOf``)."""
    return {str(m.get("displayName")) for m in client.get_all("me/memberOf", {"$top": "999"})
            if str(m.get("@odata.type", "")).endswith("directoryRole")}


def connect(config: TenantConfig, endpoints: Endpoints, prompt: DevicePrompt | None = None, company: str = "",
            **client_options: Any) -> tuple[SignIn, GraphClient]:
    """A signed-in token source and a Graph client for one tenant (sign-in happens on first use)."""
    signin = SignIn(config, authority_host=endpoints.authority_host, verify=endpoints.verify, prompt=prompt)
    client = GraphClient(signin, endpoints.graph_url, verify=endpoints.verify, name=config.role,
                         agent=user_agent(company), **client_options)
    return signin, client


def dns_setup(params: Params, endpoints: Endpoints) -> tuple[Any, Any]:
    """The authoritative name servers to watch and the provider that changes DNS, from ``params.dns``."""
    from ..services.dnsops import ManualProvider, Nameservers, Rfc2136Provider, load_tsig

    cfg = params.dns or {}
    provider_name = cfg.get("provider", "auto")
    if cfg.get("servers"):
        ns = Nameservers.parse(str(cfg["servers"]))
    elif endpoints.dns:
        ns = Nameservers([(endpoints.dns["host"], int(endpoints.dns["port"]))])
    else:
        ns = Nameservers.for_zone(params.domain)
    if provider_name == "auto":
        provider_name = "rfc2136" if endpoints.dns else "manual"
    if provider_name == "manual":
        return ns, ManualProvider()
    if provider_name == "lexicon":
        from ..services.dnsops import LexiconProvider

        return ns, LexiconProvider(str(cfg["lexicon_provider"]), str(cfg.get("zone") or params.domain),
                                   dict(cfg.get("lexicon_options") or {}))
    if cfg.get("server"):
        host, _, port = str(cfg["server"]).partition(":")
        server, server_port = host, int(port or 53)
    else:  # the sandbox's own server
        server, server_port = endpoints.dns["host"], int(endpoints.dns["port"])
    if cfg.get("tsig_file") or cfg.get("tsig_secret_env"):  # the key given is the key used, sandbox or not
        key = load_tsig(key_file=str(cfg.get("tsig_file") or ""), secret_env=str(cfg.get("tsig_secret_env") or ""),
                        name=str(cfg.get("key_name", "")), algorithm=str(cfg.get("algorithm", "hmac-sha256")))
    else:  # nothing given: the sandbox's own key (only the sandbox has one to offer)
        key = load_tsig(key_file=str((endpoints.dns or {}).get("tsig_file", "")))
    return ns, Rfc2136Provider(server, server_port, str(cfg.get("zone") or params.domain), key)


def tenant_identity(client: GraphClient) -> tuple[str, str]:
    """(tenant id, createdDateTime) of the signed-in tenant: what a state folder is bound to."""
    org = client.get("organization", {"$select": "id,createdDateTime"})["value"][0]
    return str(org["id"]), str(org.get("createdDateTime") or "")


def unwritable(folder: Path) -> str:
    """Why the run could not keep its state in ``folder`` ('' when it can): made if missing, then a probe file
    written and removed, and the ledger file, if there, writable."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    ledger = folder / LEDGER_FILE
    if ledger.exists() and not os.access(ledger, os.W_OK):
        return f"{LEDGER_FILE} is read-only"
    return ""


def check_state_tenants(params: Params, endpoints: Endpoints, state_dir: Path) -> None:
    """Before any phase runs: a state folder written for other tenants (or a fresh sandbox) is refused.
    Sign-ins that need a person (device code) are checked when their phase signs in instead."""
    problem = unwritable(state_dir)
    if problem:
        raise TenantmoveError(f"the state folder {state_dir} cannot be written: {problem}", where="state_dir",
                              hint="give the operator write access to it, or name another folder in state_dir "
                                   "(every run of a migration must use the same one)")
    if not (state_dir / LEDGER_FILE).is_file():
        return
    with Ledger(state_dir / LEDGER_FILE) as ledger:
        for config in (params.source, params.target):
            if config.auth == "device_code":
                continue
            signin, client = connect(config, endpoints)
            signin.sign_in()
            ledger.check_tenant(config.role, *tenant_identity(client))

"""Start the sandbox (in this process for ``python -m tenantmove.sandbox``, or as a child
process through :class:`Sandbox` for tests and the demo) and talk to its admin API."""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

from ..errors import ServiceUnreachable
from .dnsserver import DnsServer, ZoneStore, make_keyring, seed_zones
from .eop import Eop
from .knobs import Governor, Knobs
from .outside import HOLDING_HOST, CachingResolver, HoldingServer, Sender
from .server import SandboxApp, make_server, write_json
from .state import SeedError, Store, load_seed
from .tls import write_app_certificate, write_ca_and_server_cert

ENDPOINTS = "endpoints.json"
TSIG_FILE = "tsig.json"
TTL_SCALE = 0.002  # a DNS TTL second lasts 2 ms here: an hour's TTL runs out in 7 s (the demo's waits stay short)


def serve(state_dir: Path, *, port: int = 0, dns_port: int = 0, seed_path: Path | None = None,
          scale: float = 1.0, knobs: dict[str, Any] | None = None, ready: threading.Event | None = None,
          stop: threading.Event | None = None, parent_pid: int | None = None) -> None:
    """Run the sandbox until ``stop`` is set (or forever)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / ENDPOINTS).unlink(missing_ok=True)
    ca, cert, key = write_ca_and_server_cert(state_dir)
    seed = load_seed(seed_path)
    store = Store(seed, scale)
    missing = [a["secret_env"] for t in seed["tenants"] for a in t.get("apps", [])
               if a.get("secret_env") and not os.environ.get(a["secret_env"]) and not a.get("secret")]
    if missing:
        logging.getLogger("tenantmove.sandbox").warning(
            "no client secret in %s: those apps accept only certificates and device codes", ", ".join(missing))
    knob_values = Knobs()
    knob_values.update(knobs or {})
    governor = Governor(knob_values)
    tsig = {"name": "tenantmove-sandbox.", "algorithm": "hmac-sha256",
            "secret": base64.b64encode(secrets.token_bytes(32)).decode()}
    write_json(state_dir / TSIG_FILE, tsig, mode=0o600)
    zones = ZoneStore(make_keyring(tsig["name"], tsig["secret"], tsig["algorithm"]))
    seed_zones(zones, list(store.tenants.values()))
    dns_server = DnsServer(zones, port=dns_port)
    dns_server.start()
    app = SandboxApp(store, governor, zones, state_dir / "blobs")
    certificates = {}  # each app's certificate credential (SharePoint's REST API takes app-only tokens only from one)
    for tenant in store.tenants.values():
        for client_id in tenant.apps:
            pem = state_dir / "apps" / f"{client_id}.pem"
            app.login.register_certificate(client_id, write_app_certificate(pem, f"tenantmove sandbox app {client_id}"))
            certificates[client_id] = str(pem.resolve())
    eop = Eop(store, governor, app.mail.receive, app.stats.add)  # mail from outside, for the tenants' domains
    smtp_host, smtp_port = eop.start()
    holding = HoldingServer(governor, app.stats.add)  # the admin's own mail server, for a holding MX
    smtp_hosts = {"*.mail.protection.outlook.com": [smtp_host, smtp_port], HOLDING_HOST: list(holding.start())}
    app.outside = Sender(CachingResolver((dns_server.host, dns_server.port), TTL_SCALE),
                         {name: (str(h), int(p)) for name, (h, p) in smtp_hosts.items()}, TTL_SCALE)
    httpd = make_server(app, cert, key, port=port)
    host, http_port = httpd.server_address[0], httpd.server_address[1]
    base = f"https://{host}:{http_port}"
    endpoints = {
        "pid": os.getpid(),
        "base_url": base,
        "authority_host": base,
        "graph_url": f"{base}/v1.0",
        "sharepoint_url": f"{base}/_sp",  # https://<host>/<site> is served at <sharepoint_url>/<host>/<site>
        "admin_url": f"{base}/_sandbox",
        "device_login_url": f"{base}/devicelogin",
        "ca_file": str(ca.resolve()),
        "dns": {"host": dns_server.host, "port": dns_server.port, "tsig_file": str((state_dir / TSIG_FILE).resolve()),
                "ttl_scale": TTL_SCALE},
        # Exchange Online Protection's receiving side, and the mail hosts by name (SMTP's port 25 is another here)
        "smtp": {"host": smtp_host, "port": smtp_port, "hosts": smtp_hosts},
        "app_certificates": certificates,
        "tenants": [{"key": t.key, "id": t.id, "initial_domain": t.initial_domain,
                     "display_name": t.display_name, "apps": list(t.apps)} for t in store.tenants.values()],
    }
    write_json(state_dir / ENDPOINTS, endpoints)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    if ready:
        ready.set()
    try:
        while not (stop and stop.is_set()):
            if parent_pid is not None and os.getppid() != parent_pid:
                logging.getLogger("tenantmove.sandbox").warning("the process that started the sandbox is gone; stopping")
                break
            time.sleep(0.2)
    finally:
        httpd.shutdown()
        httpd.server_close()
        dns_server.stop()
        eop.stop()
        holding.stop()
        app.outside.close()
        (state_dir / ENDPOINTS).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tenantmove.sandbox",
                                     description="A local stand-in for Microsoft's cloud: sign-in, Graph and DNS.")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="folder for endpoints.json, the CA and the TSIG key (default: the project's .sandbox)")
    parser.add_argument("--port", type=int, default=0, help="HTTPS port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--dns-port", type=int, default=0, help="DNS port on 127.0.0.1, UDP and TCP (default: any)")
    parser.add_argument("--seed", type=Path, default=None, help="seed spec YAML (default: the built-in one)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the generated users and groups")
    parser.add_argument("--knobs", default="{}", help='initial knobs as JSON, e.g. \'{"latency_ms": 20}\'')
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when the process that started the sandbox ends (used by tests and the demo)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s sandbox %(levelname)s %(message)s")
    from ..paths import default_sandbox_dir

    state_dir = args.state_dir or default_sandbox_dir()
    try:
        knobs = json.loads(args.knobs)
    except ValueError:
        print(f"--knobs: not JSON: {args.knobs!r}. HINT: pass e.g. '{{\"latency_ms\": 20}}'", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ready = threading.Event()

    def announce() -> None:
        ready.wait()
        endpoints = json.loads((state_dir / ENDPOINTS).read_text())
        print(f"sandbox ready: {endpoints['base_url']} (DNS on {endpoints['dns']['host']}:{endpoints['dns']['port']}); "
              f"state in {state_dir}", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    try:
        serve(state_dir, port=args.port, dns_port=args.dns_port, seed_path=args.seed, scale=args.scale,
              knobs=knobs, ready=ready, stop=stop, parent_pid=os.getppid() if args.exit_with_parent else None)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"sandbox: cannot start: {exc}. HINT: choose other ports with --port/--dns-port", file=sys.stderr)
        return 1
    except SeedError as exc:
        print(f"sandbox: {exc}. HINT: fix the seed spec (see lib/tenantmove/sandbox/seed.yaml)", file=sys.stderr)
        return 2
    return 0


def read_endpoints(state_dir: Path) -> dict[str, Any]:
    """The endpoints of the sandbox running with ``state_dir``; a clear error if it is not running."""
    path = Path(state_dir) / ENDPOINTS
    hint = (f"start it with `make sandbox` or `python -m tenantmove.sandbox --state-dir {state_dir}` "
            "(make demo and make lab start it for you)")
    if not path.is_file():
        raise ServiceUnreachable(f"the sandbox is not running (no {path})", where="sandbox_dir", hint=hint)
    data = json.loads(path.read_text())
    try:
        os.kill(int(data["pid"]), 0)
    except (OSError, ValueError, KeyError) as exc:
        raise ServiceUnreachable(f"the sandbox that wrote {path} is no longer running", where="sandbox_dir",
                                 hint=hint) from exc
    return data


class Sandbox:
    """A sandbox in a child process: ``with Sandbox(tmp) as sb: ...``; ``sb.admin(...)`` drives knobs."""

    def __init__(self, state_dir: Path, *, scale: float = 1.0, knobs: dict[str, Any] | None = None,
                 seed: Path | None = None, env: dict[str, str] | None = None, log_file: Path | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.scale = scale
        self.knobs = knobs or {}
        self.seed = seed
        self.env = env
        self.log_file = log_file or self.state_dir / "sandbox.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoints: dict[str, Any] = {}
        self._session = requests.Session()

    @classmethod
    def attach(cls, state_dir: Path) -> Sandbox:
        """The sandbox already running with ``state_dir`` (started by another process)."""
        sb = cls(state_dir)
        sb.endpoints = read_endpoints(state_dir)
        return sb

    def start(self, timeout: float = 30.0) -> Sandbox:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / ENDPOINTS).unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "tenantmove.sandbox", "--state-dir", str(self.state_dir),
               "--scale", str(self.scale), "--knobs", json.dumps(self.knobs), "--exit-with-parent"]
        if self.seed:
            cmd += ["--seed", str(self.seed)]
        env = dict(os.environ if self.env is None else self.env)
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceUnreachable(f"the sandbox exited with status {self.proc.returncode}",
                                         where=str(self.log_file), hint="read the log for the cause")
            if (self.state_dir / ENDPOINTS).is_file():
                self.endpoints = json.loads((self.state_dir / ENDPOINTS).read_text())
                return self
            time.sleep(0.05)
        self.stop()
        raise ServiceUnreachable("the sandbox did not start in time", where=str(self.log_file))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- admin API -------------------------------------------------------------------------------
    @property
    def ca_file(self) -> str:
        return self.endpoints["ca_file"]

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._session.request(method, f"{self.endpoints['admin_url']}/{path}", verify=self.ca_file,
                                     timeout=30, **kwargs)
        resp.raise_for_status()
        return resp.json()

    def set_knobs(self, **knobs: Any) -> dict[str, Any]:
        return self.admin("PATCH", "knobs", json=knobs)

    def stats(self) -> dict[str, Any]:
        return self.admin("GET", "stats")

    def tenant(self, key: str) -> dict[str, Any]:
        return next(t for t in self.endpoints["tenants"] if t["key"] == key)

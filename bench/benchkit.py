"""What the benchmarks share: the sandbox apps, a signed-in Graph client, a gate that is confirmed."""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from tenantmove.engine import Engine, ItemsFailed, Workload  # noqa: E402
from tenantmove.sandbox import Sandbox  # noqa: E402
from tenantmove.services.auth import SignIn, TenantConfig  # noqa: E402
from tenantmove.services.graph import GraphClient  # noqa: E402

APPS = {"source": ("contoso.onmicrosoft.com", "3e1a4c2b-7d6f-4a8e-9b0c-5f1e2d3c4b01", "TENANTMOVE_SOURCE_SECRET"),
        "target": ("contosonew.onmicrosoft.com", "6c5b4a3f-2e1d-4c0b-9a8f-7e6d5c4b3a02", "TENANTMOVE_TARGET_SECRET")}
NEW = "contosonew.onmicrosoft.com"


def app_secrets() -> None:
    """A fresh secret for each sandbox app, in the variables the apps name (kept when the caller set them already):
    the sandbox, started after, accepts them, and no secret is written anywhere."""
    for _, _, env in APPS.values():
        os.environ.setdefault(env, secrets.token_urlsafe(16))


def save_seed(folder: Path, spec: dict) -> Path:
    """A benchmark's seed (no generated users: only the ones it names), written where the sandbox reads it."""
    import yaml

    spec["tenants"][0]["generated"]["users"] = 0  # the old tenant
    path = folder / "seed.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


class Confirmed:
    def require(self) -> bool:
        return True


def timed(engine: Engine, workload: Workload, clients: list[GraphClient]) -> float:
    """Seconds to apply ``workload`` (failures are counted from the ledger afterwards), with the clients'
    request counters set to zero first."""
    for client in clients:
        client.stats["requests"] = 0
    start = time.perf_counter()
    try:
        engine.run(workload, dry_run=False, gate=Confirmed())
    except ItemsFailed:
        pass  # the ledger says which, and the benchmark reports them
    return time.perf_counter() - start


def graph(sb: Sandbox, side: str, pool_size: int = 32) -> GraphClient:
    """A client of ``side`` (source or target), signed in outside the measured part."""
    tenant, app, env = APPS[side]
    signin = SignIn(TenantConfig(side, tenant, app, secret_env=env), authority_host=sb.endpoints["authority_host"],
                    verify=sb.ca_file)
    client = GraphClient(signin, sb.endpoints["graph_url"], verify=sb.ca_file, pool_size=pool_size)
    client.get("organization")
    return client

"""The phase context: what every phase notebook does around its own work — read and check the
parameters, show the header (run, operator, tenants, time), sign in, give the phase its ledger,
engine, DNS, confirmation gate and vault, save tables to the run folder, and end with a "complete"
cell whose summary the runner puts into ``run.json``."""

from __future__ import annotations

import ast
import copy
import datetime as dt
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..clock import utc_now
from ..engine import Engine, Ledger, Outcome, Workload
from ..errors import NotReady, TenantmoveError
from ..paths import default_runs_dir
from ..redact import install_log_redaction
from ..report import Report
from ..services.auth import SignIn, TenantConfig
from ..services.dnsops import Nameservers, Provider
from ..services.graph import GraphClient, units_reserve
from ..services.http import user_agent
from ..services.remote import RemoteSignIn
from ..services.sprest import SharePointRest
from ..workloads.inventory import Inventory
from ..workloads.inventory import load as load_inventory
from ..workloads.passwords import PasswordVault, key_from_env
from . import audit, display, statefolder
from .approval_policy import ApprovalPolicy
from .approver import approver_for
from .change import Change
from .confirm import ConfirmGate
from .connect import Endpoints, connect, directory_roles, dns_setup, resolve, tenant_identity
from .downtime import Downtime
from .params import SPEC, SPEC_BY_NAME, Params, new_run_id, validate

BY_HAND = "interactive (by hand)"


class OutsideWindow(TenantmoveError):
    """The run would change something outside its change window, and no override says why."""  # run.json's mode for a notebook that no runner looks after


class Phase:
    def __init__(self, phase_id: str, params: Params, run_dir: Path, state_dir: Path, run_id: str,
                 operator: str) -> None:
        self.id = phase_id
        self.params = params
        self.run_dir = run_dir
        self.state_dir = state_dir
        self.domain_state = state_dir  # where one custom domain's cutover state lives (see for_domain)
        self.confirm_word = params.domain  # what a confirmation types: the migration's domain, in every domain's view
        self.run_id = run_id
        self.operator = operator
        self.started = utc_now()
        self._t0 = time.monotonic()
        self.signins: dict[str, SignIn] = {}
        self._sharepoint: dict[str, SharePointRest] = {}  # SharePoint's REST API per side, made on first use
        self.clients: dict[str, GraphClient] = {}
        self.tenants: dict[str, dict[str, Any]] = {}
        self._endpoints: Endpoints | None = None
        self._ledger: Ledger | None = None
        self._dns: tuple[Nameservers, Provider] | None = None
        self._cluster: Any = None  # the Dask client (the cluster parameter), made on first use
        self._remote: RemoteSignIn | None = None  # what its workers sign in with (made with it)
        self.by_hand = False  # no runner around this notebook: it keeps run.json's status itself
        self.scripts: set[Path] = set()  # the manual scripts this execution wrote: a second pass adds to them

    @property
    def folder(self) -> Path:
        """This phase's own folder inside the run folder (tables, plans, evidence)."""
        path = self.run_dir / self.id
        path.mkdir(parents=True, exist_ok=True)
        return path

    @classmethod
    def start(cls, phase_id: str, namespace: dict[str, Any]) -> Phase:
        """Validate the notebook's parameters (taken from its globals) and show the header."""
        display.install_error_display()
        install_log_redaction()
        raw = {s.name: namespace[s.name] for s in SPEC if s.name in namespace}
        raw.update({name: namespace[name] for name in stray_parameters(namespace)})  # e.g. papermill -p domian ...
        try:
            params = validate(raw, origin="notebook parameters")
        except TenantmoveError as exc:
            _record_failure(Path(str(raw.get("run_dir") or "")), exc)
            raise
        run_id = params.run_id or new_run_id()
        run_dir = Path(params.run_dir) if params.run_dir else audit.new_run_dir(default_runs_dir(),
                                                                                 f"{params.name}-adhoc")
        run_dir.mkdir(parents=True, exist_ok=True)
        state_dir = statefolder.resolve({"state_dir": params.state_dir, "name": params.name})
        state_dir.mkdir(parents=True, exist_ok=True)
        phase = cls(phase_id, params, run_dir, state_dir, run_id, params.operator or audit.default_operator())
        if not (run_dir / audit.RUN_JSON).is_file():  # run by hand, outside the runner: start the record here
            record = audit.base_record(run_id, params.name, phase.operator, BY_HAND,
                                       params.public(), None)
            record["command"] = f"notebook {phase_id} run in Jupyter"
            audit.write_json_atomic(run_dir / audit.RUN_JSON, record)
            phase.by_hand = True
            display.ERROR_HOOKS[:] = [lambda exc: _record_failure(run_dir, exc)]
        display.show(phase.header())
        phase.check_window()
        return phase

    def check_window(self) -> None:
        """A phase that would change something outside the change window stops here, unless the override's reason
        is given (then it is in the header, and in the phase's result)."""
        change = Change.of(self.params.change)
        outside = change.outside(dt.datetime.now(dt.UTC))
        if outside and not self.dry_run and not change.override:
            raise OutsideWindow(f"{outside}: nothing was changed", where="change.window",
                                hint="run inside the window, or give the reason to run anyway in change.override "
                                     "(recorded in the dossier)")

    def header(self) -> Report:
        p = self.params
        report = Report().banner("warn", audit.REHEARSAL) if p.cloud == "sandbox" else Report()
        change = Change.of(p.change)
        outside = change.outside(dt.datetime.now(dt.UTC))
        if outside:
            report.banner("warn" if change.override or p.dry_run else "fail", f"OUTSIDE THE CHANGE WINDOW: {outside}")
        return report.facts(f"tenantmove · {self.id}", {
            "run id": self.run_id, "phase": self.id, "operator": self.operator, "started (UTC)": self.started,
            "mode": "interactive (JupyterLab)" if p.interactive else "unattended (papermill)",
            "dry run": "yes: plans only" if p.dry_run else "NO: changes will be applied after confirmation",
            "cloud": p.cloud, "old tenant (source)": p.source.tenant, "new tenant (target)": p.target.tenant,
            "custom domain": p.domain, "run folder": str(self.run_dir), "state folder": str(self.state_dir),
            "workers": p.workers, "tenantmove": __version__, **change.facts(),
            "approval of the plan": ApprovalPolicy.of(p.approval).describe(),
        })

    @property
    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            self._endpoints = resolve(self.params)
        return self._endpoints

    def sign_in(self, side: str) -> GraphClient:
        """Sign in to ``side`` ('source' or 'target') and return its Graph client."""
        config = self.params.source if side == "source" else self.params.target
        return self._sign_in(side, config)

    def sign_in_person(self, side: str, **client_options: Any) -> GraphClient:
        """A person's sign-in (device code) to ``side`` with the same app registration, for an API that refuses
        app-only tokens (OneNote): a widget in JupyterLab, a printed code under papermill. Kept beside the
        app's sign-in as ``<side> (person)``."""
        config = self.params.source if side == "source" else self.params.target
        person = replace(config, auth="device_code", secret_env="", certificate_file="", certificate_password_env="")
        return self._sign_in(side, person, f"{side} (person)", **client_options)

    def sharepoint(self, side: str) -> SharePointRest:
        """SharePoint's own REST API with ``side``'s sign-in (``usable()`` says whether SharePoint takes its tokens),
        made once a phase: its sign-in and clients serve every workload that needs it."""
        if side not in self._sharepoint:
            self._sharepoint[side] = SharePointRest(self.signins[side], verify=self.endpoints.verify,
                                                    sandbox_url=self.endpoints.sharepoint_url,
                                                    agent=user_agent(self.params.company or self.params.name))
        return self._sharepoint[side]

    def signed_in_as(self, name: str) -> str:
        return str(self.signins[name].identity()["signed_in_as"])

    def _sign_in(self, side: str, config: TenantConfig, name: str = "", **client_options: Any) -> GraphClient:
        name = name or side
        signin, client = connect(config, self.endpoints, display.prompt_for(self.params.interactive),
                                 company=self.params.company or self.params.name, **client_options)
        signin.sign_in()
        client.rate_reserve = units_reserve(self.params.workers)  # SharePoint: what this pool may have in flight
        identity = signin.identity()
        self.signins[name], self.clients[name] = signin, client
        self.tenants[side] = {"tenant": config.tenant, "tenant_id": identity["tenant_id"]}
        self.ledger().bind_tenant(side, *tenant_identity(client))
        display.show(Report().facts(f"Signed in to the {'old' if side == 'source' else 'new'} tenant", {
            "tenant": config.tenant, "tenant id": identity["tenant_id"], "app (client) id": identity["app_id"],
            "sign-in": f"{config.auth} ({identity['kind']})", "signed in as": identity["signed_in_as"],
        }))
        return client

    def granted(self) -> dict[str, set[str]]:
        """The Graph permissions each signed-in token carries."""
        return {side: signin.granted() for side, signin in self.signins.items()}

    def directory_roles(self) -> dict[str, set[str]]:
        """The directory roles of the person signed in, per delegated side (an app holds none)."""
        roles: dict[str, set[str]] = {}
        for side, signin in self.signins.items():
            if signin.identity()["kind"] == "delegated":
                roles[side] = directory_roles(self.clients[side])
        return roles

    def token_kinds(self) -> dict[str, str]:
        """'application' or 'delegated', per signed-in side."""
        return {side: signin.identity()["kind"] for side, signin in self.signins.items()}

    def save_inventory(self, side: str, inv: Inventory) -> None:
        """Into the run folder (evidence of this run) and the state folder (read by later phases)."""
        inv.save(self.folder / f"inventory-{side}")
        inv.save(self.state_dir / "inventory" / side)

    def load_inventory(self, side: str) -> Inventory:
        return load_inventory(self.state_dir / "inventory" / side)

    def ledger(self) -> Ledger:
        """The migration's ledger (state folder), writing this run's id into its history."""
        if self._ledger is None:
            self._ledger = Ledger.in_state_dir(self.state_dir, self.run_id)
        return self._ledger

    def engine(self) -> Engine:
        """The engine over this migration's ledger, with this phase's folder, workers and progress."""
        return Engine(self.ledger(), self.id, folder=self.folder, workers=self.params.workers,
                      progress=self.progress, run_id=self.run_id, scripts=self.scripts,
                      cluster=self.cluster if self.params.cluster else None)

    def remote_signin(self) -> RemoteSignIn:
        """What a cluster's worker process needs to sign in itself (no secret: the names of where they are)."""
        return RemoteSignIn(self.params.source, self.params.target, self.endpoints.authority_host,
                            self.endpoints.graph_url, self.endpoints.verify, self.params.company or self.params.name,
                            sharepoint_units=self._sharepoint_units())

    def _sharepoint_units(self) -> int:
        """SharePoint's resource units a minute for the migration's apps: the smaller of the two tenants' budgets,
        which grow with their licences (phase 00's inventories; 0, the smallest budget, when one is missing). Read
        from the state folder, so the content phases need no permission to read licences."""
        from ..workloads.forecast import licences_given, ru_per_minute

        try:
            return min(ru_per_minute(licences_given(self.load_inventory(side).licences))
                       for side in ("source", "target"))
        except NotReady:
            return 0

    def cluster(self) -> tuple[Any, RemoteSignIn]:
        """The Dask client of the ``cluster`` parameter, made when a workload first hands scopes out, and what its
        workers sign in with. Every worker signs in to both tenants first; one that cannot is named, and nothing is
        handed out."""
        if self._cluster is None:
            from ..engine.cluster import ClusterError, check_workers, connect
            from ..workloads.files import DriveFiles
            from ..workloads.mail import MAILBOX_CONCURRENCY

            # each process takes as many mailboxes at once as make `workers` items at Exchange's 4 a mailbox
            client = connect(self.params.cluster, max(1, self.params.workers // MAILBOX_CONCURRENCY))
            remote = self.remote_signin()
            refused = check_workers(client, remote)
            if refused:
                client.close()
                raise ClusterError(f"{len(refused)} worker(s) cannot sign in: {refused[0]}", where="cluster",
                                   hint="give each worker the app's secret in the same environment variable, or its "
                                        "certificate file at the same path, then run the phase again")
            self._cluster = client
            workers = len(client.scheduler_info().get("workers", {}))
            scopes, _ = remote.shared_budget(DriveFiles.scope_limit)
            display.show(Report().facts("Worker processes (Dask)", {
                "cluster": self.params.cluster, "workers": workers, "dashboard": client.dashboard_link,
                "SharePoint's budget (resource units a minute, per app and tenant, shared by every worker)":
                    remote.sharepoint_units or "not known: the smallest, 1,250",
                "drives or libraries at once (their requests in flight fit the budget's last fifth)": scopes}))
            self._remote = remote
        return self._cluster, self._remote

    @property
    def dry_run(self) -> bool:
        """The one decision between showing the plan and changing the tenants: the engine, the confirmation
        gate and every phase's apply ask here."""
        return bool(self.params.dry_run)

    def run(self, workload: Workload, gate: ConfirmGate | None = None) -> Outcome:
        """Run one workload through the engine (dry run or apply, per :attr:`dry_run`). A failed item
        fails the phase here."""
        return self.engine().run(workload, dry_run=self.dry_run, gate=gate)

    def dns(self) -> tuple[Nameservers, Provider]:
        """(authoritative name servers, provider) from the dns parameter."""
        if self._dns is None:
            self._dns = dns_setup(self.params, self.endpoints)
        return self._dns

    def ttl_scale(self) -> float:
        """How long a DNS TTL second lasts here: 1 for real DNS; the sandbox's server says its own (its waits are
        short)."""
        return float((self.endpoints.dns or {}).get("ttl_scale", 1.0)) if not (self.params.dns or {}).get("servers") \
            else 1.0

    def dns_facts(self) -> Report:
        ns, provider = self.dns()
        return Report().facts("DNS", {"authoritative servers checked": ", ".join(f"{h}:{p}" for h, p in ns.servers),
                                      "changes applied by": provider.name})

    def dns_wait(self) -> tuple[float, float]:
        cfg = self.params.dns or {}
        return float(cfg.get("wait_seconds", 900)), float(cfg.get("poll_seconds", 10 if self.params.cloud != "sandbox" else 0.5))

    def confirm_gate(self, action: str, plan: Any = None) -> ConfirmGate:
        """The typed confirmation for this phase's destructive step. In a dry run there is nothing to
        confirm: no box is shown, and the gate refuses to let anything through. Where the ``approval`` parameter
        names this phase, ``plan`` (what the notebook showed) is part of what a second person approves, and the
        gate lets nothing through before that approval."""
        gate = ConfirmGate(action, self.confirm_word, given=self.params.confirm, interactive=self.params.interactive,
                           operator=self.operator, run_id=self.run_id, phase=self.id, record_dir=self.folder,
                           dry_run=self.dry_run, on_record=self.ledger().record_confirmation,
                           approver=approver_for(self, plan))
        gate.show()
        return gate

    def downtime(self) -> Downtime:
        """The custom domain's downtime record (each domain of the migration has its own: :meth:`for_domain`)."""
        return Downtime(self.domain_state)

    def for_domain(self, domain: str) -> Phase:
        """This phase as it works on one of the migration's custom domains (``also_domains``): that domain, its DNS
        settings, and its own cutover state (DNS snapshot, TTLs, released records, downtime record) in
        ``domains/<domain>`` of the state folder. The ledger, the inventories, the run folder and the sign-ins stay
        the migration's (one ledger, shared). The migration's own ``domain`` is the phase itself."""
        if domain == self.params.domain:
            return self
        self.ledger()  # opened before the copy, so that both write the same one
        view = copy.copy(self)
        view.params = replace(self.params, domain=domain, dns=self.params.dns_of(domain))
        view.domain_state = self.state_dir / "domains" / domain
        view._dns = None
        return view

    def domain_views(self) -> list[Phase]:
        """This phase for each custom domain the migration moves, ``domain`` first."""
        return [self.for_domain(d) for d in self.params.domains]

    def progress(self, label: str) -> display.Progress:
        return display.Progress(label, self.params.interactive)

    def password_vault(self) -> PasswordVault:
        """Temporary passwords go here: the state folder, owner-only and encrypted with the admin's key (the
        ``vault_key_env`` variable), never the run folder or a cell."""
        env = self.params.vault_key_env
        return PasswordVault(self.state_dir / "passwords" / f"{self.run_id}.csv", lambda: key_from_env(env))

    def save_table(self, name: str, df: pd.DataFrame) -> Path:
        path = self.folder / f"{name}.csv"
        df.to_csv(path, index=False)
        return path

    def complete(self, summary: dict[str, Any], status: str = "completed") -> None:
        """The last cell: record the result for run.json and say clearly that the phase is done."""
        if self._cluster is not None:  # its worker processes end with the phase (a local cluster's too)
            local = getattr(self._cluster, "cluster", None)
            self._cluster.close()
            if local is not None:
                local.close()
            self._cluster = None
        duration = round(time.monotonic() - self._t0, 1)
        requests = {side: client.stats["requests"] for side, client in self.clients.items()}
        waits = {side: {"throttled (429/503)": client.stats["throttled"], "paced by RateLimit headers":
                        client.stats["paced"]} for side, client in self.clients.items()}
        result = {"phase": self.id, "status": status, "started": self.started, "ended": utc_now(),
                  "duration_s": duration, "operator": self.operator, "run_id": self.run_id,
                  "dry_run": self.dry_run, "tenants": self.tenants, "summary": summary,
                  "graph_requests": requests, "graph_waits": waits}
        report = Report()
        if self._ledger is not None:
            changed = self._ledger.changes(self.run_id, self.id)
            result["changed"] = changed.to_dict(orient="records")
            report.table(changed, f"What this run changed in this phase (ledger events of run {self.run_id}; "
                                  "none in a dry run)")
            counts = self._ledger.counts(self.id)
            result["ledger"] = counts.to_dict(orient="records")
            report.table(counts, "Ledger for this phase (all runs)")
        path = audit.phase_result_path(self.run_dir, self.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        audit.write_json_atomic(path, result)
        if self.by_hand:  # no runner will seal this record: say how it ended
            record = audit.read_json(self.run_dir / audit.RUN_JSON)
            record.update(status=status, ended=utc_now())
            audit.write_json_atomic(self.run_dir / audit.RUN_JSON, record)
        report.banner("ok" if status == "completed" else "warn", f"{self.id} {status} in {duration} s")
        report.table(pd.DataFrame([{"item": k, "value": v} for k, v in summary.items()]), "Summary")
        display.show(report)


def stray_parameters(namespace: dict[str, Any]) -> list[str]:
    """Names papermill injected that are no parameter (``-p domian ...``): read from the injected cell in
    the kernel's input history, so they are reported instead of silently ignored."""
    for source in reversed(list(namespace.get("In") or [])):
        if str(source).lstrip().startswith("# Parameters\n"):  # papermill's injected-parameters cell
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return []
            names = [target.id for node in tree.body if isinstance(node, ast.Assign)
                     for target in node.targets if isinstance(target, ast.Name)]
            return sorted(n for n in names if n not in SPEC_BY_NAME)
    return []


def _record_failure(run_dir: Path, exc: BaseException) -> None:
    """A record that a runner does not look after says that its run failed, and why."""
    path = run_dir / audit.RUN_JSON
    if not str(run_dir) or not path.is_file():
        return
    record = audit.read_json(path)
    if record.get("status") in ("running", None) and record.get("mode") == BY_HAND:
        record.update(status="failed", ended=utc_now(), error=exc.one_line() if isinstance(exc, TenantmoveError)
                      else f"{type(exc).__name__}: {exc}")
        audit.write_json_atomic(path, record)

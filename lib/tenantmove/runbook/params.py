"""The runbook's parameters: one specification shared by the notebooks' ``parameters`` cells,
the runner and the validator. Validation reports every problem with the parameter, the file it
came from, and the fix, before anything changes."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigFileError, ParameterError, TenantmoveError
from ..services.auth import METHODS, TenantConfig
from . import approval_policy, change
from .approval_policy import APPROVAL_KEYS
from .change import CHANGE_KEYS

DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?!-)([a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}$")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CLOUDS = ("sandbox", "global")
SECRET_WORDS = ("secret", "password", "private_key", "token")

DNS_KEYS = {
    "provider": "auto | manual | rfc2136 | lexicon",
    "servers": "authoritative servers to check, host:port comma-separated (empty: the domain's NS records)",
    "server": "rfc2136: the primary server, host or host:port",
    "zone": "rfc2136: the zone to update (empty: the custom domain)",
    "tsig_file": "rfc2136: TSIG key file (JSON or BIND key statement)",
    "tsig_secret_env": "rfc2136: name of the environment variable holding the base64 TSIG secret",
    "key_name": "rfc2136: TSIG key name (with tsig_secret_env)",
    "algorithm": "rfc2136: TSIG algorithm (default hmac-sha256)",
    "lexicon_provider": "lexicon: the DNS host's lexicon name (cloudflare, route53, azure, ...); credentials only "
                        "from LEXICON_<PROVIDER>_<OPTION> environment variables",
    "lexicon_options": "lexicon: non-secret provider options, e.g. {zone_id: ...}",
    "wait_seconds": "how long to wait for DNS to show a change (default 900)",
    "poll_seconds": "how often to look while waiting (default 10)",
}
DNS_PROVIDERS = ("auto", "manual", "rfc2136", "lexicon")
FILE_VERSIONS = ("latest", "all")
SETTING_AREAS = ("sharepoint", "authorization", "authenticationMethods", "temporaryAccessPass", "reportSettings",
                 "pronouns", "securityDefaults", "organization", "branding", "groupSettings", "domains")  # phase 40's areas Graph can write (tenantmove.workloads.setting_areas)

TENANT_KEYS = {
    "tenant": "tenant id (GUID) or a verified domain, e.g. contoso.onmicrosoft.com",
    "client_id": "application (client) id of the app registration in that tenant",
    "auth": "client_secret | certificate | device_code",
    "secret_env": "name of the environment variable that holds the client secret (auth: client_secret)",
    "certificate_file": "PEM file with the app's private key and certificate (auth: certificate; with a secret, "
                        "SharePoint's REST API signs in with it, since it refuses app-only tokens got with a secret)",
    "certificate_password_env": "name of the environment variable holding the key's password, if any",
}


@dataclass(frozen=True)
class Spec:
    name: str
    type: type
    default: Any
    doc: str
    phases: tuple[str, ...] = ()  # the phases (by number) that read it; () for the common ones every phase takes


# The order here is the order of the notebooks' parameters cells; each notebook's shows the common ones and its
# own (those tagged with its number), and the runner hands it only those.
SPEC: list[Spec] = [
    Spec("name", str, "demo", "name of this migration: used in run-folder names and as the default state folder"),
    Spec("cloud", str, "sandbox", "sandbox (the embedded stand-in; the safe default) or global (Microsoft 365)"),
    Spec("sandbox_dir", str, "", "folder where the running sandbox wrote endpoints.json (empty: the project's .sandbox)"),
    Spec("authority_host", str, "", "sign-in service override (empty: per cloud)"),
    Spec("graph_url", str, "", "Graph base URL override (empty: per cloud)"),
    Spec("ca_file", str, "", "extra CA bundle to trust, e.g. a TLS-inspecting proxy (empty: system CAs only)"),
    Spec("domain", str, "contoso.example", "the custom domain that moves from the old tenant to the new one"),
    Spec("also_domains", list, [], "the old tenant's other custom domains that move with it: each a domain, or "
         "{domain: ..., dns: {...}} with DNS settings of its own (keys as dns; without: dns's, for that domain); "
         "phases 00, 20 and 30 cut each over with its own DNS snapshot, TTLs and downtime record, and phase 90 checks "
         "each; the user mapping may give people UPNs on each (every phase reads it)"),
    Spec("source", dict, {"tenant": "contoso.onmicrosoft.com", "client_id": "3e1a4c2b-7d6f-4a8e-9b0c-5f1e2d3c4b01",
                          "auth": "client_secret", "secret_env": "TENANTMOVE_SOURCE_SECRET"},
         "the old tenant: " + "; ".join(f"{k}: {v}" for k, v in TENANT_KEYS.items())),
    Spec("target", dict, {"tenant": "contosonew.onmicrosoft.com", "client_id": "6c5b4a3f-2e1d-4c0b-9a8f-7e6d5c4b3a02",
                          "auth": "client_secret", "secret_env": "TENANTMOVE_TARGET_SECRET"},
         "the new tenant: same keys as source"),
    Spec("user_mapping", str, "", "the user mapping CSV, old UPN to new UPN (empty: users.csv in the state folder)"),
    Spec("vault_key_env", str, "TENANTMOVE_VAULT_KEY", "phases 10 and 30: name of the environment variable holding "
         "the key that encrypts new users' temporary passwords in the state folder (make one with `python -m "
         "tenantmove vault-key`; read them with `python -m tenantmove passwords`)", phases=('10', '30')),
    Spec("prestage_users", bool, False, "phase 10: create the users on the new onmicrosoft domain now, to pre-stage data", phases=('10',)),
    Spec("dns", dict, {"provider": "auto"}, "DNS settings (keys above); provider auto: the sandbox server, else manual", phases=('00', '20', '25', '30', '50', '90')),
    Spec("confirm", str, "", "typed confirmation for destructive steps, unattended: the custom domain name", phases=('00', '10', '20', '25', '30', '40', '50', '60', '65', '70', '80')),
    Spec("dns_lower_ttl", bool, False, "phase 00: lower the TTLs of the MX, autodiscover and SPF records to 5 minutes "
         "itself (rfc2136 or lexicon provider, behind the typed confirmation); false: show the change to make",
         phases=('00',)),
    Spec("ttl_override", str, "", "phase 20: start although the MX's old TTL may not have run out since it was "
         "lowered; the reason, recorded in the dossier (empty: wait, or refuse when that is more than 10 minutes "
         "away)", phases=('20',)),
    Spec("dns_ttl_after", int, 3600, "phase 30: the TTL the new MX, autodiscover and SPF records get once the "
         "cutover is done (seconds)", phases=('30',)),
    Spec("announce_from", str, "", "phase 10: a user of the old tenant with a mailbox who sends each moving person "
         "the announcement of the move, once, behind the typed confirmation (empty: no announcement)",
         phases=('10',)),
    Spec("announce_when", str, "", "phase 10: when the move happens, as the announcement says it, e.g. "
         "\"Saturday 9 January 2027 from 18:00\"", phases=('10',)),
    Spec("forecast", bool, False, "phase 00: how long each content phase will take, from the old tenant's usage "
         "reports and the service's limits (the old tenant's app needs Reports.Read.All)", phases=('00',)),
    Spec("plan_devices", bool, False, "phases 00 and 40: list the old tenant's devices (Entra ID, Intune, Autopilot) "
         "and plan what each needs; phase 40 moves the Autopilot registrations as manual items, and the letters "
         "list each person's devices", phases=('00', '40')),
    Spec("first_day_passes", bool, False, "phase 40: give each moving person a Temporary Access Pass for their first "
         "sign-in (into the vault, never shown) where the new tenant's policy allows it; the temporary password "
         "stays the fallback", phases=('40',)),
    Spec("pass_start", str, "", "phase 40: when the passes start, UTC, e.g. 2027-01-11T07:00:00Z (empty: at once)",
         phases=('40',)),
    Spec("pass_lifetime_minutes", int, 480, "phase 40: how long a pass works, in minutes (10 to 43200; the new "
         "tenant's policy may allow less)", phases=('40',)),
    Spec("pass_usable_once", bool, True, "phase 40: a pass works for one sign-in only", phases=('40',)),
    Spec("holding_mx", str, "", "phases 20, 25 and 30: a mail host of yours that answers 4xx (try later) for the "
         "domain; phase 20 points the MX at it instead of removing it, phase 30 (and the way back, 25) from it to the "
         "tenant that takes the domain (empty: no MX in the window)", phases=('00', '20', '25', '30')),
    Spec("workers", int, 4, "items worked on at once per workload (the engine's worker pool); per-scope limits still apply"),
    Spec("cluster", str, "", "phases 50, 60 and 70: where library files, mailbox items and OneDrive files are moved "
         "(a library, mailbox or OneDrive a task): empty, this notebook's thread pool; local:N, N "
         "worker processes on this machine (Dask's LocalCluster); a Dask scheduler's address, e.g. "
         "tcp://10.0.0.5:8786, its workers (each signs in itself: the secret's environment variable or the "
         "certificate file must be there too)", phases=('50', '60', '70')),
    Spec("file_versions", str, "latest", "phases 50 and 70: latest (each file as it is now) or all (every version, "
         "oldest first)", phases=('50', '70')),
    Spec("sites_beta", bool, False, "phase 50: create sites that have no Microsoft 365 group through Graph BETA "
         "POST /sites (not supported by Microsoft in production); false: a New-SPOSite command for the admin", phases=('50',)),
    Spec("site_owner", str, "", "phase 50: owner of the sites it creates (a UPN of the new tenant; empty: "
         "admin@<new tenant's onmicrosoft domain>)", phases=('50',)),
    Spec("teams_stand_in", str, "", "phase 65: the user of the new tenant that messages of authors who do not move "
         "are imported under, each with a line naming who wrote it (a UPN; empty: admin@<new tenant's onmicrosoft "
         "domain>)", phases=('65',)),
    Spec("teams_person", bool, False, "phase 65: when Microsoft has not approved the old tenant's app for Teams' "
         "protected APIs (reading messages app-only), a person signs in to the old tenant (device code) and their "
         "own chats, and the channels of their teams, are read with their sign-in (false: those are listed as not "
         "moved)", phases=('65',)),
    Spec("site_wait_seconds", int, 900, "phase 50: how long to wait for a new group's team site (SharePoint takes "
         "up to about 15 minutes after the group, sometimes 45)", phases=('50',)),
    Spec("settings_apply", str, "", "phase 40: the setting areas to apply to the new tenant, comma-separated ("
         + ", ".join(SETTING_AREAS) + "); empty: show the side-by-side comparison only", phases=('40', '90')),
    Spec("ca_enforce", bool, False, "phase 40: switch on the conditional-access policies that are on in the old "
         "tenant (they are first created report-only; this is a separate confirmed step)", phases=('40',)),
    Spec("onedrive_wait_seconds", int, 0, "phase 70: how long to wait for new OneDrives to appear after "
         "Request-SPOPersonalSite (0: do not wait; a rerun copies them once they exist)", phases=('70',)),
    Spec("company", str, "", "your organisation's name, for the decorated User-Agent SharePoint asks of migration "
         "traffic (empty: the migration's name)"),
    Spec("state_dir", str, "", "migration state folder shared by all runs (empty: state/NAME under the project, or "
                               "$TENANTMOVE_HOME; the same wherever a run starts)"),
    Spec("run_dir", str, "", "this run's folder (set by the runner; empty: a new runs/TIME-NAME-adhoc folder)"),
    Spec("run_id", str, "", "this run's id (set by the runner)"),
    Spec("operator", str, "", "who runs this migration (empty: the OS user at the host)"),
    Spec("change", dict, {}, "the change request (keys above): ticket, requester, window, risk, backout, override; "
         "shown on every page, and a run outside the window is refused unless override gives the reason"),
    Spec("merge", str, "", "the merge file this migration is part of (several old tenants into one new one: "
         "python -m tenantmove merge-plan MERGE.yaml first; empty: none)"),
    Spec("approval", dict, {"mode": "none"}, "who approves the plans of phases 20, 25 and 30 (keys above): mode none, "
         "signin (a second person signs in by device code) or signature (python -m tenantmove approve)"),
    Spec("interactive", bool, True, "True in JupyterLab (widgets); the runner injects False for papermill"),
    Spec("dry_run", bool, True, "True: show plans only; False: apply them (destructive steps also need confirmation)"),
]
SPEC_BY_NAME = {s.name: s for s in SPEC}


def specs_for(phase: str) -> list[Spec]:
    """The parameters ``phase`` (a notebook's name, e.g. ``60_mailboxes``) takes: the common ones and its own."""
    number = phase.split("_", 1)[0]
    return [s for s in SPEC if not s.phases or number in s.phases]


@dataclass
class Params:
    name: str
    cloud: str
    sandbox_dir: str
    authority_host: str
    graph_url: str
    ca_file: str
    domain: str
    source: TenantConfig
    target: TenantConfig
    state_dir: str
    run_dir: str
    run_id: str
    operator: str
    interactive: bool
    dry_run: bool
    workers: int = 4
    cluster: str = ""
    file_versions: str = "latest"
    onedrive_wait_seconds: int = 0
    sites_beta: bool = False
    site_owner: str = ""
    teams_stand_in: str = ""
    teams_person: bool = False
    dns_lower_ttl: bool = False
    ttl_override: str = ""
    dns_ttl_after: int = 3600
    holding_mx: str = ""
    announce_from: str = ""
    announce_when: str = ""
    plan_devices: bool = False
    forecast: bool = False
    first_day_passes: bool = False
    pass_start: str = ""
    pass_lifetime_minutes: int = 480
    pass_usable_once: bool = True
    site_wait_seconds: int = 900
    settings_apply: str = ""
    ca_enforce: bool = False
    company: str = ""
    user_mapping: str = ""
    merge: str = ""
    prestage_users: bool = False
    vault_key_env: str = "TENANTMOVE_VAULT_KEY"
    dns: dict[str, Any] = field(default_factory=dict)
    also_domains: list[dict[str, Any]] = field(default_factory=list)  # [{domain, dns}], validated
    change: dict[str, Any] = field(default_factory=dict)
    approval: dict[str, Any] = field(default_factory=dict)
    confirm: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def domains(self) -> list[str]:
        """Every custom domain this migration moves: ``domain`` first, then ``also_domains``."""
        return [self.domain, *(str(d["domain"]) for d in self.also_domains)]

    def dns_of(self, domain: str) -> dict[str, Any]:
        """The DNS settings of one of the migration's domains: its own, or ``dns``'s without a zone of ``domain``'s."""
        if domain == self.domain:
            return dict(self.dns)
        own = next((d.get("dns") for d in self.also_domains if d["domain"] == domain), None)
        return dict(own) if own else {k: v for k, v in self.dns.items() if k != "zone"}

    def public(self) -> dict[str, Any]:
        """The parameters as recorded in run.json: names of secrets, never values."""
        out = asdict(self)
        out.pop("extra", None)
        for side in ("source", "target"):
            out[side].pop("role", None)
        return scrub(out)


def defaults() -> dict[str, Any]:
    return {s.name: (type(s.default)(s.default) if isinstance(s.default, dict | list) else s.default) for s in SPEC}


def scrub(value: Any) -> Any:
    """Drop values of keys that look like secrets (a last guard; secrets are never parameters)."""
    if isinstance(value, dict):
        return {k: ("***" if _looks_secret(k) else scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _looks_secret(key: str) -> bool:
    k = key.lower()
    return any(w in k for w in SECRET_WORDS) and not k.endswith(("_env", "_file"))


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(f"cannot read parameter file: {exc.strerror}", where=str(path),
                              hint="give the path of a YAML file such as parameters/demo.yaml, readable by you") from exc
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"not UTF-8 text (byte {exc.start}: {exc.reason})", where=str(path),
                              hint="save the parameter file as UTF-8") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigFileError(f"not valid YAML: {getattr(exc, 'problem', exc)}", where=where,
                              hint="fix the indentation or quoting at that line") from exc
    if data is None:
        raise ConfigFileError("the parameter file is empty", where=str(path),
                              hint="copy parameters/example.yaml (real tenants) or parameters/demo.yaml (the sandbox) "
                                   "and fill it in")
    if not isinstance(data, dict):
        raise ConfigFileError("the parameter file must be a mapping of name: value", where=str(path),
                              hint="write one parameter a line, e.g. domain: contoso.com")
    return data


def validate(raw: dict[str, Any], origin: str = "parameters", check_environment: bool = True) -> Params:
    """Check every parameter; raise one :class:`ParameterError` listing all problems."""
    problems: list[TenantmoveError] = []

    def bad(param: str, message: str, hint: str) -> None:
        problems.append(TenantmoveError(message, where=f"{origin}: {param}", hint=hint))

    values = defaults()
    for key, value in raw.items():
        if key.startswith("_"):
            continue
        if _looks_secret(key):
            bad(key, "secrets are never parameters (papermill writes parameters into the executed notebook)",
                "put the secret in an environment variable and name it in source.secret_env/target.secret_env")
            continue
        spec = SPEC_BY_NAME.get(key)
        if spec is None:
            close = difflib.get_close_matches(key, list(SPEC_BY_NAME), n=1)
            bad(key, "unknown parameter", f"did you mean {close[0]!r}?" if close else
                "remove it; `papermill --help-notebook notebooks/00_prepare.ipynb` lists the parameters")
            continue
        if spec.type is bool and not isinstance(value, bool):
            bad(key, f"must be true or false, not {value!r}", f"write {key}: true or {key}: false")
            continue
        if spec.type is str and value is None:
            value = ""
        if spec.type is str and not isinstance(value, str):
            bad(key, f"must be text, not {type(value).__name__} {value!r}", f"quote it: {key}: \"{value}\"")
            continue
        if spec.type is int and (isinstance(value, bool) or not isinstance(value, int)):
            bad(key, f"must be a whole number, not {value!r}", f"write {key}: {spec.default}")
            continue
        if spec.type is dict and not isinstance(value, dict):
            keys = {"dns": DNS_KEYS, "change": CHANGE_KEYS, "approval": APPROVAL_KEYS}.get(key, TENANT_KEYS)
            bad(key, f"must be a mapping with keys {', '.join(keys)}", f"see parameters/example.yaml for {key}")
            continue
        values[key] = value

    if not 1 <= values["workers"] <= 32:
        bad("workers", f"must be between 1 and 32, not {values['workers']}", "4 suits most tenants; Graph throttles more")
    if values["file_versions"] not in FILE_VERSIONS:
        bad("file_versions", f"must be one of {', '.join(FILE_VERSIONS)}, not {values['file_versions']!r}",
            "latest copies each file as it is now; all replays its versions oldest first")
    if not 60 <= values["dns_ttl_after"] <= 86400:
        bad("dns_ttl_after", f"must be between 60 and 86400 seconds, not {values['dns_ttl_after']}",
            "3600 (an hour) is what Microsoft 365 publishes")
    holding = str(values["holding_mx"]).strip().rstrip(".").lower()
    if holding and not DOMAIN_RE.fullmatch(holding):
        bad("holding_mx", f"{values['holding_mx']!r} is not a host name",
            "name the mail host, e.g. mx-hold.example.net (no port, no address, no URL)")
    values["holding_mx"] = holding
    sender = str(values["announce_from"]).strip()
    if sender and "@" not in sender:
        bad("announce_from", f"{sender!r} is not a user's sign-in name or address",
            "name the sender as it signs in, e.g. it@contoso.com")
    if sender and not str(values["announce_when"]).strip():
        bad("announce_when", "is empty, but announce_from sends an announcement",
            "say when the move happens, e.g. \"Saturday 9 January 2027 from 18:00\"")
    if not 10 <= values["pass_lifetime_minutes"] <= 43200:
        bad("pass_lifetime_minutes", f"must be between 10 and 43200 minutes, not {values['pass_lifetime_minutes']}",
            "480 (a working day) suits a first morning; the new tenant's policy may allow less")
    start = str(values["pass_start"]).strip()
    if start:
        try:
            when = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            bad("pass_start", f"{start!r} is not a UTC date and time",
                "write it as 2027-01-11T07:00:00Z (empty: the passes start at once)")
        else:
            values["pass_start"] = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if values["cluster"]:
        from ..engine.cluster import parse

        try:
            parse(str(values["cluster"]))
        except ValueError as exc:
            bad("cluster", str(exc), "write local:4 (four worker processes here), a scheduler's address such as "
                                     "tcp://10.0.0.5:8786, or leave it empty")
    if not 0 <= values["site_wait_seconds"] <= 86400:
        bad("site_wait_seconds", f"must be between 0 and 86400, not {values['site_wait_seconds']}",
            "e.g. 900: a new group's site usually appears within 15 minutes")
    if not 0 <= values["onedrive_wait_seconds"] <= 86400:
        bad("onedrive_wait_seconds", f"must be between 0 and 86400, not {values['onedrive_wait_seconds']}",
            "e.g. 1800: new OneDrives usually appear within minutes, sometimes hours")
    if not NAME_RE.match(values["name"]):
        bad("name", f"{values['name']!r} is not a usable name", "use letters, digits, '.', '_' or '-' (max 64)")
    if values["cloud"] not in CLOUDS:
        bad("cloud", f"must be one of {', '.join(CLOUDS)}, not {values['cloud']!r}",
            "use 'sandbox' to rehearse, 'global' for Microsoft 365")
    domain = str(values["domain"]).strip().lower()
    if not DOMAIN_RE.match(domain):
        bad("domain", f"{values['domain']!r} is not a valid domain name", "write it like contoso.com, without @ or https://")
    for key in ("ca_file",):
        if values[key] and not os.access(values[key], os.R_OK):
            bad(key, f"cannot read the file {values[key]}", "give the path of a readable PEM bundle, or ''")
    tenants = {}
    for side in ("source", "target"):
        tenants[side] = _tenant(side, values[side] if isinstance(values[side], dict) else {}, bad, check_environment)
    if tenants["source"] and tenants["target"] and \
            tenants["source"].tenant.lower() == tenants["target"].tenant.lower():
        bad("target.tenant", "the new tenant is the same as the old one", "name the new tenant in target.tenant")
    dns_cfg = values["dns"] if isinstance(values["dns"], dict) else {}
    _dns_problems("dns", dns_cfg, bad)
    also = _also_domains(values["also_domains"], domain, bad)
    unknown = [a for a in str(values["settings_apply"]).replace(" ", "").split(",") if a and a not in SETTING_AREAS]
    if unknown:
        bad("settings_apply", f"unknown area(s): {', '.join(unknown)}", f"choose from {', '.join(SETTING_AREAS)}")
    if not ENV_NAME_RE.match(str(values["vault_key_env"])):
        bad("vault_key_env", f"{values['vault_key_env']!r} is not the name of an environment variable",
            "name the variable, e.g. vault_key_env: TENANTMOVE_VAULT_KEY (the key itself is never a parameter)")
    if values["user_mapping"] and not str(values["user_mapping"]).endswith(".csv"):
        bad("user_mapping", f"{values['user_mapping']!r} is not a .csv file", "e.g. parameters/users.csv")
    if values["merge"] and not Path(str(values["merge"])).is_file():
        bad("merge", f"the merge file {values['merge']} does not exist", "give the path of the merge file (e.g. "
            "parameters/merge-demo.yaml), or leave merge empty for a migration of one old tenant")
    production, applies = values["cloud"] != "sandbox", values["dry_run"] is False
    change.problems(values["change"], production, applies, bad)
    approval_policy.problems(values["approval"], production, applies, bad)
    if problems:
        raise ParameterError(problems)
    given = {s.name: values[s.name] for s in SPEC}  # SPEC names every field; a few are refined above
    return Params(**{**given, "domain": domain, "source": tenants["source"], "target": tenants["target"],
                     "dns": dict(dns_cfg), "also_domains": also})


def _dns_problems(section: str, dns_cfg: dict[str, Any], bad: Any) -> None:
    """Each problem of one set of DNS settings (``dns``, or an also_domains entry's ``dns``), reported by ``bad``."""
    _check_keys(section, dns_cfg, DNS_KEYS, f"{section}.tsig_secret_env", bad)
    options = dns_cfg.get("lexicon_options") or {}
    if not isinstance(options, dict):
        bad(f"{section}.lexicon_options", "must be a mapping of option: value", "e.g. lexicon_options: {zone_id: abc}")
        options = {}
    for key in options:  # lexicon's credentials are its auth_* options: only ever from LEXICON_* variables
        if _looks_secret(key) or str(key).lower().startswith("auth"):
            bad(f"{section}.lexicon_options.{key}", "credentials are never parameters",
                f"export LEXICON_{str(dns_cfg.get('lexicon_provider', 'PROVIDER')).upper()}_{str(key).upper()} instead")
    if dns_cfg.get("provider", "auto") not in DNS_PROVIDERS:
        bad(f"{section}.provider", f"must be one of {', '.join(DNS_PROVIDERS)}", "auto picks the sandbox's server or manual")
    for key in ("wait_seconds", "poll_seconds"):
        if key in dns_cfg and (isinstance(dns_cfg[key], bool) or not isinstance(dns_cfg[key], int | float)
                               or dns_cfg[key] <= 0):
            bad(f"{section}.{key}", f"must be a positive number of seconds, not {dns_cfg[key]!r}", f"e.g. dns.{key}: 60")
    if dns_cfg.get("provider") == "rfc2136":
        if not dns_cfg.get("server"):
            bad(f"{section}.server", "missing (provider rfc2136)", "give the primary server, e.g. 192.0.2.53:53")
        if not dns_cfg.get("tsig_file") and not dns_cfg.get("tsig_secret_env"):
            bad(f"{section}.tsig_file", "missing (provider rfc2136)", "give a TSIG key file, or dns.tsig_secret_env")
        elif dns_cfg.get("tsig_file") and not os.access(str(dns_cfg["tsig_file"]), os.R_OK):
            bad(f"{section}.tsig_file", f"cannot read the file {dns_cfg['tsig_file']}", "check the path and permissions")
    if dns_cfg.get("provider") == "lexicon" and not dns_cfg.get("lexicon_provider"):
        bad(f"{section}.lexicon_provider", "missing (provider lexicon)", "name the DNS host, e.g. cloudflare or route53")


def _also_domains(value: Any, domain: str, bad: Any) -> list[dict[str, Any]]:
    """The ``also_domains`` entries as [{domain, dns}]: each a valid domain, none twice nor the ``domain`` itself."""
    if value is None:
        return []
    if not isinstance(value, list):
        bad("also_domains", "must be a list", "e.g. also_domains: [fabrikam-shop.example], or [] for one domain")
        return []
    out, seen = [], {domain}
    for n, entry in enumerate(value):
        where = f"also_domains[{n}]"
        if isinstance(entry, str):
            entry = {"domain": entry}
        if not isinstance(entry, dict) or set(entry) - {"domain", "dns"}:
            bad(where, "must be a domain, or a mapping with the keys domain and dns",
                "e.g. - shop.contoso.com, or - {domain: shop.contoso.com, dns: {provider: manual}}")
            continue
        name = str(entry.get("domain") or "").strip().lower()
        if not DOMAIN_RE.match(name):
            bad(f"{where}.domain", f"{entry.get('domain')!r} is not a valid domain name", "write it like shop.contoso.com")
            continue
        if name in seen:
            bad(f"{where}.domain", f"{name} is named twice", "name each custom domain once (domain, or also_domains)")
            continue
        seen.add(name)
        dns = entry.get("dns") or {}
        if not isinstance(dns, dict):
            bad(f"{where}.dns", "must be a mapping of DNS settings", "the keys are those of dns, e.g. {provider: manual}")
            dns = {}
        _dns_problems(f"{where}.dns", dns, bad)
        out.append({"domain": name, "dns": dict(dns)})
    return out


def _check_keys(section: str, spec: dict[str, Any], known: dict[str, str], secret_param: str, bad: Any) -> bool:
    """Every key of a mapping parameter is known and none carries a secret; False if any is not."""
    ok = True
    for key in spec:
        if _looks_secret(key):
            bad(f"{section}.{key}", "secrets are never parameters",
                f"export the secret in an environment variable and set {secret_param} to its name")
            ok = False
        elif key not in known:
            bad(f"{section}.{key}", "unknown key", f"the keys are: {', '.join(known)}")
            ok = False
    return ok


ONE_APP = ("one app registration per tenant: SharePoint's budget is per app and tenant, and Microsoft's \"Avoid "
           "getting throttled or blocked in SharePoint Online\" names registering more apps to get around it as "
           "abuse (the apps of a tenant draw on the same resources in the end). Remove the key; more worker "
           "processes (cluster) speed up what is limited per mailbox or per user")


def _tenant(side: str, spec: dict[str, Any], bad: Any, check_environment: bool) -> TenantConfig | None:
    if "apps" in spec:
        bad(f"{side}.apps", "several app registrations for one tenant are not used", ONE_APP)
        spec = {k: v for k, v in spec.items() if k != "apps"}
    ok = _check_keys(side, spec, TENANT_KEYS, f"{side}.secret_env", bad)
    tenant = str(spec.get("tenant") or "")
    client_id = str(spec.get("client_id") or "")
    auth = str(spec.get("auth") or "client_secret")
    if not tenant:
        bad(f"{side}.tenant", "missing", "give the tenant id or its onmicrosoft.com domain")
        ok = False
    elif not (GUID_RE.match(tenant) or DOMAIN_RE.match(tenant.lower())):
        bad(f"{side}.tenant", f"{tenant!r} is neither a tenant id nor a domain", "e.g. contoso.onmicrosoft.com")
        ok = False
    if not GUID_RE.match(client_id):
        bad(f"{side}.client_id", f"{client_id!r} is not an application (client) id",
            "copy the Application (client) ID of the app registration (a GUID)")
        ok = False
    if auth not in METHODS:
        bad(f"{side}.auth", f"must be one of {', '.join(METHODS)}, not {auth!r}", "see parameters/example.yaml")
        return None
    secret_env = str(spec.get("secret_env") or "")
    cert = str(spec.get("certificate_file") or "")
    cert_pw = str(spec.get("certificate_password_env") or "")
    if auth == "client_secret":
        if not ENV_NAME_RE.match(secret_env):
            bad(f"{side}.secret_env", f"{secret_env!r} is not an environment variable name",
                f"e.g. TENANTMOVE_{side.upper()}_SECRET")
            ok = False
        elif check_environment and not os.environ.get(secret_env):
            bad(f"{side}.secret_env", f"environment variable {secret_env} is not set",
                f"export {secret_env}=<client secret of app {client_id}> before running")
            ok = False
    if auth == "certificate" or cert:
        if not cert:
            bad(f"{side}.certificate_file", "missing (auth is certificate)", "give the path of the PEM file")
            ok = False
        elif not os.access(cert, os.R_OK):
            bad(f"{side}.certificate_file", f"cannot read the file {cert}", "check the path and its permissions")
            ok = False
        if cert_pw and check_environment and os.environ.get(cert_pw) is None:
            bad(f"{side}.certificate_password_env", f"environment variable {cert_pw} is not set",
                f"export {cert_pw}=<the key's password>")
            ok = False
    if not ok:
        return None
    return TenantConfig(role=side, tenant=tenant, client_id=client_id, auth=auth, secret_env=secret_env,
                        certificate_file=cert, certificate_password_env=cert_pw)


def absolutize(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make the path parameters absolute (relative to ``base``) so a notebook finds them from anywhere."""
    out = dict(raw)
    for key in ("sandbox_dir", "ca_file", "state_dir", "run_dir", "user_mapping", "merge"):
        if out.get(key):
            out[key] = str((base / str(out[key])).resolve())
    if isinstance(out.get("dns"), dict) and out["dns"].get("tsig_file"):
        out["dns"] = dict(out["dns"], tsig_file=str((base / out["dns"]["tsig_file"]).resolve()))
    for side in ("source", "target"):
        if isinstance(out.get(side), dict) and out[side].get("certificate_file"):
            out[side] = dict(out[side], certificate_file=str((base / out[side]["certificate_file"]).resolve()))
    return out


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]

"""Parameter validation: every bad input is named, located and given a fix."""

from pathlib import Path

import pytest

from tenantmove.errors import ConfigFileError, ParameterError
from tenantmove.runbook.params import SPEC, defaults, load_yaml, validate


def problems(raw: dict, **kw: object) -> list[str]:
    with pytest.raises(ParameterError) as info:
        validate(raw, origin="p.yaml", **kw)
    return [p.one_line() for p in info.value.problems]


def test_defaults_are_valid_with_secrets_in_environment() -> None:
    params = validate(defaults())
    assert params.cloud == "sandbox" and params.dry_run is True


def test_every_problem_is_reported_with_parameter_and_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    raw = defaults()
    raw.update(dry_run="yes", cloud="azure", domain="https://contoso.com", colud="x")
    raw["source"] = dict(raw["source"], secret_env="NOT_SET_ANYWHERE")
    raw["target"] = dict(raw["target"], client_id="not-a-guid")
    lines = problems(raw)
    joined = "\n".join(lines)
    assert "p.yaml: dry_run: must be true or false" in joined
    assert "p.yaml: cloud:" in joined
    assert "p.yaml: domain:" in joined
    assert "p.yaml: colud: unknown parameter" in joined and "'cloud'" in joined
    assert "source.secret_env: environment variable NOT_SET_ANYWHERE is not set" in joined
    assert "target.client_id" in joined
    assert all("HINT:" in line for line in lines)


def test_a_secret_as_parameter_is_refused() -> None:
    raw = defaults()
    raw["source"] = dict(raw["source"], client_secret="hunter2")
    raw["password"] = "x"
    lines = problems(raw)
    assert any("source.client_secret: secrets are never parameters" in line for line in lines)
    assert any("password: secrets are never parameters" in line for line in lines)
    assert not any("hunter2" in line for line in lines)


def test_unreadable_certificate_file(tmp_path: Path) -> None:
    raw = defaults()
    raw["source"] = {"tenant": "contoso.onmicrosoft.com", "client_id": raw["source"]["client_id"],
                     "auth": "certificate", "certificate_file": str(tmp_path / "missing.pem")}
    assert any("source.certificate_file: cannot read the file" in line for line in problems(raw))


def test_same_tenant_twice_is_refused() -> None:
    raw = defaults()
    raw["target"] = dict(raw["target"], tenant=raw["source"]["tenant"])
    assert any("target.tenant" in line for line in problems(raw))


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: demo\nsource:\n  tenant: [unclosed\n")
    with pytest.raises(ConfigFileError) as info:
        load_yaml(bad)
    assert str(bad) in info.value.where and ":" in info.value.where.split(str(bad))[-1]
    with pytest.raises(ConfigFileError, match="cannot read parameter file"):
        load_yaml(tmp_path / "absent.yaml")


def test_spec_names_are_unique() -> None:
    names = [s.name for s in SPEC]
    assert len(names) == len(set(names))


def test_params_is_the_spec_typed() -> None:
    """``Params`` is the typed view of SPEC (for type checkers): the same names, and validation fills each one
    from SPEC, so a parameter is described once."""
    import dataclasses

    from tenantmove.runbook.params import Params

    fields = {f.name: f for f in dataclasses.fields(Params)}
    assert set(fields) - {"extra"} == {s.name for s in SPEC}
    params = validate(defaults(), check_environment=False)
    for spec in SPEC:
        if spec.type is not dict:
            assert getattr(params, spec.name) == spec.default, spec.name


def test_dns_settings_are_checked() -> None:
    raw = defaults()
    raw["dns"] = {"provider": "rfc2136", "tsig_secret": "abc", "colour": "x", "wait_seconds": -1}
    joined = "\n".join(problems(raw))
    assert "dns.tsig_secret: secrets are never parameters" in joined and "dns.tsig_secret_env" in joined
    assert "dns.colour: unknown key" in joined
    assert "dns.wait_seconds: must be a positive number" in joined
    assert "dns.server: missing (provider rfc2136)" in joined
    raw["dns"] = {"provider": "lexicon"}
    assert any("dns.lexicon_provider: missing" in line for line in problems(raw))
    raw["dns"] = {"provider": "lexicon", "lexicon_provider": "cloudflare",
                  "lexicon_options": {"zone_id": "z1", "auth_token": "leaky-token-value"}}
    lines = problems(raw)
    assert any("dns.lexicon_options.auth_token: credentials are never parameters" in line
               and "LEXICON_CLOUDFLARE_AUTH_TOKEN" in line for line in lines)
    assert not any("leaky-token-value" in line for line in lines) and not any("zone_id" in line for line in lines)
    raw["dns"] = {"provider": "carrier-pigeon"}
    assert any("dns.provider: must be one of" in line for line in problems(raw))


def test_a_migrations_other_domains_each_with_its_own_dns() -> None:
    raw = {**defaults(), "also_domains": ["Shop.Contoso.Example", {"domain": "contoso.co.example",
                                                                   "dns": {"provider": "manual"}}]}
    params = validate(raw)
    assert params.domains == ["contoso.example", "shop.contoso.example", "contoso.co.example"]
    assert params.dns_of("contoso.co.example") == {"provider": "manual"}
    assert params.dns_of("shop.contoso.example") == {"provider": "auto"}  # dns's, without its zone
    raw["also_domains"] = ["contoso.example", {"domain": "x.example", "dns": {"provider": "pigeon"}}, {"zone": "z"},
                           "not a domain"]
    joined = "\n".join(problems(raw))
    assert "also_domains[0].domain: contoso.example is named twice" in joined
    assert "also_domains[1].dns.provider: must be one of" in joined
    assert "also_domains[2]: must be a domain, or a mapping with the keys domain and dns" in joined
    assert "also_domains[3].domain: 'not a domain' is not a valid domain name" in joined


@pytest.mark.parametrize("value, needle", [("4", "must be a whole number"), (True, "must be a whole number"),
                                           (0, "between 1 and 32"), (64, "between 1 and 32")])
def test_workers_must_be_a_sensible_whole_number(value: object, needle: str) -> None:
    assert any(needle in line and "workers" in line for line in problems(dict(defaults(), workers=value)))


@pytest.mark.parametrize("value", [0, 59, 86401])
def test_the_ttl_after_the_cutover_must_be_a_real_ttl(value: int) -> None:
    assert any("dns_ttl_after: must be between 60 and 86400 seconds" in line and "HINT:" in line
               for line in problems(dict(defaults(), dns_ttl_after=value)))


@pytest.mark.parametrize("change, said", [
    ({"holding_mx": "10.0.0.5:25"}, "holding_mx: '10.0.0.5:25' is not a host name"),
    ({"pass_start": "Monday 8:00"}, "pass_start: 'Monday 8:00' is not a UTC date and time"),
    ({"pass_start": "2027-01-11T07:00:00"}, "is not a UTC date and time"),  # no zone: which 07:00?
    ({"pass_lifetime_minutes": 5}, "pass_lifetime_minutes: must be between 10 and 43200 minutes"),
    ({"announce_from": "it"}, "announce_from: 'it' is not a user's sign-in name or address"),
    ({"announce_from": "it@contoso.com"}, "announce_when: is empty, but announce_from sends an announcement"),
])
def test_the_mail_window_and_first_day_parameters_are_checked_before_anything(change: dict, said: str) -> None:
    assert any(said in line and "HINT:" in line for line in problems(dict(defaults(), **change)))


def test_a_pass_start_and_a_holding_mx_are_kept_in_one_form() -> None:
    from tenantmove.runbook.params import validate

    params = validate(dict(defaults(), pass_start="2027-01-11T08:00:00+01:00", holding_mx="MX-Hold.Example.NET."),
                      origin="test")
    assert params.pass_start == "2027-01-11T07:00:00Z" and params.holding_mx == "mx-hold.example.net"


def test_the_default_state_folder_is_the_same_wherever_a_run_starts(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tenantmove.paths import default_state_dir

    monkeypatch.delenv("TENANTMOVE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    here = default_state_dir("acme")
    (tmp_path / "run-folder").mkdir()
    monkeypatch.chdir(tmp_path / "run-folder")  # a notebook opened by hand runs in its run folder
    assert default_state_dir("acme") == here and here.is_absolute() and tmp_path not in here.parents
    monkeypatch.setenv("TENANTMOVE_HOME", str(tmp_path / "home"))
    assert default_state_dir("acme") == tmp_path / "home" / "state" / "acme"


def test_each_phase_module_reads_only_the_parameters_its_notebook_takes() -> None:
    """A phase that read a parameter its notebook does not take would silently get the default: every
    ``params.X`` in a phase module (and in the reconciliation it registers for phase 90) is tagged for it."""
    import re

    from tenantmove.paths import project_root
    from tenantmove.phases.checks import PHASE_OF
    from tenantmove.runbook.params import specs_for

    wrong = []
    for module, phase in PHASE_OF.items():
        text = (project_root() / "lib" / "tenantmove" / "phases" / f"{module}.py").read_text(encoding="utf-8")
        used = set(re.findall(r"params\.([a-z_]+)", text)) - {"public"}
        used = {"also_domains" if name == "domains" else name for name in used}  # the property reads also_domains
        own = {s.name for s in specs_for(phase)}
        wrong += [f"{module}: {name}" for name in sorted(used - own)]
    assert not wrong, wrong
    assert {s.name for s in specs_for("90_verify_and_close")} >= {"dns", "settings_apply"}  # its registered checks


def test_the_way_back_refuses_a_migration_of_several_domains_in_one_line() -> None:
    from types import SimpleNamespace

    from tenantmove.phases.rollback_domain import RollbackRefused, plan

    params = validate({**defaults(), "also_domains": ["shop.contoso.example"]})
    phase = SimpleNamespace(params=params, id="25_rollback_domain")  # refused before anything is read
    with pytest.raises(RollbackRefused) as info:
        plan(phase, None, None, None, None)  # type: ignore[arg-type]
    line = info.value.one_line()
    assert "moves 2 custom domains (contoso.example, shop.contoso.example)" in line and "also_domains" in line


@pytest.mark.parametrize("value, ok", [("", True), ("local:4", True), ("tcp://10.0.0.5:8786", True),
                                       ("scheduler:8786", True), ("local:0", False), ("local:many", False),
                                       ("my cluster", False)])
def test_the_cluster_is_this_machine_local_processes_or_a_schedulers_address(value: str, ok: bool) -> None:
    raw = {**defaults(), "cluster": value}
    if ok:
        assert validate(raw).cluster == value
    else:
        assert any(line.startswith("p.yaml: cluster:") and "HINT" in line for line in problems(raw))


def test_several_app_registrations_for_one_tenant_are_refused_with_the_reason() -> None:
    raw = defaults()
    raw["source"] = {**raw["source"], "apps": [{"client_id": "a"}, {"client_id": "b"}]}
    joined = "\n".join(problems(raw))
    assert "source.apps: several app registrations for one tenant are not used" in joined
    assert "per app and tenant" in joined and "abuse" in joined and "source.apps: unknown key" not in joined

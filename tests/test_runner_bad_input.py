"""Bad input: a one-line error naming the parameter or file and the fix, a non-zero exit, nothing
executed, and run.json recording the failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantmove.engine import Ledger
from tenantmove.sandbox import Sandbox

from .runner_helpers import only_run, run_json, tenantmove, write_params


def assert_refused(proc, runs: Path, *needles: str) -> None:  # noqa: ANN001
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("tenantmove:")]
    assert len(lines) >= 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    assert "HINT" in proc.stderr
    record = run_json(only_run(runs))
    assert record["status"] == "failed"
    assert all(n in record["error"] for n in needles)
    assert not list(only_run(runs).glob("*.ipynb"))  # nothing was executed


def test_missing_parameter_file(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = tenantmove("run", str(tmp_path / "nope.yaml"), "--runs-dir", str(runs), cwd=tmp_path)
    assert_refused(proc, runs, "nope.yaml", "cannot read parameter file")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: demo\nsource:\n  tenant: [oops\n")
    proc = tenantmove("run", str(bad), "--runs-dir", str(runs), cwd=tmp_path)
    assert_refused(proc, runs, "bad.yaml:", "not valid YAML")


def test_unknown_phase(sandbox: Sandbox, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = tenantmove("run", str(write_params(tmp_path, sandbox)), "--phases", "00,15", "--runs-dir", str(runs),
                      cwd=tmp_path)
    assert_refused(proc, runs, "--phases", "unknown phase '15'", "00_prepare")


@pytest.mark.parametrize("change,needles", [
    ({"dry_run": "yes"}, ["dry_run", "must be true or false"]),
    ({"domian": "contoso.example"}, ["domian", "unknown parameter", "'domain'"]),
    ({"domain": "not a domain"}, ["domain", "not a valid domain name"]),
    ({"source": {"secret_env": "TENANTMOVE_NOT_SET_ANYWHERE"}},
     ["source.secret_env", "TENANTMOVE_NOT_SET_ANYWHERE is not set"]),
    ({"target": {"client_secret": "oops-a-secret"}}, ["target.client_secret", "secrets are never parameters"]),
    ({"ca_file": "/nonexistent/ca.pem"}, ["ca_file", "cannot read the file /nonexistent/ca.pem"]),
    ({"source": {"auth": "certificate", "certificate_file": "/nonexistent/app.pem"}},
     ["source.certificate_file", "cannot read the file"]),
    ({"source": {"tenant": "nosuchtenant.onmicrosoft.com"}}, ["source.tenant", "does not exist"]),
])
def test_bad_parameters(sandbox: Sandbox, tmp_path: Path, change: dict, needles: list[str]) -> None:
    runs = tmp_path / "runs"
    proc = tenantmove("run", str(write_params(tmp_path, sandbox, **change)), "--runs-dir", str(runs), cwd=tmp_path)
    assert_refused(proc, runs, *needles)
    assert "oops-a-secret" not in proc.stderr + (only_run(runs) / "run.json").read_text()


def test_sandbox_not_running(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = tenantmove("run", str(write_params(tmp_path, None)), "--runs-dir", str(runs), cwd=tmp_path)
    assert_refused(proc, runs, "sandbox is not running", "make sandbox")


@pytest.mark.parametrize("bound, needle", [
    ({"id": "11111111-2222-4333-8444-555555555555", "created": ""}, "not 7f6e5d4c"),
    ({"id": None, "created": "2020-01-01T00:00:00Z"}, "another tenant with the same id (a fresh sandbox?)"),
])
def test_a_state_folder_of_other_tenants_is_refused_before_any_phase(sandbox: Sandbox, tmp_path: Path,
                                                                      bound: dict, needle: str) -> None:
    runs = tmp_path / "runs"
    params = write_params(tmp_path, sandbox)
    source_id = next(t["id"] for t in sandbox.endpoints["tenants"] if t["initial_domain"] == "contoso.onmicrosoft.com")
    with Ledger.in_state_dir(tmp_path / "state") as ledger:  # as an earlier migration (or sandbox) left it
        ledger.bind_tenant("source", bound["id"] or source_id, bound["created"])
    proc = tenantmove("run", str(params), "--runs-dir", str(runs), cwd=tmp_path)
    assert_refused(proc, runs, "source tenant", "state_dir")
    assert needle.replace("7f6e5d4c", source_id[:8]) in proc.stderr


def mapping_file(tmp_path: Path, text: str | bytes) -> str:
    path = tmp_path / "users.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


HEADER = "source_upn,target_upn,display_name,usage_location,licences,groups,action\n"


@pytest.mark.parametrize("make, needles", [
    (lambda tmp: str(tmp / "no-such-users.csv"), ["user_mapping", "does not exist", "leave user_mapping empty"]),
    (lambda tmp: mapping_file(tmp, HEADER), ["user_mapping", "no users (only its header)"]),
    (lambda tmp: mapping_file(tmp, ""), ["user_mapping", "is empty"]),
    (lambda tmp: mapping_file(tmp, HEADER.replace(",", ";") + "a@contoso.example;a@contoso.example;;;;;move\n"),
     ["user_mapping", "separated by ';'"]),
])
def test_a_bad_user_mapping_is_refused_before_any_phase(sandbox: Sandbox, tmp_path: Path, make: object,
                                                         needles: list[str]) -> None:
    runs = tmp_path / "runs"
    params = write_params(tmp_path, sandbox, user_mapping=make(tmp_path))  # type: ignore[operator]
    proc = tenantmove("run", str(params), "--runs-dir", str(runs), cwd=tmp_path)
    assert_refused(proc, runs, *needles)
    assert not (tmp_path / "state" / "users.csv").exists()  # never replaced by a generated one


@pytest.mark.parametrize("missing", ["domain", "source", "target"])
def test_a_parameter_file_names_the_tenants_and_the_domain(sandbox: Sandbox, tmp_path: Path, missing: str) -> None:
    runs = tmp_path / "runs"
    proc = tenantmove("run", str(write_params(tmp_path, sandbox, **{missing: None})), "--runs-dir", str(runs),
                      cwd=tmp_path)
    assert_refused(proc, runs, f"{missing}: {missing} is missing")


@pytest.mark.parametrize("dns, env, needles", [
    ({"tsig_secret_env": "TM_TSIG_UNSET_ANYWHERE"}, {}, ["dns.tsig_secret_env", "TM_TSIG_UNSET_ANYWHERE is not set"]),
    ({"tsig_secret_env": "TM_TSIG_WRONG", "key_name": "tenantmove."}, {"TM_TSIG_WRONG": "d3Jvbmcta2V5LXNlY3JldA=="},
     ["does not accept the TSIG key", "tenantmove."]),
    ({"provider": "rfc2136", "server": "127.0.0.1:9", "tsig_file": "KEY"}, {}, ["dns.server", "cannot reach"]),
    ({"tsig_file": "NOTJSON"}, {}, ["dns.tsig_file", "not a TSIG key in JSON"]),
])
def test_dns_credentials_are_checked_up_front_even_in_the_sandbox(sandbox: Sandbox, tmp_path: Path, dns: dict,
                                                                  env: dict, needles: list[str]) -> None:
    runs = tmp_path / "runs"
    bad_key = tmp_path / "key.json"
    bad_key.write_text('{"name": "k.", "secret": ')
    dns = {k: {"KEY": sandbox.endpoints["dns"]["tsig_file"], "NOTJSON": str(bad_key)}.get(v, v) for k, v in dns.items()}
    dns_before = sandbox.admin("GET", "dns")
    proc = tenantmove("run", str(write_params(tmp_path, sandbox, dns=dns)), "--runs-dir", str(runs), cwd=tmp_path,
                      env=env)
    assert_refused(proc, runs, *needles)
    assert sandbox.admin("GET", "dns") == dns_before


def test_phases_that_name_nothing_are_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = tenantmove("run", str(write_params(tmp_path, sandbox)), "--phases", ",", "--runs-dir", str(runs),
                      cwd=tmp_path)
    assert_refused(proc, runs, "--phases", "names no phase")


def test_a_parameter_file_that_is_not_utf8(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: d\xe9mo\n".encode("latin-1"))
    proc = tenantmove("run", str(bad), "--runs-dir", str(runs), cwd=tmp_path)
    assert_refused(proc, runs, "latin1.yaml", "not UTF-8")


def test_a_runs_folder_that_cannot_be_written(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    proc = tenantmove("run", str(write_params(tmp_path, sandbox)), "--runs-dir", str(tmp_path / "a-file" / "runs"),
                      cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--runs-dir: cannot create a run folder" in proc.stderr and "HINT" in proc.stderr


def test_a_completed_run_is_not_resealed_under_another_parameter_file(sandbox: Sandbox, tmp_path: Path) -> None:
    import json

    run_dir = tmp_path / "runs" / "20260101T000000Z-demo"
    run_dir.mkdir(parents=True)
    params = write_params(tmp_path, sandbox)
    sealed = {"run_id": "r", "status": "completed", "operator": "alice", "phases": [], "tenants": {},
              "parameter_file": {"path": "other.yaml", "sha256": "0" * 64}}
    (run_dir / "run.json").write_text(json.dumps(sealed))
    proc = tenantmove("run", str(params), "--resume", str(run_dir), cwd=tmp_path)
    assert proc.returncode == 2 and "its record is sealed" in proc.stderr and "HINT" in proc.stderr
    assert json.loads((run_dir / "run.json").read_text()) == sealed  # untouched


def test_an_empty_parameter_file_says_so(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    proc = tenantmove("run", str(empty), "--runs-dir", str(runs), cwd=tmp_path)
    assert_refused(proc, runs, "empty.yaml", "the parameter file is empty", "parameters/example.yaml")
    assert "sandbox" not in proc.stderr.split("HINT")[0]  # not blamed on a sandbox that is not running


def test_a_state_folder_that_cannot_be_written_is_refused_before_any_phase(sandbox: Sandbox, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (tmp_path / "a-file").write_text("")
    params = write_params(tmp_path, sandbox, state_dir=str(tmp_path / "a-file" / "state"))
    proc = tenantmove("run", str(params), "--runs-dir", str(runs), cwd=tmp_path)
    assert_refused(proc, runs, "state_dir", "cannot be written", "write access")

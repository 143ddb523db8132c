"""The old tenant's devices against the sandbox: listed with what each needs (a part that cannot be read is named,
the rest goes on), and the Autopilot moves as manual items in the documented order: an import while the old tenant
still holds the device fails (806), the admin's script deregisters first and then imports, and the next run reads
both tenants back."""

from __future__ import annotations

from pathlib import Path

from tenantmove.engine import Engine, Ledger
from tenantmove.sandbox import Sandbox
from tenantmove.sandbox.devices import hardware_hash
from tenantmove.workloads import devices

from .conftest import SOURCE_APP, TARGET_APP, make_client

OLD, NEW = "contoso.onmicrosoft.com", "contosonew.onmicrosoft.com"


def test_every_device_is_listed_with_what_it_needs_and_a_part_not_readable_is_named(fresh_sandbox: Sandbox) -> None:
    _, old = make_client(fresh_sandbox, "source")
    table, gaps = devices.collect(old)
    assert not gaps
    rows = table.set_index("device")
    assert list(rows.loc["MB-LAPTOP-01", ["owner", "join", "intune", "autopilot serial"]]) == [
        "megan.bowen@contoso.example", "Entra-joined", "yes", "5CG1234ABC"]
    assert rows.loc["Alex iPhone", "join"] == "registered" and "add the new one" in rows.loc["Alex iPhone", "needs"]
    assert "retire it from the old Intune" in rows.loc["Alex iPhone", "needs"]
    assert rows.loc["AW-HOME-PC", "intune"] == "no" and rows.loc["RECEPTION-PC", "owner"] == ""
    lines = devices.letter_lines(table)
    assert len(lines["alex.wilber@contoso.example"]) == 2
    assert lines["megan.bowen@contoso.example"] == [("MB-LAPTOP-01", "Entra-joined", "Windows", ("autopilot", "intune"))]
    roles = fresh_sandbox.admin("PATCH", f"apps/{SOURCE_APP}", json={})["roles"]
    fresh_sandbox.admin("PATCH", f"apps/{SOURCE_APP}",
                        json={"roles": [r for r in roles if r != "DeviceManagementManagedDevices.Read.All"]})
    try:
        _, old = make_client(fresh_sandbox, "source")
        partial, gaps = devices.collect(old)
    finally:
        fresh_sandbox.admin("PATCH", f"apps/{SOURCE_APP}", json={"roles": roles})
    assert gaps == ["deviceManagement/managedDevices: 403 Authorization_RequestDenied"] and len(partial) == 4
    assert set(partial["intune"]) == {"no"}


def test_autopilot_moves_deregistered_first_then_imported_and_read_back(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    _, old = make_client(fresh_sandbox, "source")
    _, new = make_client(fresh_sandbox, "target")
    table, _ = devices.collect(old)
    roles = fresh_sandbox.admin("PATCH", f"apps/{TARGET_APP}", json={})["roles"]
    fresh_sandbox.admin("PATCH", f"apps/{TARGET_APP}", json={"roles": [*roles, "DeviceManagementServiceConfig.ReadWrite.All"]})
    try:  # an import while the old tenant still holds the device: the service refuses it
        _, admin = make_client(fresh_sandbox, "target")
        refused = admin.post("deviceManagement/importedWindowsAutopilotDeviceIdentities",
                             {"serialNumber": "5CG1234ABC", "hardwareIdentifier": hardware_hash("5CG1234ABC")})
    finally:
        fresh_sandbox.admin("PATCH", f"apps/{TARGET_APP}", json={"roles": roles})
    assert (refused["state"]["deviceImportStatus"], refused["state"]["deviceErrorCode"]) == ("error", 806)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        engine = Engine(ledger, "40", folder=tmp_path / "40")
        first = engine.run(devices.AutopilotMove(old, new, table, OLD, NEW), dry_run=False)
        assert first.counts() == {"manual": 2} and first.script is not None
        script = first.script.read_text()
        assert script.index("Remove-MgDeviceManagementWindowsAutopilotDeviceIdentity") < script.index(
            "New-MgDeviceManagementImportedWindowsAutopilotDeviceIdentity -SerialNumber '5CG1234ABC'")
        assert "Get-WindowsAutopilotInfo -OutputFile" in script
        done = fresh_sandbox.admin("POST", f"powershell/{NEW}", data=script.encode())["done"]
        assert "deregistered 5CG1234ABC from contoso.onmicrosoft.com" in done
        assert "imported 5CG1234ABC into contosonew.onmicrosoft.com" in done
        second = engine.run(devices.AutopilotMove(old, new, table, OLD, NEW), dry_run=False)
        assert second.counts() == {"done by the admin": 2}
    assert not old.get("deviceManagement/windowsAutopilotDeviceIdentities")["value"]
    assert {d["serialNumber"] for d in new.get("deviceManagement/windowsAutopilotDeviceIdentities")["value"]} == {
        "5CG1234ABC", "PF3XYZ12"}

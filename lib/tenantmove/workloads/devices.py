"""The old tenant's devices: none of them can follow the tenant. Phase 00 lists them and plans each:

- Entra-joined (``trustType`` AzureAd): back up, leave the old tenant, join the new one (or reset it);
- registered (Workplace): remove the old work account, add the new one;
- hybrid-joined (ServerAd): follows the on-premises directory's Entra Connect, not this runbook;
- Intune-managed: retired from the old Intune once its person has their data, enrolled in the new one;
- Windows Autopilot: the hardware hash is exported on the device (Graph never shows it), the device is deregistered
  from the old tenant and only then imported into the new one (a device is registered in one tenant at a time),
  then reset. That is a manual item per device (:class:`AutopilotMove`), read back in both tenants on each run.

Each person's letter lists what their devices need (:func:`letter_lines`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload
from ..engine.manual import ps_quote
from ..services.graph import GraphClient, GraphError, path

COLUMNS = ["device", "owner", "join", "os", "intune", "autopilot serial", "autopilot id", "needs", "steps"]
STATE_FILE = "devices.csv"  # in the state folder: phase 00's list, for phase 40's items and the letters
JOIN = {"AzureAd": "Entra-joined", "Workplace": "registered", "ServerAd": "hybrid-joined"}
AUTOPILOT = "deviceManagement/windowsAutopilotDeviceIdentities"


def _read(client: GraphClient, what: str, params: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], str]:
    try:
        return list(client.get_all(what, params or {})), ""
    except GraphError as exc:
        return [], f"{what}: {exc.status} {exc.code}"


def collect(old: GraphClient) -> tuple[pd.DataFrame, list[str]]:
    """Every device of the old tenant with what it needs; the parts that could not be read (a missing permission,
    no Intune licence), each named."""
    devices, gap1 = _read(old, "devices", {"$select": "id,deviceId,displayName,operatingSystem,trustType"})
    managed, gap2 = _read(old, "deviceManagement/managedDevices")
    pilots, gap3 = _read(old, AUTOPILOT)
    by_aad = {str(m.get("azureADDeviceId")): m for m in managed}
    pilot_by_aad = {str(p.get("azureActiveDirectoryDeviceId")): p for p in pilots if p.get("azureActiveDirectoryDeviceId")}
    rows, seen_pilots = [], set()
    for device in devices:
        owners, _ = _read(old, path("devices", device["id"], "registeredOwners"))
        owner = str(owners[0].get("userPrincipalName") or "") if owners else ""
        m = by_aad.get(str(device.get("deviceId")))
        pilot = pilot_by_aad.get(str(device.get("deviceId")))
        if pilot is not None:
            seen_pilots.add(pilot["id"])
        rows.append(_row(str(device.get("displayName")), owner or str((m or {}).get("userPrincipalName") or ""),
                         JOIN.get(str(device.get("trustType")), str(device.get("trustType"))),
                         str(device.get("operatingSystem") or ""), m is not None, pilot))
    for pilot in pilots:  # registered in Autopilot, never joined yet
        if pilot["id"] not in seen_pilots:
            rows.append(_row(f"(Autopilot {pilot.get('serialNumber')})", str(pilot.get("userPrincipalName") or ""),
                             "not joined", "Windows", False, pilot))
    return pd.DataFrame(rows, columns=COLUMNS), [g for g in (gap1, gap2, gap3) if g]


# what a device needs, by step: the plan's words (a letter says the same in the person's language)
NEEDS = {
    "autopilot": "Autopilot: its hash is exported on it, it is deregistered from the old tenant and imported into the "
                 "new one (phase 40's manual item), then it is reset and joins the new tenant",
    "rejoin": "back up its local files, leave the old organisation (Settings > Accounts > Access work or school > "
              "Disconnect) and join the new one, or reset it",
    "account": "remove the old work account (Settings > Accounts > Access work or school, or the phone's Company "
               "Portal) and add the new one",
    "hybrid": "hybrid-joined: it follows your on-premises directory's Entra Connect, not this runbook",
    "intune": "retire it from the old Intune once its person has their data, then enrol it in the new one",
}


def _row(name: str, owner: str, join: str, os: str, intune: bool, pilot: dict[str, Any] | None) -> dict[str, Any]:
    steps = ["autopilot"] if pilot is not None else \
        {"Entra-joined": ["rejoin"], "registered": ["account"], "hybrid-joined": ["hybrid"]}.get(join, [])
    steps += ["intune"] if intune else []
    return {"device": name, "owner": owner, "join": join, "os": os, "intune": "yes" if intune else "no",
            "autopilot serial": str((pilot or {}).get("serialNumber") or ""),
            "autopilot id": str((pilot or {}).get("id") or ""), "needs": "; ".join(NEEDS[s] for s in steps),
            "steps": " ".join(steps)}


def save(state_dir: Path, table: pd.DataFrame) -> None:
    table.to_csv(Path(state_dir) / STATE_FILE, index=False)


def load(state_dir: Path) -> pd.DataFrame | None:
    file = Path(state_dir) / STATE_FILE
    return pd.read_csv(file, dtype=str, keep_default_na=False) if file.is_file() else None


def letter_lines(table: pd.DataFrame | None) -> dict[str, list[tuple[str, str, str, tuple[str, ...]]]]:
    """Per owner (old UPN, lower case): each device as (name, join, os, its steps), for the letter to say in the
    person's language."""
    out: dict[str, list[tuple[str, str, str, tuple[str, ...]]]] = {}
    for _, row in (table if table is not None else pd.DataFrame(columns=COLUMNS)).iterrows():
        if row["owner"]:
            out.setdefault(str(row["owner"]).lower(), []).append(
                (str(row["device"]), str(row["join"]), str(row["os"]), tuple(str(row.get("steps", "")).split())))
    return out


class AutopilotMove(Workload):
    """One manual item per Autopilot device of the old tenant, in the documented order; done once the old tenant
    no longer lists its serial number and the new one does."""

    kind = "autopilot"
    title = "Windows Autopilot devices"
    manual_shell = "PowerShell with the Microsoft.Graph modules, as an Intune administrator"

    def __init__(self, old: GraphClient, new: GraphClient, table: pd.DataFrame, old_tenant: str,
                 new_tenant: str) -> None:
        self.old, self.new, self.table = old, new, table
        self.old_tenant, self.new_tenant = old_tenant, new_tenant
        self.in_old: set[str] = set()
        self.in_new: set[str] | None = set()

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for _, row in self.table[self.table["autopilot serial"] != ""].iterrows():
            yield Work(str(row["autopilot serial"]), str(row["device"]), detail={"owner": row["owner"]},
                       data=(str(row["autopilot serial"]), str(row["autopilot id"]), str(row["device"])))

    def begin(self, todo: list[Work]) -> None:
        self.in_old = {str(p.get("serialNumber")) for p in _read(self.old, AUTOPILOT)[0]}
        found, gap = _read(self.new, AUTOPILOT)
        self.in_new = None if gap else {str(p.get("serialNumber")) for p in found}

    def find(self, work: Work) -> str | None:
        serial = work.data[0]
        return serial if self.in_new is not None and serial in self.in_new and serial not in self.in_old else None

    def apply(self, work: Work, existing: str | None) -> Applied | ManualStep:
        serial, ident, device = work.data
        if existing is not None:
            return Applied(serial, "done by the admin", note="the new tenant holds it, the old one no longer does")
        hash_file = f"C:\\hash-{serial}.csv"
        commands = [f"# 1. on {device} (Windows PowerShell as administrator): Install-Script Get-WindowsAutopilotInfo; "
                    f"Get-WindowsAutopilotInfo -OutputFile {hash_file}"]
        if serial in self.in_old:
            commands += [f"Connect-MgGraph -TenantId {ps_quote(self.old_tenant)} -Scopes "
                         "DeviceManagementServiceConfig.ReadWrite.All",
                         f"Remove-MgDeviceManagementWindowsAutopilotDeviceIdentity -WindowsAutopilotDeviceIdentityId "
                         f"{ps_quote(ident)}"]
        commands += [f"Connect-MgGraph -TenantId {ps_quote(self.new_tenant)} -Scopes "
                     "DeviceManagementServiceConfig.ReadWrite.All",
                     f"New-MgDeviceManagementImportedWindowsAutopilotDeviceIdentity -SerialNumber {ps_quote(serial)} "
                     f"-HardwareIdentifierInputFile {ps_quote(hash_file)}",
                     f"# 4. assign a deployment profile in the new tenant, then reset {device} (Settings > System > "
                     "Recovery > Reset this PC)"]
        state = "deregistered from the old tenant; " if serial not in self.in_old else ""
        unread = "" if self.in_new is not None else " (the new tenant's Autopilot list could not be read: grant "\
                                                     "DeviceManagementServiceConfig.Read.All to read it back)"
        return ManualStep(serial, f"move {device} (Autopilot serial {serial}): {state}deregister from the old "
                                  f"tenant first, then import into the new one{unread}", commands,
                          check="the old tenant's Autopilot list no longer has the serial number, the new one's has")

"""The tenants' devices, as Entra ID, Intune and Windows Autopilot show them:

- ``GET devices`` (Entra ID: ``trustType`` AzureAd for joined, Workplace for registered, ServerAd for hybrid) and
  ``devices/{id}/registeredOwners``;
- ``GET deviceManagement/managedDevices`` (Intune), for a tenant whose licences carry Intune;
- ``GET``/``DELETE deviceManagement/windowsAutopilotDeviceIdentities`` and ``POST
  deviceManagement/importedWindowsAutopilotDeviceIdentities``. A device is registered in one tenant at a time: an
  import of a serial number another tenant still holds ends in ``deviceImportStatus: error`` with
  ``deviceErrorCode: 806`` (ZtdDeviceAssignedToOtherTenant), so the documented order is to deregister it from the
  old tenant first. The hardware hash is never readable through Graph: it is exported from the device itself.

Seed (per tenant, ``devices:``): ``name``, ``os``, ``version``, ``trust`` (AzureAd | Workplace | ServerAd),
``owner`` (a UPN), ``intune`` (managed), ``autopilot`` (``serial``, ``model``, ``manufacturer``).

The stand-in admin's PowerShell: ``Remove-MgDeviceManagementWindowsAutopilotDeviceIdentity
-WindowsAutopilotDeviceIdentityId`` and ``New-MgDeviceManagementImportedWindowsAutopilotDeviceIdentity
-SerialNumber -HardwareIdentifierInputFile`` (the hash file made on the device: the sandbox knows each device's
hash)."""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import uuid
from typing import Any

from .http import Request, Response
from .shapes import GraphFailure
from .state import Store, Tenant, now_iso

DEVICES_RE = re.compile(r"^devices(?:/([^/]+)(?:/(registeredOwners))?)?$")
MANAGED_RE = re.compile(r"^deviceManagement/managedDevices$")
AUTOPILOT_RE = re.compile(r"^deviceManagement/windowsAutopilotDeviceIdentities(?:/([^/]+))?$")
IMPORTED_RE = re.compile(r"^deviceManagement/importedWindowsAutopilotDeviceIdentities(?:/([^/]+))?$")
READ_DEVICES = {"Device.Read.All", "Directory.Read.All", "Device.ReadWrite.All"}
READ_MANAGED = {"DeviceManagementManagedDevices.Read.All", "DeviceManagementManagedDevices.ReadWrite.All"}
READ_AUTOPILOT = {"DeviceManagementServiceConfig.Read.All", "DeviceManagementServiceConfig.ReadWrite.All"}
WRITE_AUTOPILOT = {"DeviceManagementServiceConfig.ReadWrite.All"}
INTUNE_SKUS = {"O365_BUSINESS_PREMIUM"}  # Microsoft 365 Business Premium carries Intune


def hardware_hash(serial: str) -> str:
    """A device's hardware hash as its own export gives it (base64), derived from its serial number here."""
    return base64.b64encode(hashlib.shake_256(f"hash:{serial}".encode()).digest(96)).decode()


def _need(granted: set[str], wanted: set[str]) -> None:
    if not granted & wanted:
        raise GraphFailure(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


class DevicesApi:
    def __init__(self, store: Store, count: Any) -> None:
        self.store, self.count = store, count
        self.reset()

    def reset(self) -> None:
        self.devices: dict[str, dict[str, dict[str, Any]]] = {}  # tenant id -> device id -> device
        self.managed: dict[str, list[dict[str, Any]]] = {}
        self.autopilot: dict[str, dict[str, dict[str, Any]]] = {}  # tenant id -> id -> identity
        self.imports: dict[str, dict[str, dict[str, Any]]] = {}
        self.owners: dict[str, str] = {}  # device id -> owner's user id
        specs = {t["id"]: t for t in self.store.seed["tenants"]}
        for tenant in self.store.tenants.values():
            self.devices[tenant.id], self.managed[tenant.id] = {}, []
            self.autopilot[tenant.id], self.imports[tenant.id] = {}, {}
            for spec in specs.get(tenant.id, {}).get("devices") or []:
                self._seed(tenant, spec)

    def _seed(self, tenant: Tenant, spec: dict[str, Any]) -> None:
        owner = tenant.find_user(str(spec.get("owner") or "")) if spec.get("owner") else None
        device_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant.id}/device/{spec['name']}"))
        device = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant.id}/object/{spec['name']}")),
                  "deviceId": device_id, "displayName": spec["name"], "operatingSystem": spec.get("os", "Windows"),
                  "operatingSystemVersion": str(spec.get("version", "")), "trustType": spec.get("trust", "AzureAd"),
                  "accountEnabled": True, "isManaged": bool(spec.get("intune")), "isCompliant": bool(spec.get("intune")),
                  "registrationDateTime": "2023-05-02T08:00:00Z", "approximateLastSignInDateTime": now_iso(),
                  "manufacturer": (spec.get("autopilot") or {}).get("manufacturer"),
                  "model": (spec.get("autopilot") or {}).get("model")}
        self.devices[tenant.id][device["id"]] = device
        if owner is not None:
            self.owners[device["id"]] = owner["id"]
        if spec.get("intune"):
            self.managed[tenant.id].append({
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant.id}/managed/{spec['name']}")),
                "deviceName": spec["name"], "operatingSystem": device["operatingSystem"],
                "osVersion": device["operatingSystemVersion"], "azureADDeviceId": device_id,
                "userPrincipalName": owner["userPrincipalName"] if owner else None,
                "managedDeviceOwnerType": "company", "managementAgent": "mdm", "complianceState": "compliant",
                "enrolledDateTime": "2023-05-02T08:10:00Z",
                "serialNumber": (spec.get("autopilot") or {}).get("serial", "")})
        if spec.get("autopilot"):
            pilot = spec["autopilot"]
            self._register(tenant, str(pilot["serial"]), pilot.get("model"), pilot.get("manufacturer"),
                           owner["userPrincipalName"] if owner else "", device_id, str(pilot.get("group_tag", "")))

    def _register(self, tenant: Tenant, serial: str, model: Any, manufacturer: Any, upn: str, aad_id: str,
                  group_tag: str) -> dict[str, Any]:
        identity = {"id": str(uuid.uuid4()), "serialNumber": serial, "model": model, "manufacturer": manufacturer,
                    "groupTag": group_tag, "userPrincipalName": upn, "azureActiveDirectoryDeviceId": aad_id,
                    "enrollmentState": "enrolled" if aad_id else "notContacted",
                    "lastContactedDateTime": now_iso()}
        self.autopilot[tenant.id][identity["id"]] = identity
        return identity

    def _holder(self, serial: str) -> Tenant | None:
        return next((t for t in self.store.tenants.values()
                     if any(i["serialNumber"] == serial for i in self.autopilot[t.id].values())), None)

    # --- Graph ---------------------------------------------------------------------------------------------------
    @staticmethod
    def mounts(rest: str, method: str) -> bool:
        path = rest.split("?", 1)[0]
        return any(r.match(path) for r in (DEVICES_RE, MANAGED_RE, AUTOPILOT_RE, IMPORTED_RE))

    def serve(self, req: Request, rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        granted = set(claims.get("roles", [])) | set(str(claims.get("scp", "")).split())
        path = rest.split("?", 1)[0]
        with self.store.lock:
            if m := DEVICES_RE.match(path):
                _need(granted, READ_DEVICES)
                if m.group(1) is None:
                    return Response(200, {"value": [copy.deepcopy(d) for d in self.devices[tenant.id].values()]})
                device = self.devices[tenant.id].get(m.group(1))
                if device is None:
                    raise GraphFailure(404, "Request_ResourceNotFound", f"Resource '{m.group(1)}' does not exist.")
                if m.group(2):
                    owner = tenant.users.get(self.owners.get(device["id"], ""))
                    return Response(200, {"value": [{"@odata.type": "#microsoft.graph.user", "id": owner["id"],
                                                     "userPrincipalName": owner["userPrincipalName"]}]
                                          if owner else []})
                return Response(200, copy.deepcopy(device))
            if MANAGED_RE.match(path):
                _need(granted, READ_MANAGED)
                if not self._intune(tenant):
                    raise GraphFailure(400, "BadRequest", "The tenant has no Intune licence.")
                return Response(200, {"value": copy.deepcopy(self.managed[tenant.id])})
            if m := AUTOPILOT_RE.match(path):
                return self._autopilot(req.method, m.group(1), tenant, granted)
            if m := IMPORTED_RE.match(path):
                return self._import(req.method, m.group(1), req.json() if req.body else {}, tenant, granted)
        raise GraphFailure(404, "BadRequest", f"Resource not found for the segment '{path}'.")

    def _intune(self, tenant: Tenant) -> bool:
        from .state import SKU_CATALOG

        ids = {SKU_CATALOG[p]["skuId"] for p in INTUNE_SKUS if p in SKU_CATALOG}
        return any(lic["skuId"] in ids for u in tenant.users.values() for lic in u.get("assignedLicenses") or [])

    def _autopilot(self, method: str, ident: str | None, tenant: Tenant, granted: set[str]) -> Response:
        _need(granted, READ_AUTOPILOT if method == "GET" else WRITE_AUTOPILOT)
        held = self.autopilot[tenant.id]
        if ident is None and method == "GET":
            return Response(200, {"value": [copy.deepcopy(i) for i in held.values()]})
        if ident is None or ident not in held:
            raise GraphFailure(404, "ResourceNotFound", "The Autopilot device was not found.")
        if method == "DELETE":
            self.remove(tenant, ident)
            return Response(200)
        return Response(200, copy.deepcopy(held[ident]))

    def remove(self, tenant: Tenant, ident: str) -> dict[str, Any]:
        self.count("autopilot device deregistered")
        return self.autopilot[tenant.id].pop(ident)

    def _import(self, method: str, ident: str | None, body: dict[str, Any], tenant: Tenant,
                granted: set[str]) -> Response:
        _need(granted, READ_AUTOPILOT if method == "GET" else WRITE_AUTOPILOT)
        if method == "GET":
            found = self.imports[tenant.id].get(ident or "")
            if ident is None:
                return Response(200, {"value": [copy.deepcopy(i) for i in self.imports[tenant.id].values()]})
            if found is None:
                raise GraphFailure(404, "ResourceNotFound", "The imported device was not found.")
            return Response(200, copy.deepcopy(found))
        if method != "POST" or ident is not None:
            raise GraphFailure(405, "BadRequest", "Not supported.")
        return Response(201, self.import_device(tenant, str(body.get("serialNumber") or ""),
                                                str(body.get("hardwareIdentifier") or ""),
                                                str(body.get("groupTag") or ""),
                                                str(body.get("assignedUserPrincipalName") or "")))

    def import_device(self, tenant: Tenant, serial: str, hardware: str, group_tag: str = "",
                      upn: str = "") -> dict[str, Any]:
        if not serial or not hardware:
            raise GraphFailure(400, "BadRequest", "serialNumber and hardwareIdentifier are required.")
        imported = {"id": str(uuid.uuid4()), "serialNumber": serial, "hardwareIdentifier": hardware,
                    "groupTag": group_tag, "assignedUserPrincipalName": upn, "importId": str(uuid.uuid4()),
                    "state": {"deviceImportStatus": "complete", "deviceRegistrationId": "", "deviceErrorCode": 0,
                              "deviceErrorName": ""}}
        holder = self._holder(serial)
        if hardware != hardware_hash(serial):
            imported["state"].update(deviceImportStatus="error", deviceErrorCode=808,
                                     deviceErrorName="ZtdDeviceHardwareHashInvalid")
        elif holder is not None and holder.id != tenant.id:
            imported["state"].update(deviceImportStatus="error", deviceErrorCode=806,
                                     deviceErrorName="ZtdDeviceAssignedToOtherTenant")
        elif holder is None:
            made = self._register(tenant, serial, None, None, upn, "", group_tag)
            imported["state"]["deviceRegistrationId"] = made["id"]
            self.count("autopilot device imported")
        self.imports[tenant.id][imported["id"]] = imported
        return copy.deepcopy(imported)

    # --- the stand-in admin's PowerShell ---------------------------------------------------------------------------
    def cmdlets(self) -> dict[str, Any]:
        return {"Remove-MgDeviceManagementWindowsAutopilotDeviceIdentity": self._ps_remove,
                "New-MgDeviceManagementImportedWindowsAutopilotDeviceIdentity": self._ps_import}

    def _ps_remove(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        ident = params.get("windowsautopilotdeviceidentityid", "")
        if ident not in self.autopilot[tenant.id]:
            raise ValueError(f"no Autopilot device {ident!r} in {tenant.initial_domain}")
        gone = self.remove(tenant, ident)
        return f"deregistered {gone['serialNumber']} from {tenant.initial_domain}"

    def _ps_import(self, tenant: Tenant, params: dict[str, str], line: str) -> str:
        serial = params.get("serialnumber", "")
        if not params.get("hardwareidentifierinputfile"):
            raise ValueError("-HardwareIdentifierInputFile: the hash file exported on the device")
        made = self.import_device(tenant, serial, hardware_hash(serial), params.get("grouptag", ""))
        state = made["state"]
        if state["deviceImportStatus"] != "complete":
            raise ValueError(f"import of {serial}: {state['deviceErrorCode']} {state['deviceErrorName']}")
        return f"imported {serial} into {tenant.initial_domain}"

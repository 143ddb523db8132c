"""Which Graph permissions each phase needs, per tenant (least privilege), and whether a token
carries them. The README's permission tables are generated from :data:`REQUIRED`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import PermissionMissing
from ..report import Report

# phase -> side -> [(permission, why)]; application permissions unless the phase says delegated.
REQUIRED: dict[str, dict[str, list[tuple[str, str]]]] = {
    "00_prepare": {
        "source": [("User.Read.All", "inventory of users"), ("GroupMember.Read.All", "groups and members"),
                   ("Domain.Read.All", "domains and their DNS records"),
                   ("Organization.Read.All", "tenant details and licences (subscribedSkus)"),
                   ("Device.Read.All", "the devices and their owners (plan_devices)"),
                   ("DeviceManagementManagedDevices.Read.All", "the Intune-managed devices (plan_devices)"),
                   ("DeviceManagementServiceConfig.Read.All", "the Autopilot devices (plan_devices)"),
                   ("Reports.Read.All", "the usage reports: items and bytes per mailbox, OneDrive and site "
                                        "(forecast)")],
        "target": [("Organization.Read.All", "tenant details and licences"), ("Domain.Read.All", "domains")],
    },
    "10_new_subscription": {
        "source": [("Mail.Send", "send the announcement from announce_from"),
                   ("Mail.Read", "find an announcement sent before (the sender's mailbox): never twice"),
                   ("User.Read.All", "check the announcement's sender"),
                   ("MailboxSettings.Read", "check the announcement's sender has a mailbox")],
        "target": [("Organization.Read.All", "licences to compare"), ("User.ReadWrite.All", "pre-stage users")],
    },
    "20_release_domain": {
        "source": [("Domain.ReadWrite.All", "delete the domain, read domainNameReferences"),
                   ("User.ReadWrite.All", "rename users to the onmicrosoft domain"),
                   ("Group.ReadWrite.All", "rename group addresses"),
                   ("Application.ReadWrite.All", "rename app identifier URIs")],
        "target": [],
    },
    "25_rollback_domain": {
        "source": [("Domain.ReadWrite.All", "add and verify the domain again"),
                   ("User.ReadWrite.All", "rename users back onto the domain"),
                   ("GroupMember.Read.All", "read the groups' addresses")],
        "target": [("Domain.ReadWrite.All", "delete the domain, read domainNameReferences"),
                   ("User.ReadWrite.All", "rename its users off the domain")],
    },
    "30_add_domain_and_users": {
        "source": [],
        "target": [("Domain.ReadWrite.All", "add and verify the domain"), ("User.ReadWrite.All", "create users, assign licences, invite guests"),
                   ("Group.ReadWrite.All", "create groups"), ("GroupMember.ReadWrite.All", "add members"),
                   ("MailboxSettings.Read", "read back the shared, room and equipment mailboxes (their kind)"),
                   ("Place.Read.All", "read back the rooms' places")],
    },
    "40_admin_settings": {
        "source": [("Policy.Read.All", "read the authorisation policy and conditional access"),
                   ("SharePointTenantSettings.Read.All", "read SharePoint's tenant settings"),
                   ("Organization.Read.All", "read the organisation profile and branding"),
                   ("GroupSettings.Read.All", "read the Microsoft 365 group settings"),
                   ("ReportSettings.Read.All", "read the reports' concealed-names setting"),
                   ("PeopleSettings.Read.All", "read the pronouns setting"),
                   ("TeamsUserConfiguration.Read.All", "read which Teams policies users have (read-back)"),
                   ("DeviceManagementServiceConfig.Read.All", "read the Autopilot devices back (plan_devices)")],
        "target": [("Organization.ReadWrite.All", "apply the organisation profile and branding"),
                   ("DeviceManagementServiceConfig.Read.All", "read the Autopilot devices back (plan_devices)"),
                   ("GroupSettings.ReadWrite.All", "apply the Microsoft 365 group settings"),
                   ("ReportSettings.ReadWrite.All", "apply the reports' concealed-names setting"),
                   ("PeopleSettings.ReadWrite.All", "apply the pronouns setting"),
                   ("Domain.ReadWrite.All", "apply password expiry per domain"),
                   ("TeamsUserConfiguration.Read.All", "read which Teams policies users have (read-back)"),
                   ("Policy.ReadWrite.Authorization", "apply the authorisation policy"),
                   ("Policy.ReadWrite.AuthenticationMethod", "apply the authentication-methods policy and the "
                                                             "Temporary Access Pass method"),
                   ("UserAuthenticationMethod.ReadWrite.All", "give each person a Temporary Access Pass "
                                                              "(first_day_passes)"),
                   ("Policy.ReadWrite.ConditionalAccess", "create named locations and policies (report-only)"),
                   ("SharePointTenantSettings.ReadWrite.All", "apply SharePoint's tenant settings")],
    },
    "50_team_sites": {
        "source": [("Sites.Read.All", "read sites, lists and files")],
        "target": [("Sites.FullControl.All", "create lists and libraries, write items and files")],
    },
    "60_mailboxes": {
        "source": [("MailboxFolder.Read.All", "mailbox folders (import/export API)"),
                   ("MailboxItem.Export.All", "export every item: mail, events, contacts, tasks"),
                   ("Mail.Read", "read mail and attachments to compare"),
                   ("Calendars.Read", "read events and their occurrences to compare"),
                   ("Contacts.Read", "read contacts and photos to compare"),
                   ("Tasks.Read.All", "read To Do lists and tasks to compare"),
                   ("User.Read.All", "read profile photos"),
                   ("MailboxSettings.Read", "read mailbox settings and inbox rules"),
                   ("Place.Read.All", "read the rooms' places (capacity, building, floor)")],
        "target": [("MailboxFolder.ReadWrite.All", "create mailbox folders"),
                   ("MailboxItem.ImportExport.All", "import every item (nothing is sent)"),
                   ("User.ReadWrite.All", "put profile photos"),
                   ("MailboxSettings.ReadWrite", "write mailbox settings and inbox rules"),
                   ("Calendars.ReadWrite", "share calendars and make delegates (calendarPermissions); verify events"),
                   ("Place.Read.All", "read the new rooms back"),
                   ("Domain.Read.All", "the new tenant's domains, for the aliases"),
                   ("GroupMember.ReadWrite.All", "add shared, room and equipment mailboxes to their groups"),
                   ("Mail.Read", "verify mail and attachments"),
                   ("Contacts.Read", "verify contacts"), ("Tasks.Read.All", "verify To Do lists and tasks")],
    },
    "65_teams": {
        "source": [("Team.ReadBasic.All", "read the teams"), ("Channel.ReadBasic.All", "read their channels"),
                   ("ChannelMember.Read.All", "read private and shared channels' members"),
                   ("ChannelMessage.Read.All", "read channel messages (a protected API Microsoft must approve)"),
                   ("Chat.Read.All", "read the people's chats and their messages (protected API)"),
                   ("TeamsTab.Read.All", "read channel tabs")],
        "target": [("Group.ReadWrite.All", "make a team for each moved group, set its settings"),
                   ("Channel.Create", "make channels"), ("ChannelMember.ReadWrite.All", "add channel members"),
                   ("Teamwork.Migrate.All", "migration mode and import, with the original authors and times"),
                   ("ChannelMessage.Read.All", "read the imported messages back (protected API)"),
                   ("Chat.Create", "make the chats"), ("Chat.Read.All", "read the chats back (protected API)"),
                   ("TeamsTab.ReadWrite.All", "make website tabs again")],
    },
    "70_onedrive": {
        "source": [("Files.Read.All", "read OneDrive files"), ("User.Read.All", "find each user's OneDrive")],
        "target": [("Files.ReadWrite.All", "write OneDrive files"), ("User.Read.All", "find each new user")],
    },
    "80_onenote": {  # OneNote's API takes delegated tokens only
        "source": [("Notes.Read.All", "read notebooks (delegated)")],
        "target": [("Notes.ReadWrite.All", "write notebooks (delegated)")],
    },
    "90_verify_and_close": {  # read-only on both sides; the notebooks through phase 80's delegated sign-ins
        side: [("User.Read.All", "users and licences"), ("GroupMember.Read.All", "groups and members"),
               ("Sites.Read.All", "lists and their items"), ("Files.Read.All", "OneDrive folders, files and bytes"),
               ("MailboxFolder.Read.All", "mailbox folders and their counts"),
               ("MailboxItem.Export.All", "mailbox items and their sizes"),
               ("Mail.Read", "mail and attachments"), ("Calendars.Read", "events and their occurrences"),
               ("Contacts.Read", "contacts and photos"), ("Tasks.Read.All", "To Do lists and tasks"),
               ("MailboxSettings.Read", "mailbox settings and inbox rules"),
               ("Place.Read.All", "rooms and their places"),
               ("Domain.Read.All", "the domains aliases may use"),
               ("Team.ReadBasic.All", "teams and their channels"),
               ("ChannelMessage.Read.All", "channel messages (protected API)")]
        for side in ("source", "target")
    },
}

DELEGATED_PHASES = {"80_onenote"}
# A person signed in by device code (delegated) also needs a directory role that allows the writes;
# Global Administrator allows them all.
ROLES_REQUIRED: dict[str, dict[str, list[tuple[str, str]]]] = {
    "10_new_subscription": {"target": [("User Administrator", "pre-stage users")]},
    "20_release_domain": {"source": [("User Administrator", "rename users"),
                                     ("Domain Name Administrator", "delete the domain")]},
    "25_rollback_domain": {"source": [("Domain Name Administrator", "add and verify the domain again"),
                                      ("User Administrator", "rename users back")],
                           "target": [("Domain Name Administrator", "delete the domain"),
                                      ("User Administrator", "rename its users off the domain")]},
    "30_add_domain_and_users": {"target": [("Domain Name Administrator", "add and verify the domain"),
                                           ("User Administrator", "create users, assign licences"),
                                           ("Groups Administrator", "create groups, add members")]},
}
ALL_ROLES = "Global Administrator"

# A permission is satisfied by itself or by any of these broader ones.
_BROADER: dict[str, list[str]] = {
    "Device.Read.All": ["Device.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
    "DeviceManagementManagedDevices.Read.All": ["DeviceManagementManagedDevices.ReadWrite.All"],
    "DeviceManagementServiceConfig.Read.All": ["DeviceManagementServiceConfig.ReadWrite.All"],
    "User.Read.All": ["User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
    "User.ReadWrite.All": ["Directory.ReadWrite.All"],
    "GroupMember.Read.All": ["GroupMember.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All",
                             "Directory.Read.All", "Directory.ReadWrite.All"],
    "GroupMember.ReadWrite.All": ["Group.ReadWrite.All", "Directory.ReadWrite.All"],
    "Group.ReadWrite.All": ["Directory.ReadWrite.All"],
    "Domain.Read.All": ["Domain.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
    "Organization.Read.All": ["Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
    "LicenseAssignment.ReadWrite.All": ["Directory.ReadWrite.All"],
    "Application.ReadWrite.All": [],
    "Policy.Read.All": ["Policy.ReadWrite.ApplicationConfiguration", "Policy.ReadWrite.ConditionalAccess",
                        "Policy.ReadWrite.AuthenticationMethod"],
    "SharePointTenantSettings.Read.All": ["SharePointTenantSettings.ReadWrite.All"],
    "GroupSettings.Read.All": ["GroupSettings.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
    "GroupSettings.ReadWrite.All": ["Directory.ReadWrite.All"],
    "ReportSettings.Read.All": ["ReportSettings.ReadWrite.All"],
    "PeopleSettings.Read.All": ["PeopleSettings.ReadWrite.All"],
    "ReportSettings.ReadWrite.All": [],
    "PeopleSettings.ReadWrite.All": [],
    "Organization.ReadWrite.All": [],
    "Domain.ReadWrite.All": [],
    "TeamsUserConfiguration.Read.All": [],
    "Team.ReadBasic.All": ["TeamSettings.Read.All", "TeamSettings.ReadWrite.All", "Group.Read.All",
                           "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
    "Channel.ReadBasic.All": ["ChannelSettings.Read.All", "ChannelSettings.ReadWrite.All", "Group.Read.All",
                              "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
    "ChannelMember.Read.All": ["ChannelMember.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All"],
    "Channel.Create": ["Group.ReadWrite.All", "Directory.ReadWrite.All", "Teamwork.Migrate.All"],
    "ChannelMember.ReadWrite.All": [],
    "ChannelMessage.Read.All": [],
    "Chat.Read.All": ["Chat.ReadWrite.All"],
    "TeamsTab.Read.All": ["TeamsTab.ReadWrite.All"],
    "TeamsTab.ReadWrite.All": [],
    "Chat.Create": ["Chat.ReadWrite.All"],
    "Teamwork.Migrate.All": [],
    "Sites.Read.All": ["Sites.ReadWrite.All", "Sites.FullControl.All"],
    "Sites.ReadWrite.All": ["Sites.FullControl.All"],
    "Files.Read.All": ["Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All", "Sites.FullControl.All"],
    "Files.ReadWrite.All": ["Sites.ReadWrite.All", "Sites.FullControl.All"],
    "Mail.Read": ["Mail.ReadWrite"],
    "Contacts.Read": ["Contacts.ReadWrite"],
    "Calendars.Read": ["Calendars.ReadWrite"],
    "Calendars.ReadWrite": [],
    "MailboxSettings.Read": ["MailboxSettings.ReadWrite"],
    "MailboxSettings.ReadWrite": [],
    "Place.Read.All": ["Place.ReadWrite.All"],
    "Tasks.Read.All": ["Tasks.ReadWrite.All"],
    "MailboxFolder.Read.All": ["MailboxFolder.ReadWrite.All"],
    "MailboxItem.Export.All": ["MailboxItem.ImportExport.All"],
    "Notes.Read.All": ["Notes.ReadWrite.All"],
    "Directory.Read.All": ["Directory.ReadWrite.All"],
}


@dataclass
class PermissionRow:
    phase: str
    side: str
    permission: str
    why: str
    kind: str                # application | delegated: what the phase signs in with
    status: str              # granted | MISSING | at sign-in (a delegated permission, checked when that phase signs in)
    satisfied_by: str

    @property
    def missing(self) -> bool:
        return self.status == "MISSING"


def satisfied_by(permission: str, granted: set[str]) -> str:
    """The granted permission that covers ``permission``, or '' when none does."""
    if permission in granted:
        return permission
    for broader in _BROADER.get(permission, []):
        if broader in granted:
            return broader
    return ""


# permissions a phase needs only when a parameter asks for what they do: (phase, side, permission) -> parameter
WHEN: dict[tuple[str, str, str], str] = {
    ("10_new_subscription", "source", "Mail.Send"): "announce_from",
    ("10_new_subscription", "source", "Mail.Read"): "announce_from",
    ("10_new_subscription", "source", "User.Read.All"): "announce_from",
    ("10_new_subscription", "source", "MailboxSettings.Read"): "announce_from",
    ("40_admin_settings", "target", "UserAuthenticationMethod.ReadWrite.All"): "first_day_passes",
    ("00_prepare", "source", "Device.Read.All"): "plan_devices",
    ("00_prepare", "source", "DeviceManagementManagedDevices.Read.All"): "plan_devices",
    ("00_prepare", "source", "DeviceManagementServiceConfig.Read.All"): "plan_devices",
    ("00_prepare", "source", "Reports.Read.All"): "forecast",
    ("40_admin_settings", "source", "DeviceManagementServiceConfig.Read.All"): "plan_devices",
    ("40_admin_settings", "target", "DeviceManagementServiceConfig.Read.All"): "plan_devices",
}


def check(granted: dict[str, set[str]], token_kinds: dict[str, str] | None = None,
          phases: list[str] | None = None, roles: dict[str, set[str]] | None = None,
          params: Any = None) -> list[PermissionRow]:
    """One row per (phase, side, permission): does the token that phase will use cover it? Every phase
    but the delegated-only ones (OneNote) signs in as these parameters say, so it is judged by this very
    token: a device-code (delegated) sign-in by its delegated scopes and the person's directory roles
    (``roles``, per side), an app by its application permissions. A delegated-only phase signs a person
    in itself; with an app token here its rows are checked at that sign-in. A permission only a parameter asks
    for (:data:`WHEN`) is not needed while that parameter is not set (in ``params``; without them, at its default:
    off)."""
    rows = []
    for phase in phases or list(REQUIRED):
        for side, needs in REQUIRED[phase].items():
            token_kind = (token_kinds or {}).get(side, "application")
            own_sign_in = phase in DELEGATED_PHASES and token_kind == "application"
            kind = "delegated" if phase in DELEGATED_PHASES else token_kind
            for permission, why in needs:
                by = satisfied_by(permission, granted.get(side, set()))
                status = "at sign-in" if own_sign_in else ("granted" if by else "MISSING")
                asked_by = WHEN.get((phase, side, permission))
                if asked_by and not getattr(params, asked_by, None) and not by:  # no params: the parameter's default
                    status = f"not needed ({asked_by} is not set)"
                rows.append(PermissionRow(phase, side, permission, why, kind, status, by))
            held = (roles or {}).get(side)
            if token_kind == "delegated" and held is not None:
                for role, why in ROLES_REQUIRED.get(phase, {}).get(side, []):
                    by = role if role in held else (ALL_ROLES if ALL_ROLES in held else "")
                    rows.append(PermissionRow(phase, side, f"role: {role}", why, "directory role",
                                              "granted" if by else "MISSING", by))
    return rows


def frame(rows: list[PermissionRow]) -> Any:
    """The rows as a table, missing ones first."""
    import pandas as pd

    df = pd.DataFrame([r.__dict__ for r in rows],
                      columns=["phase", "side", "permission", "kind", "status", "satisfied_by", "why"])
    order = df["status"].map({"MISSING": 0, "at sign-in": 1, "granted": 2})
    return df.assign(_o=order).sort_values(["_o", "phase", "side"], kind="stable").drop(columns="_o").reset_index(drop=True)


def report(rows: list[PermissionRow]) -> Report:
    """The table a notebook shows: missing permissions first."""
    return Report().table(frame(rows), "Graph permissions per phase and tenant")


def markdown() -> str:
    """The per-phase permission tables, as the README shows them."""
    out = []
    for phase, sides in REQUIRED.items():
        kind = "delegated" if phase in DELEGATED_PHASES else "application"
        out.append(f"**{phase}** ({kind} permissions)\n")
        out.append("| tenant | permission | why |")
        out.append("|---|---|---|")
        rows = [(side, perm, why) for side, needs in sides.items() for perm, why in needs]
        for side, perm, why in rows or [("—", "none", "")]:
            label = {"source": "old", "target": "new"}.get(side, side)
            out.append(f"| {label} | `{perm}` | {why} |")
        out.append("")
    return "\n".join(out)


def missing(rows: list[PermissionRow]) -> int:
    """How many (phase, tenant, permission) rows no token covers."""
    return sum(1 for r in rows if r.missing)


def require(rows: list[PermissionRow], phase: str) -> None:
    """Stop the phase here, before any call that would fail with 403, if its own permissions are missing."""
    missing = [r for r in rows if r.phase == phase and r.missing]
    if missing:
        listed = ", ".join(f"{'old' if r.side == 'source' else 'new'} tenant: {r.permission}" for r in missing)
        raise PermissionMissing(f"{phase} needs Graph permissions the tokens do not carry ({listed})",
                                where="app registrations",
                                hint="add them as application permissions to the app registration in that tenant, "
                                     "grant admin consent, then rerun (a new token carries them)")

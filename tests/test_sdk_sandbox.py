"""The sandbox as Microsoft's own Python SDK finds it: ``msgraph-sdk`` with ``azure-identity``, configured only
through their public options (the sandbox's authority, its CA, its Graph URL), reads the content endpoints the
runbook uses, uploads a file with its ``LargeFileUploadTask`` and downloads it, unmodified. Where our client and the
SDK would disagree about the service, these tests side with the documentation."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import httpx
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.admin.exchange.mailboxes.item.export_items.export_items_post_request_body import (
    ExportItemsPostRequestBody,
)
from msgraph.generated.drives.item.items.item.create_upload_session.create_upload_session_post_request_body import (
    CreateUploadSessionPostRequestBody,
)
from msgraph.generated.models.drive_item_uploadable_properties import DriveItemUploadableProperties
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.users.item.events.item.instances.instances_request_builder import (
    InstancesRequestBuilder,
)
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder
from msgraph_core import GraphClientFactory
from msgraph_core.tasks.large_file_upload import LargeFileUploadTask

from tenantmove.sandbox import Sandbox

from .conftest import SOURCE_APP, TARGET_APP

T = TypeVar("T")
MEGAN = "megan.bowen@contoso.example"
SCOPES = ["https://graph.microsoft.com/.default"]


def with_sdk(sb: Sandbox, side: str, work: Callable[[GraphServiceClient, GraphRequestAdapter], Awaitable[T]]) -> T:
    """Run ``work`` with an SDK client signed in to ``side`` as its app, the way a developer would set one up."""
    key, app, env = ("old", SOURCE_APP, "TENANTMOVE_SOURCE_SECRET") if side == "source" else \
        ("new", TARGET_APP, "TENANTMOVE_TARGET_SECRET")
    endpoints = sb.endpoints

    async def main() -> T:
        credential = ClientSecretCredential(sb.tenant(key)["id"], app, os.environ[env],
                                            authority=endpoints["authority_host"], connection_verify=sb.ca_file,
                                            disable_instance_discovery=True)
        auth = AzureIdentityAuthenticationProvider(credential, scopes=SCOPES, allowed_hosts=["127.0.0.1"])
        http = GraphClientFactory.create_with_default_middleware(client=httpx.AsyncClient(verify=sb.ca_file,
                                                                                          timeout=60))
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = endpoints["graph_url"]
        try:
            return await work(GraphServiceClient(request_adapter=adapter), adapter)
        finally:
            await credential.close()

    return asyncio.run(main())


def test_the_sdk_reads_the_directory_drives_sites_and_the_mailbox_api(sandbox: Sandbox) -> None:
    async def work(c: GraphServiceClient, _: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        seen["users"] = (await c.users.get()).value
        groups = (await c.groups.get()).value
        seen["members"] = (await c.groups.by_group_id(groups[0].id).members.get()).value
        seen["domains"] = (await c.domains.get()).value
        seen["records"] = (await c.domains.by_domain_id("contoso.example").service_configuration_records.get()).value
        seen["org"] = (await c.organization.get()).value[0]
        seen["skus"] = (await c.subscribed_skus.get()).value
        drive = await c.users.by_user_id(MEGAN).drive.get()
        items = c.drives.by_drive_id(drive.id).items
        seen["children"] = (await items.by_drive_item_id("root").children.get()).value
        plan = await items.by_drive_item_id("root:/Campaigns/2026/Plan.docx:").get()  # the path, percent-encoded
        seen["plan"] = plan
        seen["delta"] = await items.by_drive_item_id("root").delta.get()
        seen["content"] = await items.by_drive_item_id(plan.id).content.get()  # follows the 302, drops its token
        sites = (await c.sites.get()).value
        sales = next(s for s in sites if s.name == "sales")
        lists = (await c.sites.by_site_id(sales.id).lists.get()).value
        customers = next(x for x in lists if x.display_name == "Customers")
        seen["list items"] = (await c.sites.by_site_id(sales.id).lists.by_list_id(customers.id).items.get()).value
        exchange = await c.users.by_user_id(MEGAN).settings.exchange.get()
        mailbox = c.admin.exchange.mailboxes.by_mailbox_id(exchange.primary_mailbox_id)
        folders = (await mailbox.folders.get()).value
        inbox = next(f for f in folders if f.display_name == "Inbox")
        stored = (await mailbox.folders.by_mailbox_folder_id(inbox.id).items.get()).value
        seen["export"] = (await mailbox.export_items.post(ExportItemsPostRequestBody(item_ids=[stored[0].id]))).value
        seen["policies"] = (await c.identity.conditional_access.policies.get()).value
        seen["sharepoint"] = await c.admin.sharepoint.settings.get()
        return seen

    seen = with_sdk(sandbox, "source", work)
    assert len(seen["users"]) >= 21 and seen["members"] and seen["records"] and seen["skus"]
    assert {d.id for d in seen["domains"]} >= {"contoso.example", "contoso.onmicrosoft.com"}
    assert seen["org"].display_name == "Contoso Ltd" and seen["org"].verified_domains
    assert {i.name for i in seen["children"]} >= {"Campaigns"}
    assert seen["plan"].name == "Plan.docx" and seen["plan"].file.hashes.quick_xor_hash
    assert seen["delta"].value and seen["delta"].odata_delta_link
    assert seen["content"][:2] == b"PK" and len(seen["content"]) == seen["plan"].size
    assert len(seen["list items"]) == 30
    assert seen["export"][0].data and seen["export"][0].change_key
    assert seen["policies"] and seen["sharepoint"] is not None


def test_the_sdk_reads_outlook_as_documented(sandbox: Sandbox) -> None:
    """Pages of 10 with a next link, $top and $select (an unknown property a 400), typed attachments, the MIME
    stream, an event's type and full recurrence, its instances (one moved, one cancelled), a contact photo's
    metadata."""
    async def work(c: GraphServiceClient, _: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        user = c.users.by_user_id(MEGAN)
        first = await user.messages.get()
        seen["first page"], seen["next"] = first.value, first.odata_next_link
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(top=5, select=["subject"])
        seen["top"] = (await user.messages.get(RequestConfiguration(query_parameters=query))).value
        bad = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(select=["favouriteColour"])
        try:
            await user.messages.get(RequestConfiguration(query_parameters=bad))
            seen["bad select"] = None
        except APIError as exc:
            seen["bad select"] = exc.response_status_code
        with_files = next(m for m in seen["first page"] + (await _rest(c, seen["next"])) if m.has_attachments)
        seen["attachments"] = (await user.messages.by_message_id(with_files.id).attachments.get()).value
        seen["mime"] = await user.messages.by_message_id(with_files.id).content.get()
        events = (await user.events.get()).value
        series = next(e for e in events if e.recurrence)
        seen["series"], seen["single"] = series, next(e for e in events if not e.recurrence)
        window = InstancesRequestBuilder.InstancesRequestBuilderGetQueryParameters(
            start_date_time="2026-03-01T00:00:00", end_date_time="2026-03-31T00:00:00")
        seen["instances"] = (await user.events.by_event_id(series.id).instances.get(
            RequestConfiguration(query_parameters=window))).value
        contacts = (await user.contacts.get()).value
        seen["photo"] = await user.contacts.by_contact_id(contacts[0].id).photo.get()
        return seen

    seen = with_sdk(sandbox, "source", work)
    assert len(seen["first page"]) == 10 and seen["next"]
    assert len(seen["top"]) == 5 and all(m.subject and m.is_read is None for m in seen["top"])
    assert seen["bad select"] == 400
    assert seen["attachments"] and all(isinstance(a, FileAttachment) and a.content_bytes for a in seen["attachments"])
    assert b"Subject: " in seen["mime"] and b"Content-Disposition: attachment" in seen["mime"]
    series = seen["series"]
    assert series.type.value == "seriesMaster" and seen["single"].type.value == "singleInstance"
    assert [d.value for d in series.recurrence.pattern.days_of_week] == ["monday"]
    assert series.recurrence.pattern.first_day_of_week.value == "sunday"
    assert series.recurrence.range.start_date.isoformat() == "2026-03-02"
    assert series.cancelled_occurrences is None  # only when asked for
    starts = {i.start.date_time[:10]: i.type.value for i in seen["instances"]}
    assert starts == {"2026-03-02": "occurrence", "2026-03-09": "exception", "2026-03-23": "occurrence",
                      "2026-03-30": "occurrence"}  # the 16th cancelled, the 9th moved to the afternoon
    moved = next(i for i in seen["instances"] if i.type.value == "exception")
    assert datetime.fromisoformat(moved.start.date_time).hour == 14
    assert seen["photo"].height == 24 and seen["photo"].width == 24


async def _rest(c: GraphServiceClient, link: str | None) -> list[Any]:
    out: list[Any] = []
    while link:
        page = await c.users.by_user_id(MEGAN).messages.with_url(link).get()
        out += page.value
        link = page.odata_next_link
    return out


def test_the_sdk_uploads_a_large_file_in_a_session_and_downloads_it(fresh_sandbox: Sandbox) -> None:
    sb = fresh_sandbox
    admin = "admin@contosonew.onmicrosoft.com"
    sb.admin("POST", f"files/contosonew.onmicrosoft.com/{admin}", json={"op": "provision"})
    data = os.urandom(7 * 1024 * 1024 + 123)  # two 5 MiB fragments, the last a short one

    async def work(c: GraphServiceClient, adapter: GraphRequestAdapter) -> tuple[Any, bytes]:
        drive = await c.users.by_user_id(admin).drive.get()
        item = c.drives.by_drive_id(drive.id).items.by_drive_item_id("root:/sdk/big.bin:")
        body = CreateUploadSessionPostRequestBody(
            item=DriveItemUploadableProperties(additional_data={"@microsoft.graph.conflictBehavior": "replace"}))
        session = await item.create_upload_session.post(body)
        assert session.upload_url and "127.0.0.1" not in session.upload_url  # another host than Graph's
        result = await LargeFileUploadTask(session, adapter, io.BytesIO(data), max_chunk_size=5 * 1024 * 1024).upload()
        return result, await item.content.get()

    result, downloaded = with_sdk(sb, "target", work)
    assert result.upload_succeeded
    assert downloaded == data


def test_the_sdk_filters_users_with_startswith_and_eq(sandbox: Sandbox) -> None:
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder

    async def work(c: GraphServiceClient, _: Any) -> tuple[list[Any], list[Any]]:
        starts = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(filter="startswith(displayName,'Megan')")
        exact = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(filter=f"userPrincipalName eq '{MEGAN}'")
        return ((await c.users.get(RequestConfiguration(query_parameters=starts))).value,
                (await c.users.get(RequestConfiguration(query_parameters=exact))).value)

    starts, exact = with_sdk(sandbox, "source", work)
    assert starts and all(u.display_name.lower().startswith("megan") for u in starts)
    assert [u.user_principal_name for u in exact] == [MEGAN]


def test_the_sdk_reads_a_persons_photo_settings_rules_calendar_sharing_and_a_groups_owners(sandbox: Sandbox) -> None:
    async def work(c: GraphServiceClient, _: Any) -> dict[str, Any]:
        me = c.users.by_user_id(MEGAN)
        seen: dict[str, Any] = {"photo": await me.photo.get(), "bytes": await me.photo.content.get(),
                                "settings": await me.mailbox_settings.get(),
                                "rules": (await me.mail_folders.by_mail_folder_id("inbox").message_rules.get()).value,
                                "calendar": (await me.calendar.calendar_permissions.get()).value}
        groups = (await c.groups.get()).value
        sales = next(g for g in groups if g.mail_nickname == "sales")
        seen["owners"] = (await c.groups.by_group_id(sales.id).owners.get()).value
        seen["folders"] = (await me.mail_folders.get()).value
        projects = next(f for f in seen["folders"] if f.display_name == "Projects")
        seen["children"] = (await me.mail_folders.by_mail_folder_id(projects.id).child_folders.get()).value
        seen["rooms"] = (await c.places.graph_room.get()).value
        return seen

    seen = with_sdk(sandbox, "source", work)
    assert seen["photo"].height == 648 and seen["bytes"][:2] == b"\xff\xd8"
    settings = seen["settings"]
    assert settings.time_zone == "W. Europe Standard Time" and settings.language.locale == "nl-NL"
    assert settings.automatic_replies_setting.scheduled_end_date_time.date_time.startswith("2026-12-15")
    assert settings.working_hours.start_time.hour == 8 and settings.working_hours.start_time.minute == 30
    assert {r.display_name for r in seen["rules"]} >= {"Sales leads to Alex", "Copy to my home address"}
    forward = next(r for r in seen["rules"] if r.display_name == "Sales leads to Alex")
    assert forward.actions.forward_to[0].email_address.address == "alex.wilber@contoso.example"
    roles = {(p.email_address.address or "org"): p.role.value for p in seen["calendar"]}
    assert roles["bianca.vance@contoso.example"] == "delegateWithPrivateEventAccess" and roles["org"] == "freeBusyRead"
    assert {o.user_principal_name for o in seen["owners"]} == {MEGAN, "alex.wilber@contoso.example"}
    assert {f.display_name for f in seen["folders"]} >= {"Inbox", "Newsletters", "Projects"}
    projects = next(f for f in seen["folders"] if f.display_name == "Projects")
    assert projects.child_folder_count == 2
    assert {(f.display_name, f.parent_folder_id) for f in seen["children"]} == {("2026", projects.id),
                                                                                ("Archive", projects.id)}
    room = next(r for r in seen["rooms"] if r.display_name == "Boardroom")
    assert (room.capacity, room.floor_number, room.email_address) == (12, 4, "boardroom@contoso.example")


def test_the_sdk_invites_a_guest_without_a_mail(fresh_sandbox: Sandbox) -> None:
    from msgraph.generated.models.invitation import Invitation

    async def work(c: GraphServiceClient, _: Any) -> Any:
        return await c.invitations.post(Invitation(invited_user_email_address="ann.berg@fabrikam.example",
                                                   invite_redirect_url="https://myapps.microsoft.com",
                                                   send_invitation_message=False))

    made = with_sdk(fresh_sandbox, "target", work)
    assert made.invited_user.id and made.status == "PendingAcceptance" and made.send_invitation_message is False


def test_the_sdk_reads_shares_and_shares_without_a_mail(fresh_sandbox: Sandbox) -> None:
    """Permissions as the SDK parses them (inherited ones with ``inheritedFrom``, a link with its password flag),
    and the SDK's own invite and createLink against the new tenant: nobody mailed, an existing link answered."""
    from msgraph.generated.drives.item.items.item.create_link.create_link_post_request_body import (
        CreateLinkPostRequestBody,
    )
    from msgraph.generated.drives.item.items.item.invite.invite_post_request_body import InvitePostRequestBody
    from msgraph.generated.models.drive_recipient import DriveRecipient

    from .conftest import make_client
    from .files_helpers import make_target_users, new_upn

    sb = fresh_sandbox

    async def read(c: GraphServiceClient, _: Any) -> dict[str, Any]:
        drive = await c.users.by_user_id(MEGAN).drive.get()
        items = c.drives.by_drive_id(drive.id).items
        budget = await items.by_drive_item_id("root:/Campaigns/2026/Budget.xlsx:").get()
        scan = await items.by_drive_item_id("root:/Legacy/old scan.pdf:").get()
        return {"budget": (await items.by_drive_item_id(budget.id).permissions.get()).value,
                "scan": (await items.by_drive_item_id(scan.id).permissions.get()).value}

    seen = with_sdk(sb, "source", read)
    inherited = [p for p in seen["budget"] if p.inherited_from is not None]
    own = [p for p in seen["budget"] if p.inherited_from is None and "owner" not in (p.roles or [])]
    def email(p: Any) -> str:  # identity has no email property in the metadata: the service sends it as more data
        return str(p.granted_to_v2.user.additional_data.get("email"))

    assert [(email(p), p.roles) for p in own] == [("ann.berg@fabrikam.example", ["read"])]
    assert any(email(p) == "alex.wilber@contoso.example" and p.roles == ["write"] for p in inherited)
    assert all(p.inherited_from.path.endswith("/Campaigns/2026") or p.inherited_from.path.endswith("root:")
               for p in inherited)
    link = next(p for p in seen["scan"] if p.link is not None)
    assert link.has_password and link.link.scope == "anonymous" and link.link.type == "view"

    new = make_client(sb, "target")[1]
    make_target_users(sb, new, ("megan.bowen", "alex.wilber"))
    drive_id = new.get(f"users/{new_upn('megan.bowen')}/drive")["id"]
    made = new.post(f"drives/{drive_id}/root/children", {"name": "Shared", "folder": {}})

    async def share(c: GraphServiceClient, _: Any) -> dict[str, Any]:
        item = c.drives.by_drive_id(drive_id).items.by_drive_item_id(made["id"])
        granted = await item.invite.post(InvitePostRequestBody(
            recipients=[DriveRecipient(email=new_upn("alex.wilber"))], roles=["write"], require_sign_in=True,
            send_invitation=False))
        first = await item.create_link.post(CreateLinkPostRequestBody(type="view", scope="organization"))
        again = await item.create_link.post(CreateLinkPostRequestBody(type="view", scope="organization"))
        return {"granted": granted.value, "first": first, "again": again}

    sb.admin("POST", "stats/reset")
    out = with_sdk(sb, "target", share)
    assert [p.roles for p in out["granted"]] == [["write"]] and \
        out["granted"][0].granted_to_v2.user.additional_data.get("email") == new_upn("alex.wilber")
    assert out["first"].link.web_url == out["again"].link.web_url and out["first"].id == out["again"].id
    assert sb.admin("GET", "stats")["counts"].get("sharing mails", 0) == 0


def test_the_sdk_reads_a_sharepoint_groups_role_on_a_library_folder(sandbox: Sandbox) -> None:
    """The Finance library's Payroll folder, whose inheritance is broken for SharePoint groups: the SDK parses each
    grant's ``grantedToV2.siteGroup`` (what the sharing workload leaves to the site access workload)."""
    from .conftest import make_client

    old = make_client(sandbox, "source")[1]
    site = old.get("sites/contoso.sharepoint.com:/sites/intranet")
    drive_id = next(d["id"] for d in old.get_all(f"sites/{site['id']}/drives") if d["name"] == "Finance")

    async def read(c: GraphServiceClient, _: Any) -> list[Any]:
        items = c.drives.by_drive_id(drive_id).items
        payroll = await items.by_drive_item_id("root:/Payroll:").get()
        return (await items.by_drive_item_id(payroll.id).permissions.get()).value

    seen = with_sdk(sandbox, "source", read)
    assert {(p.granted_to_v2.site_group.display_name, tuple(p.roles)) for p in seen} == {
        ("Contoso intranet Owners", ("owner",)), ("Finance team", ("read",))}
    assert all(p.inherited_from is None for p in seen)


def test_the_sdk_reads_a_channel_and_imports_into_it_in_migration_mode(fresh_sandbox: Sandbox) -> None:
    """The SDK's own Teams calls: a seeded channel's messages parsed (author, body, replies), then, in the new tenant,
    a team made for a group, a channel put into migration mode, a message imported with its author and time, and
    the migration completed."""
    from msgraph.generated.models.body_type import BodyType
    from msgraph.generated.models.chat_message import ChatMessage
    from msgraph.generated.models.chat_message_from_identity_set import ChatMessageFromIdentitySet
    from msgraph.generated.models.identity import Identity
    from msgraph.generated.models.item_body import ItemBody
    from msgraph.generated.teams.item.channels.item.start_migration.start_migration_post_request_body import (
        StartMigrationPostRequestBody,
    )

    from .conftest import make_client
    from .files_helpers import make_target_users, new_upn
    from .test_sites_sandbox import new_group

    sb = fresh_sandbox
    old = make_client(sb, "source")[1]
    sales = next(g for g in old.get_all("groups") if g["mailNickname"] == "sales")

    async def read(c: GraphServiceClient, _: Any) -> list[Any]:
        channels = (await c.teams.by_team_id(sales["id"]).channels.get()).value
        general = next(ch for ch in channels if ch.display_name == "General")
        return (await c.teams.by_team_id(sales["id"]).channels.by_channel_id(general.id).messages.get()).value

    seen = with_sdk(sb, "source", read)
    assert len(seen) == 20 and all(m.from_.user.display_name and m.body.content for m in seen)  # a page of 20
    assert any(r.reaction_type and r.user.user.id for m in seen for r in m.reactions)

    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    sb.admin("POST", "teams/contoso.onmicrosoft.com", json={"op": "post", "team": "sales", "channel": "General",
                                                            "from": "megan.bowen@contoso.example", "content": "<p>new</p>"})

    async def changes(c: GraphServiceClient, _: Any) -> Any:
        from msgraph.generated.teams.item.channels.item.messages.delta.delta_request_builder import (
            DeltaRequestBuilder,
        )
        channels = (await c.teams.by_team_id(sales["id"]).channels.get()).value
        general = next(ch for ch in channels if ch.display_name == "General")
        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            filter=f"lastModifiedDateTime gt {since.strftime('%Y-%m-%dT%H:%M:%S.000Z')}", expand=["replies"])
        return await c.teams.by_team_id(sales["id"]).channels.by_channel_id(general.id).messages.delta.get(
            request_configuration=DeltaRequestBuilder.DeltaRequestBuilderGetRequestConfiguration(query_parameters=query))

    delta = with_sdk(sb, "source", changes)  # only the chain posted since, and where the round ends
    assert [m.body.content for m in delta.value] == ["<p>new</p>"] and "$deltatoken=" in delta.odata_delta_link

    new = make_client(sb, "target")[1]
    make_target_users(sb, new, ("megan.bowen",), provision=False)
    megan = new.get(f"users/{new_upn('megan.bowen')}")
    group = new_group(new, "sales")
    team = new.request("PUT", f"groups/{group['id']}/team", json={}).json()
    general = new.get(f"teams/{team['id']}/channels")["value"][0]

    async def migrate(c: GraphServiceClient, _: Any) -> dict[str, Any]:
        channel = c.teams.by_team_id(team["id"]).channels.by_channel_id(general["id"])
        await channel.start_migration.post(StartMigrationPostRequestBody(
            conversation_creation_date_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)))
        made = await channel.messages.post(ChatMessage(
            created_date_time=dt.datetime(2024, 6, 1, 12, 0, 0, 250000, tzinfo=dt.UTC),
            from_=ChatMessageFromIdentitySet(user=Identity(id=megan["id"], display_name="Megan Bowen")),
            body=ItemBody(content="<p>imported</p>", content_type=BodyType.Html)))
        await channel.complete_migration.post()
        return {"made": made, "channel": await channel.get()}

    out = with_sdk(sb, "target", migrate)
    assert out["made"].from_.user.id == megan["id"]
    assert out["made"].created_date_time == dt.datetime(2024, 6, 1, 12, 0, 0, 250000, tzinfo=dt.UTC)
    assert out["channel"].migration_mode.value == "completed"


def test_the_sdk_reads_the_first_days_endpoints_passes_sendmail_devices_and_autopilot(fresh_sandbox: Sandbox) -> None:
    """Issue 19's endpoints as the SDK parses them: the pass policy and a pass (its secret in the answer to the POST
    only), sendMail (202, nothing to parse), Entra ID's devices with their owners, Intune's and Autopilot's."""
    from msgraph.generated.models.authentication_method_state import AuthenticationMethodState
    from msgraph.generated.models.body_type import BodyType
    from msgraph.generated.models.email_address import EmailAddress
    from msgraph.generated.models.item_body import ItemBody
    from msgraph.generated.models.message import Message
    from msgraph.generated.models.recipient import Recipient
    from msgraph.generated.models.temporary_access_pass_authentication_method import (
        TemporaryAccessPassAuthenticationMethod,
    )
    from msgraph.generated.models.temporary_access_pass_authentication_method_configuration import (
        TemporaryAccessPassAuthenticationMethodConfiguration,
    )
    from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

    async def passes(c: GraphServiceClient, _: Any) -> Any:
        configs = c.policies.authentication_methods_policy.authentication_method_configurations
        await configs.by_authentication_method_configuration_id("TemporaryAccessPass").patch(
            TemporaryAccessPassAuthenticationMethodConfiguration(state=AuthenticationMethodState.Enabled))
        policy = await configs.by_authentication_method_configuration_id("TemporaryAccessPass").get()
        methods = c.users.by_user_id("admin@contosonew.onmicrosoft.com").authentication.temporary_access_pass_methods
        made = await methods.post(TemporaryAccessPassAuthenticationMethod(lifetime_in_minutes=60, is_usable_once=True))
        return policy, made, await methods.get()

    policy, made, listed = with_sdk(fresh_sandbox, "target", passes)
    assert isinstance(policy, TemporaryAccessPassAuthenticationMethodConfiguration) and policy.maximum_lifetime_in_minutes == 480
    assert made.temporary_access_pass and made.is_usable and made.lifetime_in_minutes == 60
    assert [m.id for m in listed.value] == [made.id] and listed.value[0].temporary_access_pass is None

    async def old_side(c: GraphServiceClient, _: Any) -> Any:
        await c.users.by_user_id("admin@contoso.onmicrosoft.com").send_mail.post(SendMailPostRequestBody(
            message=Message(subject="From the SDK", body=ItemBody(content_type=BodyType.Text, content="hi"),
                            to_recipients=[Recipient(email_address=EmailAddress(address=MEGAN))]),
            save_to_sent_items=True))
        devices = await c.devices.get()
        laptop = next(d for d in devices.value if d.display_name == "MB-LAPTOP-01")
        owners = await c.devices.by_device_id(laptop.id).registered_owners.get()
        managed = await c.device_management.managed_devices.get()
        pilots = await c.device_management.windows_autopilot_device_identities.get()
        return laptop, owners, managed, pilots

    laptop, owners, managed, pilots = with_sdk(fresh_sandbox, "source", old_side)
    assert laptop.trust_type == "AzureAd" and laptop.operating_system == "Windows"
    assert [o.user_principal_name for o in owners.value] == [MEGAN]  # parsed as a user by its @odata.type
    assert {m.device_name for m in managed.value} == {"MB-LAPTOP-01", "Alex iPhone", "RECEPTION-PC"}
    assert {p.serial_number for p in pilots.value} == {"5CG1234ABC", "PF3XYZ12"}
    assert fresh_sandbox.stats()["counts"]["sendMail recipients delivered"] >= 1


def test_the_sdk_reads_the_usage_reports_through_their_download_url(sandbox: Sandbox) -> None:
    async def work(c: GraphServiceClient, _: Any) -> bytes:
        return await c.reports.get_mailbox_usage_detail_with_period("D7").get()

    csv = with_sdk(sandbox, "source", work).decode("utf-8-sig")  # the SDK follows the 302 to the CSV
    header, *rows = csv.splitlines()
    assert header.startswith("Report Refresh Date,User Principal Name,Display Name") and len(rows) >= 20

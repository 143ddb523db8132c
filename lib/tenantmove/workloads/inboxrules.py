"""Each moving mailbox's inbox rules (``/users/{id}/mailFolders/inbox/messageRules``), recreated with the people
in their conditions and actions rewritten through the user mapping and their folders found by place (the folder's
path in the new mailbox). A rule that forwards or redirects outside the organisation, or to someone who does not
move, is reported, not silently copied: a manual item with the ``New-InboxRule`` command, read back by name. A rule
whose folder did not arrive fails its item with the reason and the fix."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..errors import TenantmoveError
from ..services.graph import GraphClient, GraphNotFound, path
from .addresses import Addresses, Owner
from .mail import escape_name

RECIPIENT_CONDITIONS = ("fromAddresses", "sentToAddresses")
FORWARDS = ("forwardTo", "forwardAsAttachmentTo", "redirectTo")
FOLDER_ACTIONS = ("moveToFolder", "copyToFolder")
COMPARED = ("displayName", "sequence", "isEnabled", "conditions", "exceptions", "actions")
# Graph's rule parts as New-InboxRule's parameters (what the manual command can say)
CMDLET = {"subjectContains": "-SubjectContainsWords", "bodyContains": "-BodyContainsWords",
          "senderContains": "-FromAddressContainsWords", "fromAddresses": "-From", "sentToAddresses": "-SentTo",
          "sentToMe": "-MyNameInToBox", "sentToOrCcMe": "-MyNameInToOrCcBox", "hasAttachments": "-HasAttachment", "forwardTo": "-ForwardTo",
          "forwardAsAttachmentTo": "-ForwardAsAttachmentTo", "redirectTo": "-RedirectTo", "markAsRead": "-MarkAsRead",
          "markImportance": "-MarkImportance", "assignCategories": "-ApplyCategory", "delete": "-DeleteMessage",
          "stopProcessingRules": "-StopProcessingRules", "moveToFolder": "-MoveToFolder",
          "copyToFolder": "-CopyToFolder"}
# an owner -> (old folder id -> its path, path -> the new folder's id), both mailboxes as they are now
FolderMap = Callable[[Owner], tuple[dict[str, str], dict[str, str]]]


def mail_folder_paths(client: GraphClient, user: str) -> dict[str, str]:
    """Each mail folder's id (a rule names its folder by the Graph mailFolder id) -> its path from the top of the
    mailbox, names escaped as the mailbox copy escapes them."""
    out: dict[str, str] = {}
    todo = [(path("users", user, "mailFolders"), "")]
    while todo:
        url, prefix = todo.pop()
        for folder in client.get_all(url, {"$top": "100"}):
            where = prefix + escape_name(str(folder["displayName"]))
            out[str(folder["id"])] = where
            if folder.get("childFolderCount"):
                todo.append((path("users", user, "mailFolders", str(folder["id"]), "childFolders"), where + "/"))
    return out


def graph_folder_map(old: GraphClient, new: GraphClient) -> FolderMap:
    """Both sides' mail folders through Graph's mailFolders, matched by place; each owner's walked once, when the
    first of their rules asks (the folders workload ran before)."""
    seen: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    lock = threading.Lock()

    def both(owner: Owner) -> tuple[dict[str, str], dict[str, str]]:
        with lock:
            if owner.name not in seen:
                seen[owner.name] = (mail_folder_paths(old, owner.old),
                                    {p: i for i, p in mail_folder_paths(new, owner.new).items()})
            return seen[owner.name]
    return both


def rules_of(client: GraphClient, user: str) -> list[dict[str, Any]] | None:
    try:
        return client.get_all(path("users", user, "mailFolders", "inbox", "messageRules"))
    except GraphNotFound:
        return None


def _shape(rule: dict[str, Any]) -> dict[str, Any]:
    return {k: rule.get(k) or ({} if k in ("conditions", "exceptions", "actions") else rule.get(k)) for k in COMPARED}


class InboxRules(Workload):
    kind = "inbox-rule"
    title = "inbox rules"
    manual_shell = "Exchange Online PowerShell"
    manual_preamble = ("Connect-ExchangeOnline",)

    def __init__(self, old: GraphClient, new: GraphClient, owners: list[Owner], addresses: Addresses,
                 folders: FolderMap) -> None:
        self.old, self.new, self.owners, self.addresses, self.folders = old, new, owners, addresses, folders

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for owner in self.owners:
            for rule in rules_of(self.old, owner.old) or []:
                shaped = _shape(rule)
                version = hashlib.sha256(json.dumps(shaped, sort_keys=True).encode()).hexdigest()[:16]
                yield Work(f"{owner.name.lower()}/{rule['id']}", f"{owner.name}: {rule['displayName']}",
                           version=version, detail={"mailbox": owner.new, "rule": rule["displayName"]},
                           data=(owner, shaped))

    def translate(self, owner: Owner, rule: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[str]]:
        """The rule for the new mailbox; the recipients of its forwards that could not be rewritten; the folders
        that are not in the new mailbox."""
        out = json.loads(json.dumps(rule))
        unmapped: list[str] = []
        for part in ("conditions", "exceptions"):
            for name in RECIPIENT_CONDITIONS:
                if out[part].get(name):
                    out[part][name], _ = self.addresses.recipients(out[part][name])  # a condition on anyone is fine
        for name in FORWARDS:
            if out["actions"].get(name):
                out["actions"][name], problems = self.addresses.recipients(out["actions"][name])
                unmapped += problems
        missing = []
        if any(out["actions"].get(a) for a in FOLDER_ACTIONS):
            old_paths, new_ids = self.folders(owner)
            for action in FOLDER_ACTIONS:
                folder = out["actions"].get(action)
                if folder:
                    where = old_paths.get(folder, f"(folder {folder})")
                    if where in new_ids:
                        out["actions"][action] = new_ids[where]
                    else:
                        missing.append(where)
        return out, unmapped, missing

    def find(self, work: Work) -> dict[str, Any] | None:
        owner, rule = work.data
        held = rules_of(self.new, owner.new)
        if held is None:
            return None
        return next((r for r in held if r.get("displayName") == rule["displayName"]), {})

    def differs(self, work: Work, existing: dict[str, Any] | None) -> str:
        owner, rule = work.data
        if existing is None:
            return "no mailbox in the new tenant"
        if not existing:
            return "the rule is not in the new mailbox"
        wanted, unmapped, missing = self.translate(owner, rule)
        if unmapped:  # reported, made by the admin as they chose: its presence is what is checked
            return ""
        names = [k for k in COMPARED if _shape(existing).get(k) != wanted.get(k)]
        return f"differs: {', '.join(names)}" if names else ""

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied | ManualStep:
        owner, rule = work.data
        if existing is None:
            raise TenantmoveError(f"{owner.new} has no mailbox in the new tenant yet", hint="assign a licence with "
                                  "Exchange (phase 30) and rerun this phase once the mailbox exists")
        wanted, unmapped, missing = self.translate(owner, rule)
        if missing:
            raise TenantmoveError(f"the rule {rule['displayName']!r} files mail into {', '.join(missing)}, which is not "
                                  f"in {owner.new}'s new mailbox", hint="rerun this phase (mailbox folders come "
                                  "first); if the folder was deleted in the old mailbox, fix the rule there")
        if unmapped:
            if existing:
                return Applied(str(existing["id"]), "done by the admin, read back", detail=work.detail)
            return ManualStep(work.key, f"{owner.new}: the rule {rule['displayName']!r} forwards to "
                                        f"{', '.join(unmapped)}: reported, not copied", [
                f"# {rule['displayName']!r} forwards to {', '.join(unmapped)}. Check the organisation's outbound "
                "forwarding policy and ask the person; recreate it only if it is still wanted:",
                *self.command(owner, wanted)], check=f"a rule named {rule['displayName']!r} in {owner.new}'s mailbox")
        base = path("users", owner.new, "mailFolders", "inbox", "messageRules")
        body = {k: wanted[k] for k in COMPARED if wanted.get(k) not in (None, {})}
        if existing:
            if all(_shape(existing).get(k) == wanted.get(k) for k in COMPARED):
                return Applied(str(existing["id"]), "already so", detail=work.detail)
            self.new.patch(f"{base}/{existing['id']}", body)
            return Applied(str(existing["id"]), "updated", detail=work.detail)
        made = self.new.post(base, body, idempotent=False)
        return Applied(str(made.get("id")), "created", detail=work.detail)

    @staticmethod
    def command(owner: Owner, rule: dict[str, Any]) -> list[str]:
        """The rule as New-InboxRule (what it cannot say is named in a comment before it)."""
        parts = [f"New-InboxRule -Mailbox {ps_quote(owner.new)} -Name {ps_quote(rule['displayName'])}"]
        left = []
        for part in ("conditions", "actions"):
            for name, value in (rule.get(part) or {}).items():
                flag = CMDLET.get(name)
                if flag is None or value in (None, [], False):
                    if value not in (None, [], False):
                        left.append(name)
                    continue
                if value is True:
                    parts.append(f"{flag} $true")
                elif isinstance(value, list):
                    parts.append(flag + " " + ",".join(ps_quote(str((v.get("emailAddress") or {}).get("address"))
                                                                 if isinstance(v, dict) else v) for v in value))
                else:
                    parts.append(f"{flag} {ps_quote(str(value))}")
        return ([f"# New-InboxRule cannot say {', '.join(left)}: set it in Outlook afterwards"] if left else []) + [
            " ".join(parts)]

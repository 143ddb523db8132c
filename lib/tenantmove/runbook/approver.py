"""The phase's side of the second person's approval: it writes what is to be approved (the plan's digest) into its
folder when the plan is shown, and, just before the first change, takes the approval (a fresh sign-in, or the
signed file), checks it, records it in the ledger and the run folder, or stops with the reason. Nothing is changed
before an approval that counts."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from ..clock import utc_now
from ..report import Report
from . import approval, display
from .approval import ApprovalMissing, ApprovalRefused
from .approval_policy import ApprovalPolicy
from .change import Change
from .connect import connect, directory_roles

# approvals given in this kernel's session, by (run, phase, digest): running the apply cell again does not ask
# the approver twice while their sign-in is fresh
SESSION: dict[tuple[str, str, str], dict[str, Any]] = {}


class PlanApproval:
    """Made with the confirmation gate of a phase whose plan needs approval; called by the gate before it lets the
    first change through."""

    def __init__(self, phase: Any, plan: Any, policy: ApprovalPolicy) -> None:
        self.phase, self.policy = phase, policy
        found = approval.digest_of(phase.id, phase.params.public(), plan,
                                   approval.notebook_of(phase.run_dir, phase.id))
        self.request = {"phase": phase.id, "run_id": phase.run_id, "operator": phase.operator, "at": utc_now(),
                        "mode": policy.mode, "state_dir": str(phase.state_dir), **found,
                        "how to approve": self.how()}
        (phase.folder / approval.REQUEST).write_text(json.dumps(self.request, indent=1, sort_keys=True),
                                                     encoding="utf-8")
        self.entry: dict[str, Any] | None = None

    @property
    def digest(self) -> str:
        return str(self.request["digest"])

    def how(self) -> str:
        if self.policy.mode == "signin":
            return (f"a person holding {' or '.join(self.policy.roles)} in the "
                    f"{'new' if self.policy.tenant == 'target' else 'old'} tenant, not the operator, signs in with "
                    "the device code the apply step shows")
        return (f"the approver runs: python -m tenantmove approve {self.phase.run_dir} --phase {self.phase.id} "
                "--key approver.pem")

    def report(self) -> Report:
        return Report().facts("Approval of this plan (a second person)", {
            "needed": self.policy.describe(), "plan digest (SHA-256)": self.digest,
            **{f"digest of the {k}": v for k, v in self.request["parts"].items()}, "how": self.how()})

    def __call__(self) -> dict[str, Any]:
        """The approval that lets this plan apply, recorded; or a stop with the reason (nothing changed)."""
        if self.entry is not None:
            return self.entry
        key = (self.phase.run_id, self.phase.id, self.digest)
        earlier = SESSION.get(key)
        now = dt.datetime.now(dt.UTC)
        change = Change.of(self.phase.params.change)
        others, trusted = self._people(), self._trusted()
        if earlier is not None and not approval.refusal(earlier, self.request, self.policy, change, trusted, others,
                                                        now):
            self.entry = earlier
            return earlier
        entry = self._signin() if self.policy.mode == "signin" else self._signed()
        entry = {**entry, "operator": self.phase.operator, "run_id": self.phase.run_id}
        why = approval.refusal(entry, self.request, self.policy, change, trusted, others, now)
        if why:
            approval.append(self.phase.folder, {**entry, "refused": why})
            raise ApprovalRefused(why + "; nothing was changed", where=f"approval ({self.policy.mode})",
                                  hint=self._hint(why))
        entry["accepted_at"] = utc_now()
        approval.append(self.phase.folder, entry)
        self.phase.ledger().record_approval(entry)
        SESSION[key] = entry
        self.entry = entry
        print(approval.text(entry), flush=True)
        return entry

    def _hint(self, why: str) -> str:
        if "another plan" in why:
            return "ask for approval of this plan (its digest is in approval-request.json): " + self.how()
        if "operator" in why:
            return "a second person approves: " + self.how()
        if "window" in why:
            return "approve inside the change window, or record why not in change.override"
        return self.how()

    def _people(self) -> list[str]:
        """The people this phase signed in as (a delegated sign-in of its own): none of them may approve."""
        return [str(s.identity()["signed_in_as"]) for s in self.phase.signins.values()
                if s.identity()["kind"] == "delegated"]

    def _trusted(self) -> dict[str, str]:
        return approval.trusted_certificates(self.policy.certificates) if self.policy.mode == "signature" else {}

    def _signed(self) -> dict[str, Any]:
        for path in (self.phase.folder / approval.SIGNED,
                     approval.kept_signature(self.phase.state_dir, self.phase.id, self.digest)):
            if path.is_file():  # the run's own first (of another plan, it is refused as such), else the kept one
                return dict(json.loads(path.read_text(encoding="utf-8")))
        raise ApprovalMissing(f"the plan of {self.phase.id} waits for a second person's signed approval; nothing was "
                              "changed", where=str(self.phase.folder / approval.REQUEST),
                              hint=f"{self.how()}; then run this phase again (unattended: python -m tenantmove run "
                                   f"PARAMS --resume {self.phase.run_dir})")

    def _signin(self) -> dict[str, Any]:
        print(f"The plan of {self.phase.id} (digest {self.digest[:16]}…) waits for a second person's approval: "
              f"{self.how()}.", flush=True)
        return sign_in_approver(self.phase.params, self.policy, self.phase.endpoints, self.phase.id, self.digest)


def sign_in_approver(params: Any, policy: ApprovalPolicy, endpoints: Any, what: str, digest: str) -> dict[str, Any]:
    """A person signs in by device code (a widget in JupyterLab, the code on the console unattended) to the tenant
    the policy names, with the migration's app registration: who they are, their directory roles, when they signed
    in — the approval of ``what`` (a phase, or the closure) by ``digest``, to be checked."""
    config = params.target if policy.tenant == "target" else params.source
    signin, client = connect(approval.person_config(config), endpoints, display.prompt_for(params.interactive),
                             company=params.company or params.name)
    signin.sign_in()
    identity, claims = signin.identity(), signin.claims()
    roles = sorted(directory_roles(client))
    issued = claims.get("iat")
    return {"phase": what, "digest": digest, "how": "signin", "by": str(identity["signed_in_as"]),
            "tenant": config.tenant, "tenant_id": identity["tenant_id"], "roles": roles,
            "signed_in_at": dt.datetime.fromtimestamp(int(issued), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if issued else "", "at": utc_now()}


def approver_for(phase: Any, plan: Any) -> Callable[[], dict[str, Any]] | None:
    """The approval a phase's gate asks for before the first change (None when its plan needs none); the request
    is written, and shown, whenever the policy names the phase (in a dry run too, so it can be approved ahead)."""
    policy = ApprovalPolicy.of(phase.params.approval)
    if policy.mode == "none" or phase.id.split("_", 1)[0] not in policy.phases:
        return None
    gate = PlanApproval(phase, plan, policy)
    display.show(gate.report())
    return gate if policy.required(phase.id, phase.dry_run) else None

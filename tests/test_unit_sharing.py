"""The sharing workload's pure parts: Graph's permission read into one shape (a person by their site login when
the service sends no address), the old holders named as the new tenant names them (a link's people by object id,
since phase 20 renamed their addresses), and each holder's verdict in the access matrix."""

from __future__ import annotations

from tenantmove.services.sharing import Permission, parse
from tenantmove.workloads.sharing import Grantees, compare, role_of


def test_a_permission_is_read_into_one_shape() -> None:
    grant = parse({"id": "1", "roles": ["write"], "grantedToV2": {
        "user": {"id": "u1", "displayName": "Alex"},
        "siteUser": {"loginName": "i:0#.f|membership|alex@contoso.example"}}})
    assert (grant.kind, grant.principal, grant.address, grant.role) == ("user", "u1", "alex@contoso.example", "write")
    link = parse({"id": "2", "roles": ["read"], "hasPassword": True, "link": {"type": "view", "scope": "users",
                                                                             "webUrl": "https://x/y"},
                  "grantedToIdentitiesV2": [{"user": {"id": "u2", "email": "Megan@Contoso.example"}}]})
    assert (link.kind, link.recipients, link.recipient_ids, link.password) == (
        "link", ("megan@contoso.example",), ("u2",), True)
    inherited = parse({"id": "3", "roles": ["read"], "inheritedFrom": {"id": "p"}, "grantedToV2": {"group": {
        "id": "g1", "displayName": "Sales"}}})
    assert inherited.inherited and inherited.kind == "group" and role_of(link) == "read"


def test_the_old_holders_are_named_as_the_new_tenant_names_them() -> None:
    who = Grantees(users={"u2": "megan@new.example"}, groups={"g1": "n1"}, names={"n1": "Sales"},
                   addresses={"alex@contoso.example": "alex@new.example"})
    renamed = parse({"id": "2", "roles": ["read"], "link": {"type": "view", "scope": "users"},
                     "grantedToIdentitiesV2": [{"user": {"id": "u2", "email": "megan@contoso.onmicrosoft.com"}}]})
    assert who.who_old(renamed) == "people with the link: megan@new.example"  # by id: the address was renamed
    gone = parse({"id": "4", "roles": ["write"], "grantedToV2": {"user": {"id": "u9", "email": "leaver@contoso.example"}}})
    assert who.recipient(gone) is None and who.who_old(gone) == "leaver@contoso.example (not moving)"
    group = parse({"id": "5", "roles": ["write"], "grantedToV2": {"group": {"id": "g1", "displayName": "Sales"}}})
    assert who.recipient(group) == {"objectId": "n1"} and who.who_old(group) == "group Sales"


def test_each_holder_gets_a_verdict() -> None:
    who = Grantees(users={"a": "a@new", "b": "b@new", "c": "c@new"}, groups={}, names={})

    def user(uid: str, role: str, email: str = "") -> Permission:
        return parse({"id": uid + role, "roles": [role], "grantedToV2": {"user": {"id": uid, "email": email}}})

    old = [user("a", "read"), user("b", "write"), user("c", "write")]
    new = [user("na", "write", "a@new"), user("nb", "read", "b@new"), user("nd", "read", "d@new")]
    verdicts = {r["who"]: r["verdict"] for r in compare(who, old, new)}
    assert verdicts == {"a@new": "wider than before", "b@new": "narrower than before", "c@new": "missing",
                        "d@new": "extra: the old tenant did not give it"}

"""The Graph v1.0 subset the runbook uses, with Graph's paging limits, ``$select``, ``$batch``,
error bodies and permission checks."""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from .http import Request, Response
from .knobs import Fault, Governor
from .shapes import (
    BATCH_LIMIT,
    DOMAIN_PROPS,
    FILTER_RE,
    FILTERABLE,
    GROUP_PROPS,
    MAX_PAGE,
    ORG_PROPS,
    READ_PERMS,
    SKU_PROPS,
    STARTS_WITH_RE,
    USER_DEFAULT,
    USER_PROPS,
    WWW_AUTHENTICATE,
    GraphFailure,
    _parse_select,
    _project,
    context_url,
    domain_references,
    error_body,
)
from .state import ROLE_TEMPLATES, Store, Tenant, service_records, verification_records
from .subapi import SubApi
from .tokens import TokenError, TokenService
from .writes import Writes


class GraphApi:
    """Serves ``/v1.0[/{tenant}]/...`` for the tenant named by the caller's token."""

    def __init__(self, store: Store, tokens: TokenService, governor: Governor, stats: Callable[[str], None],
                 zones: Any = None, sites: Any = None, apis: list[SubApi] | None = None,
                 org_profile: Callable[[Tenant], dict[str, Any]] | None = None) -> None:
        self.store = store
        self.tokens = tokens
        self.governor = governor
        self.count = stats
        self.zones = zones  # the DNS zones, for domain verification
        self.writes = Writes(store, governor, zones)
        self.sites = sites  # the site routes: also Graph beta's POST /sites
        self.apis: list[SubApi] = list(apis or [])  # one route table, for direct and batched requests alike
        self.org_profile = org_profile  # the organisation's profile settings (SettingsApi), for GET /organization

    # --- entry ---------------------------------------------------------------------------------
    def handle(self, req: Request, rest: str, beta: bool = False) -> Response:
        request_id = str(uuid.uuid4())
        crid = req.headers.get("client-request-id")
        headers = {"request-id": request_id}
        if crid:
            headers["client-request-id"] = crid
        try:
            claims = self._authenticate(req)
            tenant, rest = self._tenant(claims, rest)
            fault = self.governor.decide(rest, tenant.id, method=req.method)
            if fault:
                return self._fault_response(fault, headers, request_id, crid)
            delay = self.governor.latency()
            if delay:
                time.sleep(delay)
            if beta:
                if self.sites is None or not (rest == "sites" or rest.startswith("sites/getOperationStatus(")):
                    raise GraphFailure(400, "BadRequest", "The sandbox serves only beta POST /sites and its "
                                                          "operation status.")
                resp = self.sites.call(req.method, rest, req.query, req.json() if req.body else None, tenant, claims,
                                       req.base_url, beta=beta)
                resp.headers.update(headers)
                return resp
            if rest == "$batch" and req.method == "POST":
                body = self._batch(req, tenant, claims)
                self.count("batch")
                return Response(200, body, headers)
            resp = self.dispatch(req, rest, tenant, claims)
            resp.headers.update(headers)
            return resp
        except GraphFailure as failure:
            headers.update(failure.headers)
            return Response(failure.status, error_body(failure.code, failure.message, request_id, crid), headers)

    def _fault_response(self, fault: Fault, headers: dict[str, str], request_id: str,
                        crid: str | None) -> Response:
        if fault.status in ("drop", "lost"):
            self.count("dropped")
            return Response(0, drop=True)
        status = int(fault.status)
        self.count("throttled" if status == 429 else "failed")
        if fault.retry_after is not None:
            headers["Retry-After"] = _retry_after_text(fault.retry_after)
        code = {400: "Request_BadRequest", 429: "TooManyRequests", 503: "ServiceUnavailable",
                504: "GatewayTimeout"}.get(status, "InternalServerError")
        message = fault.message or {429: "Too many requests; retry after the time given in Retry-After.",
                                    503: "The service is temporarily unavailable."}.get(status,
                                                                                        "A transient error occurred.")
        return Response(status, error_body(code, message, request_id, crid), headers)

    def _authenticate(self, req: Request) -> dict[str, Any]:
        auth = req.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise GraphFailure(401, "InvalidAuthenticationToken", "Access token is empty.", dict(WWW_AUTHENTICATE))
        try:
            return self.tokens.check(auth[7:].strip())
        except TokenError as exc:
            raise GraphFailure(401, exc.code, exc.message,
                               {"WWW-Authenticate": WWW_AUTHENTICATE["WWW-Authenticate"] + ', error="invalid_token"'}) from exc

    def _tenant(self, claims: dict[str, Any], rest: str) -> tuple[Tenant, str]:
        tenant = self.store.tenants.get(claims["tid"])
        if tenant is None:
            raise GraphFailure(401, "InvalidAuthenticationToken", "The tenant of the token does not exist.",
                               dict(WWW_AUTHENTICATE))
        head, _, tail = rest.partition("/")
        named = self.store.tenant_by_name(head) if head and head not in ("$batch",) else None
        if named is not None:
            if named.id != tenant.id:
                raise GraphFailure(401, "InvalidAuthenticationToken",
                                   "Access token validation failure: the token was issued for another tenant.",
                                   dict(WWW_AUTHENTICATE))
            rest = tail
        return tenant, rest

    # --- routing ---------------------------------------------------------------------------------
    def dispatch(self, req: Request, rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        """The one route table: the first service that mounts the request serves it, else the directory's own
        routes. Direct requests and ``$batch`` sub-requests both come through here."""
        for api in self.apis:
            if api.mounts(rest, req.method):
                resp = api.serve(req, rest, tenant, claims)
                if 200 <= resp.status < 300 and isinstance(resp.body, dict) and "@odata.context" not in resp.body:
                    resp.body = {"@odata.context": context_url(req.base_url, rest, resp.body), **resp.body}
                return resp
        status, body = self.route(req.method, rest, req.query, req.json() if req.body else None,
                                  tenant, claims, req.base_url, req.headers)
        return Response(status, body)

    def route(self, method: str, rest: str, query: dict[str, str], body: Any, tenant: Tenant,
              claims: dict[str, Any], base: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """The directory's own routes (users, groups, domains, organization, ...)."""
        parts = [unquote(p) for p in rest.split("/") if p]  # Graph decodes percent-encoded segments
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        if query.get("$count", "").lower() == "true" and headers.get("consistencylevel", "").lower() != "eventual":
            raise GraphFailure(400, "Request_BadRequest", "$count is only supported with the ConsistencyLevel header "
                                                          "set to eventual (advanced query).")
        if not parts:
            raise GraphFailure(400, "BadRequest", "Invalid request: no resource.")
        for key in query:
            if key.startswith("$") and key not in ("$select", "$top", "$skiptoken", "$count", "$filter"):
                raise GraphFailure(400, "BadRequest", f"The query option '{key}' is not supported by the sandbox.")
        resource = parts[0]
        self._require(claims, "me" if resource == "me" else resource)
        ctx = f"{base}/v1.0/$metadata#"
        with self.store.lock:
            if method != "GET":
                return self.writes.handle(method, parts, body, tenant, claims, base)
            if resource == "organization" and len(parts) == 1:
                select = _parse_select(query, ORG_PROPS, "organization")
                return 200, {"@odata.context": ctx + "organization",
                             "value": [_project(self._organization(tenant), select, ORG_PROPS, None, "organization")]}
            if resource == "subscribedSkus" and len(parts) == 1:
                select = _parse_select(query, SKU_PROPS, "subscribedSku")
                skus = [dict(s, consumedUnits=tenant.consumed(s["skuId"])) for s in tenant.skus.values()]
                return 200, {"@odata.context": ctx + "subscribedSkus",
                             "value": [_project(s, select, SKU_PROPS, None, "subscribedSku") for s in skus]}
            if resource == "domains":
                return self._domains(parts, query, tenant, base, ctx)
            if resource == "users":
                return self._users(parts, query, tenant, base, ctx)
            if resource == "groups":
                return self._groups(parts, query, tenant, base, ctx)
            if resource == "me" and parts[1:] == ["memberOf"]:
                if claims.get("oid") not in tenant.users:
                    raise GraphFailure(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
                roles = [{"@odata.type": "#microsoft.graph.directoryRole", "id": ROLE_TEMPLATES[name],
                          "displayName": name, "roleTemplateId": ROLE_TEMPLATES[name], "description": None,
                          "deletedDateTime": None}
                         for name in tenant.roles.get(str(claims["oid"]), []) if name in ROLE_TEMPLATES]
                return self._page(roles, query, base, "me/memberOf", ctx + "directoryObjects")
            if resource == "me" and len(parts) == 1:
                user = tenant.users.get(claims.get("oid", ""))
                if user is None:
                    raise GraphFailure(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
                select = _parse_select(query, USER_PROPS, "user")
                return 200, dict(_project(user, select, USER_PROPS, USER_DEFAULT, "user"),
                                 **{"@odata.context": ctx + "users/$entity"})
        raise GraphFailure(400, "BadRequest", f"Resource not found for the segment '{resource}'.")

    def _require(self, claims: dict[str, Any], resource: str) -> None:
        needed = READ_PERMS.get(resource)
        if needed is None:
            return
        granted = set(claims.get("roles", [])) | set(str(claims.get("scp", "")).split())
        if not granted & needed:
            raise GraphFailure(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")

    def _organization(self, tenant: Tenant) -> dict[str, Any]:
        return {
            "id": tenant.id, "businessPhones": [], "city": None, "country": None,
            "countryLetterCode": tenant.country, "createdDateTime": tenant.created,
            "defaultUsageLocation": tenant.country, "displayName": tenant.display_name,
            "preferredLanguage": "en", "tenantType": "AAD", "technicalNotificationMails": [],
            **(self.org_profile(tenant) if self.org_profile is not None else {}),
            "verifiedDomains": [
                {"capabilities": "Email, OfficeCommunicationsOnline" if not d["isInitial"] else "Email",
                 "isDefault": d["isDefault"], "isInitial": d["isInitial"], "name": name, "type": "Managed"}
                for name, d in tenant.domains.items() if d["isVerified"]],
        }

    @staticmethod
    def _filter(items: list[dict[str, Any]], query: dict[str, str], type_name: str) -> list[dict[str, Any]]:
        """``$filter=prop eq 'value'`` or ``startswith(prop, 'value')`` on a property Graph filters, case-insensitive
        like Graph's."""
        raw = query.get("$filter")
        if raw is None:
            return items
        match = FILTER_RE.match(raw) or STARTS_WITH_RE.match(raw)
        if not match or match.group(1) not in FILTERABLE.get(type_name, set()):
            raise GraphFailure(400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter clause: {raw}")
        prop, value = match.group(1), match.group(2).replace("''", "'").lower()
        if match.re is STARTS_WITH_RE:
            return [i for i in items if str(i.get(prop) or "").lower().startswith(value)]
        return [i for i in items if str(i.get(prop) or "").lower() == value]

    def _page(self, items: list[dict[str, Any]], query: dict[str, str], base: str, path: str,
              ctx: str) -> tuple[int, dict[str, Any]]:
        top_raw = query.get("$top")
        default = self.governor.knobs.page_size_default
        if top_raw is not None:
            if not top_raw.isdigit() or not 1 <= int(top_raw) <= MAX_PAGE:
                raise GraphFailure(400, "Request_UnsupportedQuery",
                                   f"Invalid page size specified: '{top_raw}'. Must be between 1 and {MAX_PAGE} inclusive.")
            size = int(top_raw)
        else:
            size = default
        offset = 0
        if "$skiptoken" in query:
            try:
                offset = int(json.loads(base64.urlsafe_b64decode(query["$skiptoken"] + "==")).get("o", 0))
            except (ValueError, TypeError) as exc:
                raise GraphFailure(400, "Request_BadRequest", "The $skiptoken is not valid.") from exc
        page = items[offset:offset + size]
        body: dict[str, Any] = {"@odata.context": ctx, "value": page}
        if "$count" in query and query["$count"].lower() == "true":
            body["@odata.count"] = len(items)
        if offset + size < len(items):
            token = base64.urlsafe_b64encode(json.dumps({"o": offset + size}).encode()).decode().rstrip("=")
            keep = {k: v for k, v in query.items() if k in ("$select", "$top", "$count", "$filter")}
            keep["$top"] = str(size)
            keep["$skiptoken"] = token
            body["@odata.nextLink"] = f"{base}/v1.0/{path}?" + "&".join(f"{k}={quote(v, safe=',')}" for k, v in keep.items())
        return 200, body

    def _users(self, parts: list[str], query: dict[str, str], tenant: Tenant, base: str, ctx: str) -> tuple[int, Any]:
        select = _parse_select(query, USER_PROPS, "user")
        if len(parts) == 1:
            users = self._filter(list(tenant.users.values()), query, "user")
            items = [_project(u, select, USER_PROPS, USER_DEFAULT, "user") for u in users]
            return self._page(items, query, base, "users", ctx + "users")
        user = tenant.find_user(parts[1])
        if user is None:
            raise GraphFailure(404, "Request_ResourceNotFound",
                               f"Resource '{parts[1]}' does not exist or one of its queried reference-property "
                               "objects are not present.")
        if len(parts) == 2:
            return 200, dict(_project(user, select, USER_PROPS, USER_DEFAULT, "user"),
                             **{"@odata.context": ctx + "users/$entity"})
        if parts[2] == "manager" and len(parts) == 3:  # the manager, as a directoryObject (a user here)
            manager = tenant.users.get(str(user.get("manager") or ""))
            if manager is None:
                raise GraphFailure(404, "Request_ResourceNotFound", "Resource 'manager' does not exist or one of its "
                                                                    "queried reference-property objects are not present.")
            return 200, dict(_project(manager, select, USER_PROPS, USER_DEFAULT, "user"),
                             **{"@odata.type": "#microsoft.graph.user", "@odata.context": ctx + "directoryObjects/$entity"})
        if parts[2] == "directReports" and len(parts) == 3:
            reports = [dict(_project(u, select, USER_PROPS, USER_DEFAULT, "user"), **{"@odata.type": "#microsoft.graph.user"})
                       for u in tenant.users.values() if u.get("manager") == user["id"]]
            return self._page(reports, query, base, f"users/{parts[1]}/directReports", ctx + "directoryObjects")
        if parts[2] == "memberOf" and len(parts) == 3:
            groups = [dict(_project(g, None, GROUP_PROPS, None, "group"), **{"@odata.type": "#microsoft.graph.group"})
                      for gid, g in tenant.groups.items() if user["id"] in tenant.members.get(gid, [])]
            return self._page(groups, query, base, f"users/{parts[1]}/memberOf", ctx + "directoryObjects")
        raise GraphFailure(400, "BadRequest", f"Resource not found for the segment '{parts[2]}'.")

    def _groups(self, parts: list[str], query: dict[str, str], tenant: Tenant, base: str, ctx: str) -> tuple[int, Any]:
        if len(parts) == 1:
            select = _parse_select(query, GROUP_PROPS, "group")
            groups = self._filter(list(tenant.groups.values()), query, "group")
            items = [_project(g, select, GROUP_PROPS, None, "group") for g in groups]
            return self._page(items, query, base, "groups", ctx + "groups")
        group = tenant.groups.get(parts[1])
        if group is None:
            raise GraphFailure(404, "Request_ResourceNotFound",
                               f"Resource '{parts[1]}' does not exist or one of its queried reference-property "
                               "objects are not present.")
        if len(parts) == 2:
            select = _parse_select(query, GROUP_PROPS, "group")
            return 200, dict(_project(group, select, GROUP_PROPS, None, "group"),
                             **{"@odata.context": ctx + "groups/$entity"})
        if parts[2] == "members" and len(parts) == 3:
            select = _parse_select(query, USER_PROPS, "user")
            members = []
            for mid in tenant.members.get(group["id"], []):
                if mid in tenant.users:
                    members.append(dict(_project(tenant.users[mid], select, USER_PROPS, USER_DEFAULT, "user"),
                                        **{"@odata.type": "#microsoft.graph.user"}))
                elif mid in tenant.groups:
                    members.append(dict(_project(tenant.groups[mid], None, GROUP_PROPS, None, "group"),
                                        **{"@odata.type": "#microsoft.graph.group"}))
            return self._page(members, query, base, f"groups/{parts[1]}/members", ctx + "directoryObjects")
        raise GraphFailure(400, "BadRequest", f"Resource not found for the segment '{parts[2]}'.")

    def _domains(self, parts: list[str], query: dict[str, str], tenant: Tenant, base: str, ctx: str) -> tuple[int, Any]:
        select = _parse_select(query, DOMAIN_PROPS, "domain")
        if len(parts) == 1:
            return 200, {"@odata.context": ctx + "domains",
                         "value": [_project(d, select, DOMAIN_PROPS, None, "domain") for d in tenant.domains.values()]}
        domain = tenant.domains.get(parts[1].lower())
        if domain is None:
            raise GraphFailure(404, "Request_ResourceNotFound", f"Resource '{parts[1]}' does not exist or one of its "
                               "queried reference-property objects are not present.")
        if len(parts) == 2:
            return 200, dict(_project(domain, select, DOMAIN_PROPS, None, "domain"),
                             **{"@odata.context": ctx + "domains/$entity"})
        name = domain["id"]
        nav = parts[2]
        if nav == "verificationDnsRecords":
            return 200, {"@odata.context": ctx + f"domains('{name}')/verificationDnsRecords",
                         "value": verification_records(tenant.id, name)}
        if nav == "serviceConfigurationRecords":
            return 200, {"@odata.context": ctx + f"domains('{name}')/serviceConfigurationRecords",
                         "value": service_records(tenant.id, name, domain["supportedServices"]) if domain["isVerified"] else []}
        if nav == "domainNameReferences":
            return self._page(domain_references(tenant, name), query, base, f"domains/{name}/domainNameReferences",
                              ctx + "directoryObjects")
        raise GraphFailure(400, "BadRequest", f"Resource not found for the segment '{nav}'.")

    # --- $batch ----------------------------------------------------------------------------------
    def _batch(self, req: Request, tenant: Tenant, claims: dict[str, Any]) -> dict[str, Any]:
        try:
            payload = req.json()
        except ValueError as exc:
            raise GraphFailure(400, "BadRequest", "Invalid batch payload: the body is not JSON.") from exc
        requests_ = payload.get("requests")
        if not isinstance(requests_, list) or not requests_:
            raise GraphFailure(400, "BadRequest", "Invalid batch payload format: 'requests' must be a non-empty array.")
        if len(requests_) > BATCH_LIMIT:
            raise GraphFailure(400, "BadRequest",
                               f"Invalid batch payload format: number of requests exceeds the limit of {BATCH_LIMIT}.")
        ids = [str(r.get("id")) for r in requests_]
        if len(set(ids)) != len(ids):
            raise GraphFailure(400, "BadRequest", "Invalid batch payload: request ids must be unique.")
        by_id = {str(r["id"]): r for r in requests_}
        for r in requests_:
            for dep in r.get("dependsOn", []) or []:
                if str(dep) not in by_id:
                    raise GraphFailure(400, "BadRequest", f"Request '{r['id']}' depends on an unknown request '{dep}'.")
        for r in requests_:
            if r.get("body") is not None and not any(str(k).lower() == "content-type" for k in (r.get("headers") or {})):
                raise GraphFailure(400, "BadRequest", f"Invalid batch payload: request '{r['id']}' has a body but no "
                                                      "Content-Type header.")
        if not _fully_parallel_or_sequential(requests_):
            raise GraphFailure(400, "BadRequest", "Invalid batch payload: the requests must be fully parallel (no "
                                                  "dependsOn) or fully sequential (one dependsOn chain through all).")
        results: dict[str, dict[str, Any]] = {}
        pending = list(requests_)
        while pending:
            progressed = False
            for r in list(pending):
                deps = [str(d) for d in (r.get("dependsOn") or [])]
                if any(d not in results for d in deps):
                    continue
                pending.remove(r)
                progressed = True
                rid = str(r["id"])
                if any(results[d]["status"] >= 400 for d in deps):
                    results[rid] = {"id": rid, "status": 424, "headers": {"Content-Type": "application/json"},
                                    "body": error_body("FailedDependency", "A request this one depends on failed.",
                                                       str(uuid.uuid4()), None)}
                    continue
                results[rid] = self._sub_request(r, tenant, claims, req.base_url)
            if not progressed:
                raise GraphFailure(400, "BadRequest", "Invalid batch payload: dependsOn forms a cycle.")
        responses = list(results.values())
        random.shuffle(responses)  # Graph answers in any order; clients must match by id
        return {"responses": responses}

    def _sub_request(self, r: dict[str, Any], tenant: Tenant, claims: dict[str, Any], base: str) -> dict[str, Any]:
        rid = str(r["id"])
        request_id = str(uuid.uuid4())
        url = str(r.get("url", "")).lstrip("/")
        parsed = urlsplit(url)
        path = parsed.path
        query = dict(parse_qsl(parsed.query, keep_blank_values=True))
        self.count("batch_sub")
        fault = self.governor.decide(path, tenant.id, in_batch=True, method=str(r.get("method", "GET")))
        headers = {"Content-Type": "application/json", "request-id": request_id}
        if fault and fault.status not in ("drop", "lost"):
            status = int(fault.status)
            self.count("throttled" if status == 429 else "failed")
            if fault.retry_after is not None:
                headers["Retry-After"] = _retry_after_text(fault.retry_after)
            return {"id": rid, "status": status, "headers": headers,
                    "body": error_body("TooManyRequests" if status == 429 else "ServiceUnavailable",
                                       "Throttled inside $batch." if status == 429 else "Transient failure.",
                                       request_id, None)}
        sub = Request(str(r.get("method", "GET")).upper(), path, query,
                      {str(k).lower(): str(v) for k, v in (r.get("headers") or {}).items()},
                      json.dumps(r["body"]).encode() if r.get("body") is not None else b"", base)
        try:
            resp = self.dispatch(sub, path, tenant, claims)
        except GraphFailure as failure:
            headers.update(failure.headers)
            return {"id": rid, "status": failure.status, "headers": headers,
                    "body": error_body(failure.code, failure.message, request_id, None)}
        headers.update({k: v for k, v in resp.headers.items() if k.lower() != "content-type"})
        body = resp.body
        if isinstance(body, bytes):  # Graph gives a non-JSON body inside $batch base64-encoded
            body = base64.b64encode(body).decode()
        return {"id": rid, "status": resp.status, "headers": headers, "body": body}


def _fully_parallel_or_sequential(requests_: list[dict[str, Any]]) -> bool:
    deps = [[str(d) for d in (r.get("dependsOn") or [])] for r in requests_]
    if not any(deps):
        return True
    parents = [d[0] for d in deps if d]
    return (sum(1 for d in deps if not d) == 1 and all(len(d) <= 1 for d in deps)
            and len(set(parents)) == len(parents))


def _retry_after_text(seconds: float) -> str:
    """Graph sends whole seconds; the sandbox allows fractions so that tests stay quick."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"

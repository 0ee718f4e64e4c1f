"""LiveKit's SIP Twirp service, as far as provisioning uses it, on loopback.

It checks what the real server checks before it would act — the route, the protobuf content
type, a JWT signed with the project's secret carrying the SIP admin grant, a decodable body —
keeps trunks and dispatch rules in memory, and records every call so a test can assert exactly
which writes happened. Errors are Twirp's JSON ``{code, msg}``, which the SDK turns into
``TwirpError``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web
from google.protobuf.message import DecodeError, Message
from livekit import api

_STATUS = {
    "invalid_argument": 400,
    "malformed": 400,
    "unauthenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "bad_route": 404,
    "unimplemented": 501,
    "internal": 500,
}


@dataclass(frozen=True)
class Call:
    method: str
    request: Message


class TwirpError(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class TwirpSipStandIn:
    def __init__(self, api_key: str, api_secret: str) -> None:
        self.verifier = api.TokenVerifier(api_key, api_secret)
        self.trunks: dict[str, api.SIPInboundTrunkInfo] = {}
        self.rules: dict[str, api.SIPDispatchRuleInfo] = {}
        self.calls: list[Call] = []
        self.failures: dict[str, TwirpError] = {}
        self._ids = itertools.count(1)
        handlers: dict[str, tuple[type[Message], Callable[[Message], Message]]] = {
            "ListSIPInboundTrunk": (api.ListSIPInboundTrunkRequest, self._list_trunks),
            "CreateSIPInboundTrunk": (api.CreateSIPInboundTrunkRequest, self._create_trunk),
            "UpdateSIPInboundTrunk": (api.UpdateSIPInboundTrunkRequest, self._update_trunk),
            "ListSIPDispatchRule": (api.ListSIPDispatchRuleRequest, self._list_rules),
            "CreateSIPDispatchRule": (api.CreateSIPDispatchRuleRequest, self._create_rule),
            "UpdateSIPDispatchRule": (api.UpdateSIPDispatchRuleRequest, self._update_rule),
        }
        self._handlers = handlers
        self.app = web.Application()
        self.app.router.add_post("/twirp/livekit.SIP/{method}", self._serve)

    # -- test controls ---------------------------------------------------------------------

    def fail(self, method: str, code: str, msg: str) -> None:
        """Answer the next calls of ``method`` with a Twirp error until :meth:`heal`."""
        self.failures[method] = TwirpError(code, msg)

    def heal(self) -> None:
        self.failures.clear()

    @property
    def writes(self) -> list[str]:
        return [c.method for c in self.calls if not c.method.startswith("List")]

    def requests(self, method: str) -> list[Message]:
        return [c.request for c in self.calls if c.method == method]

    def add_trunk(self, trunk: api.SIPInboundTrunkInfo) -> str:
        """Put a trunk in place as if made earlier (by us, by hand, by someone else)."""
        trunk.sip_trunk_id = trunk.sip_trunk_id or self._new_id("ST")
        self.trunks[trunk.sip_trunk_id] = trunk
        return trunk.sip_trunk_id

    # -- protocol --------------------------------------------------------------------------

    async def _serve(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            handler = self._handlers.get(method)
            if handler is None:
                raise TwirpError("bad_route", f"no handler for {method}")
            if request.content_type != "application/protobuf":
                raise TwirpError("malformed", f"unexpected content type {request.content_type}")
            self._authorize(request.headers.get("Authorization", ""))
            message_class, handle = handler
            try:
                message = message_class.FromString(await request.read())
            except DecodeError as exc:
                raise TwirpError("malformed", f"undecodable {message_class.__name__}") from exc
            self.calls.append(Call(method, message))
            failure = self.failures.get(method)
            if failure is not None:
                raise failure
            answer = handle(message)
        except TwirpError as err:
            return web.json_response(
                {"code": err.code, "msg": err.msg}, status=_STATUS.get(err.code, 500)
            )
        return web.Response(body=answer.SerializeToString(), content_type="application/protobuf")

    def _authorize(self, header: str) -> None:
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            raise TwirpError("unauthenticated", "missing bearer token")
        try:
            claims = self.verifier.verify(token)
        except Exception as exc:  # any JWT failure is an authentication failure to Twirp
            raise TwirpError("unauthenticated", f"invalid token: {exc}") from exc
        if claims.sip is None or not claims.sip.admin:
            raise TwirpError("permission_denied", "SIP admin grant required")

    # -- handlers --------------------------------------------------------------------------

    def _list_trunks(self, message: Message) -> Message:
        assert isinstance(message, api.ListSIPInboundTrunkRequest)
        if message.trunk_ids or message.numbers or message.HasField("page"):
            raise TwirpError("unimplemented", "filters and pages are not served here")
        return api.ListSIPInboundTrunkResponse(items=list(self.trunks.values()))

    def _create_trunk(self, message: Message) -> Message:
        assert isinstance(message, api.CreateSIPInboundTrunkRequest)
        trunk = message.trunk
        if not message.HasField("trunk") or trunk.sip_trunk_id:
            raise TwirpError("invalid_argument", "trunk required, without an id")
        stored = _stamped(trunk)
        stored.sip_trunk_id = self._new_id("ST")
        self.trunks[stored.sip_trunk_id] = stored
        return stored

    def _update_trunk(self, message: Message) -> Message:
        assert isinstance(message, api.UpdateSIPInboundTrunkRequest)
        old = self.trunks.get(message.sip_trunk_id)
        if old is None:
            raise TwirpError("not_found", f"no inbound trunk {message.sip_trunk_id}")
        if message.WhichOneof("action") != "replace":
            raise TwirpError("unimplemented", "only replace is served here")
        if message.replace.sip_trunk_id not in ("", old.sip_trunk_id):
            raise TwirpError("invalid_argument", "replacement names another trunk")
        stored = _stamped(message.replace, created=old)
        stored.sip_trunk_id = old.sip_trunk_id
        self.trunks[stored.sip_trunk_id] = stored
        return stored

    def _list_rules(self, message: Message) -> Message:
        assert isinstance(message, api.ListSIPDispatchRuleRequest)
        if message.dispatch_rule_ids or message.trunk_ids or message.HasField("page"):
            raise TwirpError("unimplemented", "filters and pages are not served here")
        return api.ListSIPDispatchRuleResponse(items=list(self.rules.values()))

    def _create_rule(self, message: Message) -> Message:
        assert isinstance(message, api.CreateSIPDispatchRuleRequest)
        if not message.HasField("dispatch_rule"):
            raise TwirpError("unimplemented", "only dispatch_rule (not the legacy fields) here")
        rule = message.dispatch_rule
        if rule.sip_dispatch_rule_id:
            raise TwirpError("invalid_argument", "a new rule cannot carry an id")
        self._check_rule(rule)
        stored = _stamped(rule)
        stored.sip_dispatch_rule_id = self._new_id("SDR")
        self.rules[stored.sip_dispatch_rule_id] = stored
        return stored

    def _update_rule(self, message: Message) -> Message:
        assert isinstance(message, api.UpdateSIPDispatchRuleRequest)
        old = self.rules.get(message.sip_dispatch_rule_id)
        if old is None:
            raise TwirpError("not_found", f"no dispatch rule {message.sip_dispatch_rule_id}")
        if message.WhichOneof("action") != "replace":
            raise TwirpError("unimplemented", "only replace is served here")
        self._check_rule(message.replace)
        stored = _stamped(message.replace, created=old)
        stored.sip_dispatch_rule_id = old.sip_dispatch_rule_id
        self.rules[stored.sip_dispatch_rule_id] = stored
        return stored

    def _check_rule(self, rule: api.SIPDispatchRuleInfo) -> None:
        if rule.rule.WhichOneof("rule") is None:
            raise TwirpError("invalid_argument", "dispatch rule kind required")
        for trunk_id in rule.trunk_ids:
            if trunk_id not in self.trunks:
                raise TwirpError("invalid_argument", f"unknown trunk {trunk_id}")

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):012d}"


M = TypeVar("M", api.SIPInboundTrunkInfo, api.SIPDispatchRuleInfo)


def _stamped(source: M, created: M | None = None) -> M:
    """A stored copy with the server-owned times set, as the real server returns it."""
    stored = type(source)()
    stored.CopyFrom(source)
    if created is not None:
        stored.created_at.CopyFrom(created.created_at)
        stored.updated_at.GetCurrentTime()
    else:
        stored.created_at.GetCurrentTime()
    return stored

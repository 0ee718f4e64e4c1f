"""Twirp, the RPC framing of LiveKit's server API, with every call recorded for tests.

``POST /twirp/livekit.<Service>/<Method>``, a protobuf (or JSON) body, ``Authorization:
Bearer <jwt>``; errors are JSON ``{"code", "msg"}`` with the matching HTTP status, which
livekit-api raises as ``TwirpError``. Calls are recorded once their body parses, with the
error they ended in, so tests can assert what the code under test asked for.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit.api.access_token import Claims

from . import auth

logger = logging.getLogger(__name__)

PACKAGE = "livekit"
_PROTOBUF = "application/protobuf"
_JSON = "application/json"

_STATUS = {
    "invalid_argument": 400,
    "malformed": 400,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "failed_precondition": 412,
    "resource_exhausted": 429,
    "internal": 500,
    "unimplemented": 501,
    "unavailable": 503,
}
_AUTH_CODES = {401: "unauthenticated", 403: "permission_denied"}


class TwirpError(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg

    @property
    def status(self) -> int:
        return _STATUS.get(self.code, 500)


@dataclass(frozen=True)
class TwirpCall:
    service: str
    method: str
    request: Any
    error: TwirpError | None


Handler = Callable[[Any, Claims], Awaitable[Message]]


@dataclass(frozen=True)
class _Method:
    request_type: type[Message]
    handler: Handler


def _error_response(error: TwirpError) -> web.Response:
    body = json.dumps({"code": error.code, "msg": error.msg})
    return web.Response(status=error.status, text=body, content_type=_JSON)


class TwirpServer:
    def __init__(self, authenticator: auth.Authenticator) -> None:
        self.auth = authenticator
        self.calls: list[TwirpCall] = []
        self._methods: dict[tuple[str, str], _Method] = {}

    def add(self, service: str, method: str, request_type: type[Message], handler: Handler) -> None:
        self._methods[(service, method)] = _Method(request_type, handler)

    def calls_to(self, service: str, method: str | None = None) -> list[TwirpCall]:
        """Recorded calls of one service (and method), oldest first."""
        return [c for c in self.calls if c.service == service and method in (None, c.method)]

    async def handle(self, request: web.Request) -> web.Response:
        qualified = request.match_info["service"]
        method_name = request.match_info["method"]
        package, _, service = qualified.rpartition(".")
        method = self._methods.get((service, method_name)) if package == PACKAGE else None
        if method is None:
            return _error_response(TwirpError("bad_route", f"no method {qualified}/{method_name}"))
        content_type = request.content_type
        if content_type not in (_PROTOBUF, _JSON):
            return _error_response(
                TwirpError("bad_route", f"unexpected Content-Type {content_type!r}")
            )
        body = await request.read()
        message = method.request_type()
        try:
            if content_type == _JSON:
                json_format.Parse(body.decode(), message, ignore_unknown_fields=True)
            else:
                message.ParseFromString(body)
        except (DecodeError, json_format.ParseError, UnicodeDecodeError) as exc:
            return _error_response(TwirpError("malformed", f"undecodable request: {exc}"))
        error: TwirpError | None = None
        try:
            claims = self.auth.verify(auth.bearer_token(request))
            response = await method.handler(message, claims)
        except auth.AuthError as exc:
            error = TwirpError(_AUTH_CODES.get(exc.status, "permission_denied"), exc.message)
        except TwirpError as exc:
            error = exc
        self.calls.append(TwirpCall(service, method_name, message, error))
        if error is not None:
            logger.info("twirp %s/%s failed: %s", service, method_name, error)
            return _error_response(error)
        if content_type == _JSON:
            return web.Response(text=json_format.MessageToJson(response), content_type=_JSON)
        return web.Response(body=response.SerializeToString(), content_type=_PROTOBUF)

"""Twilio's Calls resource on loopback: records the updates the sidecar makes to a live call.

The sidecar ends a call with ``Status=completed`` and transfers one with new ``Twiml``; both are
``POST /2010-04-01/Accounts/<AC>/Calls/<CA>.json`` through the real twilio SDK, redirected here
by :class:`~tests.sip.provision.twilio_standin.LoopbackHttpClient`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from aiohttp import web

CALLS = "/api.twilio.com/2010-04-01/Accounts/{account}/Calls/{call}.json"


@dataclass
class CallUpdate:
    call_sid: str
    form: dict[str, str]


@dataclass
class TwilioCallsStandIn:
    account_sid: str
    auth_token: str
    updates: list[CallUpdate] = field(default_factory=list)

    @property
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(CALLS, self._update)
        return app

    async def _update(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        if request.match_info["account"] != self.account_sid:
            return web.json_response({"code": 20404, "message": "not found"}, status=404)
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        call_sid = request.match_info["call"]
        self.updates.append(CallUpdate(call_sid, form))
        return web.json_response(
            {
                "sid": call_sid,
                "account_sid": self.account_sid,
                "status": form.get("Status", "in-progress"),
            }
        )

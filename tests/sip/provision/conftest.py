"""The real livekit-server and the Twilio REST stand-in, and a way to run provisioning on them.

LiveKit's side is the real server (``private_stack``: its own Redis per test, so SIP state
starts empty and a test may kill and restart the server). What a run did is read back through
the server's own API (List…) and, where a test must show that no write was sent, from the
server's own API log, which records every Twirp call it served as ``API SIP.<Method>``.
Twilio has no local real counterpart, so its side is the recorder in ``twilio_standin``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from livekit import api

from sip.provision.plan import Change
from sip.provision.provisioner import provision
from sip.provision.spec import ProvisionSpec
from tests.sip.provision.twilio_standin import LoopbackHttpClient, TwilioStandIn
from trunkline.config import DEFAULT_AGENT_NAME, LiveKitCredentials, TwilioCredentials
from trunkline.stack import LocalStack

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-auth-token"
SIP_URI = "sip:abc123.sip.livekit.cloud;transport=tcp"
NUMBER = "+15550001111"

SPEC = ProvisionSpec(numbers=(NUMBER,), sip_uri=SIP_URI, agent_name=DEFAULT_AGENT_NAME)

# A SIP call provisioning never makes; the tests make it to mark the end of the API log.
_MARK = "ListSIPOutboundTrunk"
_LOG_WAIT_S = 5.0


@contextlib.asynccontextmanager
async def server_api(stack: LocalStack) -> AsyncIterator[api.LiveKitAPI]:
    """The server's API as an operator's code calls it. (Not ``tests.realstack.clients``: this
    conftest loads before the namespace is entered, and that module starts native threads.)"""
    async with api.LiveKitAPI(stack.http_url, stack.api_key, stack.api_secret) as lk:
        yield lk


@dataclass(frozen=True)
class ApiCall:
    """One Twirp call as livekit-server logged it."""

    method: str
    status: str


def writes(calls: list[ApiCall]) -> list[str]:
    """The calls that could change something (anything but List…), answered or refused."""
    return [c.method for c in calls if not c.method.startswith("List")]


def read_api_log(path: Path) -> list[ApiCall]:
    """``API SIP.<Method>\\t{json}`` lines: livekit-server logs each Twirp call once answered."""
    calls: list[ApiCall] = []
    # only whole lines: the server may be writing the last one right now
    for line in path.read_text(errors="replace").split("\n")[:-1]:
        _, found, rest = line.partition("\tAPI SIP.")
        if not found:
            continue
        method, _, fields = rest.partition("\t")
        calls.append(ApiCall(method, str(json.loads(fields).get("status", ""))))
    return calls


@dataclass
class Planes:
    """The real LiveKit stack and the Twilio stand-in."""

    stack: LocalStack
    twilio: TwilioStandIn
    twilio_url: str
    reports: list[list[Change]] = field(default_factory=list)

    async def provision(
        self,
        spec: ProvisionSpec | None = None,
        *,
        dry_run: bool = False,
        secret: str | None = None,
        on_report: Callable[[Change], None] | None = None,
    ) -> list[Change]:
        """One run; returns what it reported (also kept in ``reports`` when it raises).

        ``on_report`` hears each change after it is recorded, e.g. to crash the server
        between two steps.
        """
        changes: list[Change] = []
        self.reports.append(changes)

        def report(change: Change) -> None:
            changes.append(change)
            if on_report is not None:
                on_report(change)

        await provision(
            spec or SPEC,
            LiveKitCredentials(self.stack.url, self.stack.api_key, secret or self.stack.api_secret),
            TwilioCredentials(ACCOUNT_SID, AUTH_TOKEN),
            dry_run=dry_run,
            report=report,
            twilio_http_client=LoopbackHttpClient(self.twilio_url),
        )
        return changes

    # -- LiveKit, through the real server's API --------------------------------------------

    async def trunks(self) -> list[api.SIPInboundTrunkInfo]:
        async with server_api(self.stack) as lk:
            listed = await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
        return list(listed.items)

    async def rules(self, trunk_id: str | None = None) -> list[api.SIPDispatchRuleInfo]:
        """Every dispatch rule, or (as livekit-sip selects them for a call) a trunk's."""
        request = api.ListSIPDispatchRuleRequest(trunk_ids=[trunk_id] if trunk_id else [])
        async with server_api(self.stack) as lk:
            listed = await lk.sip.list_dispatch_rule(request)
        return list(listed.items)

    async def only_trunk(self) -> api.SIPInboundTrunkInfo:
        (trunk,) = await self.trunks()
        return trunk

    async def only_rule(self) -> api.SIPDispatchRuleInfo:
        (rule,) = await self.rules()
        return rule

    async def add_trunk(self, name: str, *numbers: str) -> api.SIPInboundTrunkInfo:
        """A trunk made some other way (by hand, by an earlier run, by someone else)."""
        trunk = api.SIPInboundTrunkInfo(name=name, numbers=numbers)
        async with server_api(self.stack) as lk:
            return await lk.sip.create_inbound_trunk(api.CreateSIPInboundTrunkRequest(trunk=trunk))

    async def add_rule(self, name: str, trunk_id: str) -> api.SIPDispatchRuleInfo:
        """An individual-room rule made some other way, for ``trunk_id``."""
        rule = api.SIPDispatchRuleInfo(
            name=name,
            trunk_ids=[trunk_id],
            rule=api.SIPDispatchRule(
                dispatch_rule_individual=api.SIPDispatchRuleIndividual(room_prefix="pbx-")
            ),
        )
        async with server_api(self.stack) as lk:
            return await lk.sip.create_dispatch_rule(
                api.CreateSIPDispatchRuleRequest(dispatch_rule=rule)
            )

    async def replace_trunk(self, trunk: api.SIPInboundTrunkInfo) -> None:
        """Change a trunk as the console would: the whole object replaced."""
        async with server_api(self.stack) as lk:
            await lk.sip.update_inbound_trunk(trunk.sip_trunk_id, trunk)

    async def replace_rule(self, rule: api.SIPDispatchRuleInfo) -> None:
        async with server_api(self.stack) as lk:
            await lk.sip.update_dispatch_rule(rule.sip_dispatch_rule_id, rule)

    async def delete_trunk(self, trunk_id: str) -> None:
        async with server_api(self.stack) as lk:
            await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk_id))

    async def delete_rule(self, rule_id: str) -> None:
        async with server_api(self.stack) as lk:
            await lk.sip.delete_dispatch_rule(
                api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule_id)
            )

    async def api_log(self) -> list[ApiCall]:
        """Every SIP call this stack's livekit-server has answered so far, in order.

        The server writes a call's line just after answering it, so a marking call is made and
        its line awaited: every call answered before the mark is then in the log too.
        """
        path = self.stack.logs()["livekit-server"]
        marks = sum(c.method == _MARK for c in read_api_log(path))
        async with server_api(self.stack) as lk:
            await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
        async with asyncio.timeout(_LOG_WAIT_S):
            while True:
                calls = read_api_log(path)
                if sum(c.method == _MARK for c in calls) > marks:
                    return [c for c in calls if c.method != _MARK]
                await asyncio.sleep(0.01)


@pytest.fixture
async def planes(private_stack: LocalStack) -> AsyncIterator[Planes]:
    twilio = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN)
    twilio.add_number(NUMBER, voice_url="https://example.test/twiml")
    server = TestServer(twilio.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Planes(stack=private_stack, twilio=twilio, twilio_url=str(server.make_url("")))
    finally:
        await server.close()

"""Both control planes on loopback, and a way to run provisioning against them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp.test_utils import TestServer

from sip.provision.plan import Change
from sip.provision.provisioner import provision
from sip.provision.spec import ProvisionSpec
from tests.sip.provision.twilio_standin import LoopbackHttpClient, TwilioStandIn
from tests.sip.provision.twirp_standin import TwirpSipStandIn
from trunkline.config import LiveKitCredentials, TwilioCredentials

API_KEY = "APIprovisiontest"
API_SECRET = "provisioning-test-secret-of-at-least-32-bytes"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-auth-token"
SIP_URI = "sip:abc123.sip.livekit.cloud;transport=tcp"
NUMBER = "+15550001111"


SPEC = ProvisionSpec(numbers=(NUMBER,), sip_uri=SIP_URI, agent_name="trunkline")


@dataclass
class Planes:
    """The two stand-ins and their loopback addresses."""

    livekit: TwirpSipStandIn
    twilio: TwilioStandIn
    livekit_url: str
    twilio_url: str
    reports: list[list[Change]] = field(default_factory=list)

    async def provision(
        self, spec: ProvisionSpec | None = None, *, dry_run: bool = False, secret: str = API_SECRET
    ) -> list[Change]:
        """One run; returns what it reported (also kept in ``reports`` when it raises)."""
        changes: list[Change] = []
        self.reports.append(changes)
        await provision(
            spec or SPEC,
            LiveKitCredentials(self.livekit_url, API_KEY, secret),
            TwilioCredentials(ACCOUNT_SID, AUTH_TOKEN),
            dry_run=dry_run,
            report=changes.append,
            twilio_http_client=LoopbackHttpClient(self.twilio_url),
        )
        return changes


@pytest.fixture
async def planes() -> AsyncIterator[Planes]:
    livekit = TwirpSipStandIn(API_KEY, API_SECRET)
    twilio = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN)
    twilio.add_number(NUMBER, voice_url="https://example.test/twiml")
    servers = [TestServer(livekit.app, host="127.0.0.1"), TestServer(twilio.app, host="127.0.0.1")]
    for server in servers:
        await server.start_server()
    try:
        yield Planes(
            livekit=livekit,
            twilio=twilio,
            livekit_url=str(servers[0].make_url("")),
            twilio_url=str(servers[1].make_url("")),
        )
    finally:
        for server in servers:
            await server.close()

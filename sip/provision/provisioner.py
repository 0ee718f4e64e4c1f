"""One provisioning run: read both control planes, then bring each to the desired state.

Everything is read before anything is written, so the checks that can fail on input (a number
this Twilio account does not own, two trunks with our name) stop the run with nothing changed.
LiveKit goes first because a Twilio trunk pointing at a LiveKit project with no inbound trunk
would have Twilio deliver calls that LiveKit rejects. With ``--dial-sip`` there is no Twilio
side: the number keeps its voice webhook, and the sidecar dials LiveKit from there.
"""

from __future__ import annotations

import asyncio
from typing import Any

from livekit import api
from twilio.rest import Client

from sip.provision.livekit_side import apply_livekit, read_livekit
from sip.provision.plan import Report
from sip.provision.spec import ProvisionSpec
from sip.provision.twilio_side import apply_twilio, read_twilio
from trunkline.config import LiveKitCredentials, TwilioCredentials


async def provision(
    spec: ProvisionSpec,
    livekit: LiveKitCredentials,
    twilio: TwilioCredentials | None,
    *,
    dry_run: bool,
    report: Report,
    twilio_http_client: Any = None,
) -> None:
    """Make the objects in ``spec`` exist; ``report`` hears each object's change once it is made.

    With ``dry_run`` only reads happen and ``report`` hears what would change. Raises
    :class:`~sip.provision.plan.ProvisionError` naming the failing step. ``twilio_http_client``
    is a ``twilio.http.HttpClient`` (default: the SDK's own).
    """
    if spec.dial_sip is None and twilio is None:
        raise ValueError("an Elastic SIP trunk needs Twilio credentials")
    async with api.LiveKitAPI(livekit.url, livekit.api_key, livekit.api_secret) as lk:
        livekit_state = await read_livekit(lk.sip, spec)
        if spec.dial_sip is not None or twilio is None:
            await apply_livekit(lk.sip, spec, livekit_state, dry_run=dry_run, report=report)
            return
        client = Client(twilio.account_sid, twilio.auth_token, http_client=twilio_http_client)
        twilio_state = await asyncio.to_thread(read_twilio, client, spec)
        await apply_livekit(lk.sip, spec, livekit_state, dry_run=dry_run, report=report)
        await asyncio.to_thread(
            apply_twilio, client, spec, twilio_state, dry_run=dry_run, report=report
        )

"""The two Twilio REST calls the sidecar makes: end a call, and redirect it (transfer).

The twilio SDK's HTTP client is synchronous, so each request runs in a worker thread and never
stalls the event loop that paces every call's audio.
"""

from __future__ import annotations

import asyncio
import logging

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

logger = logging.getLogger(__name__)


class TwilioCalls:
    def __init__(self, client: Client) -> None:
        self.client = client

    @classmethod
    def create(
        cls, account_sid: str, auth_token: str, http_client: TwilioHttpClient | None = None
    ) -> TwilioCalls:
        return cls(Client(account_sid, auth_token, http_client=http_client))

    async def complete(self, call_sid: str) -> None:
        """Hang up: ``Calls(sid).update(status="completed")``."""
        await asyncio.to_thread(lambda: self.client.calls(call_sid).update(status="completed"))
        logger.info("call %s: completed through the Twilio REST API", call_sid)

    async def redirect(self, call_sid: str, twiml: str) -> None:
        """Replace the call's TwiML (e.g. a ``<Dial>`` to transfer it)."""
        await asyncio.to_thread(lambda: self.client.calls(call_sid).update(twiml=twiml))
        logger.info("call %s: redirected through the Twilio REST API", call_sid)

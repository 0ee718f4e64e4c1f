"""Bridge mode's readiness: LiveKit answering an authenticated call, checked against the
real livekit-server and against a LiveKit that is not there."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from sip.bridge.bridge import Bridge
from sip.sidecar.app import create_app
from tests.sip.bridge.rig import APOLOGY
from tests.sip.bridge.test_livekit_failure import SECRET, closed_port
from trunkline.config import LiveKitCredentials, settings_from_env
from trunkline.stack import LocalStack


async def readiness(credentials: LiveKitCredentials) -> tuple[int, dict[str, str]]:
    bridge = Bridge(credentials, "trunkline", apology_audio=APOLOGY)
    async with bridge.rooms:
        app = create_app(settings_from_env({}), bridge.new_call, checks=[bridge.readiness_check()])
        async with TestClient(TestServer(app)) as client:
            resp = await client.get("/readyz")
            return resp.status, (await resp.json())["checks"]


async def test_unready_while_livekit_cannot_be_reached() -> None:
    status, checks = await readiness(
        LiveKitCredentials(f"ws://127.0.0.1:{closed_port()}", "devkey", SECRET)
    )
    assert status == 503 and checks["livekit"].startswith("ListRooms: ")


@pytest.mark.netns
async def test_ready_with_the_real_livekit_and_not_with_the_wrong_secret(
    livekit_stack: LocalStack,
) -> None:
    right = LiveKitCredentials(livekit_stack.url, livekit_stack.api_key, livekit_stack.api_secret)
    assert await readiness(right) == (200, {"draining": "ok", "capacity": "ok", "livekit": "ok"})
    wrong = LiveKitCredentials(livekit_stack.url, livekit_stack.api_key, SECRET)
    status, checks = await readiness(wrong)
    assert status == 503
    assert "LiveKit did not accept the API key and secret (HTTP 401)" in checks["livekit"]

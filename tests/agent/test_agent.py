"""The agent's own guards, without a session: what reaches it when it cannot act."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from agent.agent import TrunklineAgent
from agent.call_actions import CallerPath


@dataclass
class Actions:
    path: CallerPath = "twilio-ws"
    call_id: str = "CAkeys"

    async def hang_up(self, reason: str) -> None:
        raise AssertionError("not expected")

    async def transfer(self, to: str) -> None:
        raise AssertionError("not expected")


def test_a_key_pressed_before_the_session_runs_or_after_the_call_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by bench/fuzz_streams.py: a ``dtmf`` right behind ``start`` reached the agent
    while its session was still starting, and ``Agent.session`` raised out of the stream
    handler (aiohttp logged a traceback at ERROR)."""
    caplog.set_level(logging.INFO)
    agent = TrunklineAgent(Actions())
    agent.on_dtmf("5")  # the session has not entered the agent yet
    agent.call_over()
    agent.on_dtmf("6")  # the call is over
    assert [r.getMessage() for r in caplog.records] == [
        "call CAkeys: caller pressed 5; no agent to tell",
        "call CAkeys: caller pressed 6; no agent to tell",
    ]

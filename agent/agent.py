"""The one voice agent every caller path reaches: instructions, tools, keypad input.

It knows the caller's path only through :class:`CallActions` (for hang-up and transfer) and as
a label; everything else — model, pacing, transport — is set up around it.

Its tools wait on things outside the session (a playout, a REST call, a bridge's answer); when
the call ends under them, :meth:`TrunklineAgent.end` makes them give up at once. Otherwise the
session's close waits on a tool that may never return: livekit-agents interrupts the speech, waits
its interruption timeout, logs an error and cancels the speech arbitrarily — and a tool it
cancels is logged as failed at ERROR too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from livekit.agents import Agent, RunContext, function_tool
from livekit.agents.llm import ToolError
from livekit.agents.voice.events import SpeechCreatedEvent
from livekit.agents.voice.speech_handle import SpeechHandle

from agent.call_actions import CallActions, TransferUnsupported

logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
You are the phone assistant of trunkline. Callers reach you by phone or from a browser.
Speak briefly and naturally: one or two short sentences per turn, no lists, no markdown.
If the caller presses keypad digits you are told which; use them as their answer.
When the caller says goodbye or asks to hang up, call end_call.
When the caller asks for a person, call transfer_call with the number they give, if any.
"""

GREETING = "Greet the caller in one short sentence and ask how you can help."

#: After end_call's turn has played, how long a follow-up reply (the goodbye a model may say
#: once it sees the tool's output) may take to start before the call ends without it.
GOODBYE_START_S = 2.0
#: Upper bound on the whole goodbye; the call ends regardless.
GOODBYE_TIMEOUT_S = 15.0


class TrunklineAgent(Agent):
    def __init__(self, actions: CallActions, *, instructions: str = INSTRUCTIONS) -> None:
        super().__init__(instructions=instructions)
        self.actions = actions
        self._hangup_task: asyncio.Task[None] | None = None
        self._hanging_up = False
        self._call_over = asyncio.Event()
        #: from on_enter to on_exit: the agent has a session to take key presses
        self._running = False

    def call_over(self) -> None:
        """The call is over (say so before closing the session): tools still waiting on it
        return, and the hang-up planned after a goodbye is dropped unless already under way."""
        self._call_over.set()
        task = self._hangup_task
        if task is not None and not task.done() and not self._hanging_up:
            task.cancel()

    async def end(self) -> None:
        """:meth:`call_over`, and wait until the hang-up task has finished."""
        self.call_over()
        if (task := self._hangup_task) is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _while_the_call_lasts(self, action: Coroutine[Any, Any, None]) -> bool:
        """Run ``action``; True once it completed, False if the call ended first (it is then
        cancelled). Its exceptions are raised here."""
        task = asyncio.ensure_future(action)
        over = asyncio.ensure_future(self._call_over.wait())
        try:
            await asyncio.wait({task, over}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, over):
                pending.cancel()
            await asyncio.gather(task, over, return_exceptions=True)
        if task.cancelled():
            return False
        task.result()
        return True

    async def on_enter(self) -> None:
        self._running = True
        self.session.generate_reply(instructions=GREETING)

    async def on_exit(self) -> None:
        self._running = False

    def on_dtmf(self, digit: str) -> None:
        """Keypad input from any telephony path (Twilio ``dtmf`` event or SIP DTMF); a key
        pressed while the session is still starting, or once the call is over, is dropped."""
        if not self._running or self._call_over.is_set():
            logger.info("call %s: caller pressed %s; no agent to tell", self.actions.call_id, digit)
            return
        logger.info("call %s: caller pressed %s", self.actions.call_id, digit)
        self.session.generate_reply(user_input=f"[keypad] The caller pressed {digit}.")

    @function_tool
    async def end_call(self, ctx: RunContext[Any]) -> str:
        """End the call. Use when the caller says goodbye or asks to hang up."""
        logger.info("call %s: agent ends the call", self.actions.call_id)
        loop = asyncio.get_running_loop()
        goodbye: asyncio.Future[SpeechHandle] = loop.create_future()

        def on_speech(ev: SpeechCreatedEvent) -> None:
            if not goodbye.done():
                goodbye.set_result(ev.speech_handle)

        self.session.once("speech_created", on_speech)
        self._hangup_task = asyncio.create_task(self._hang_up_after(ctx.speech_handle, goodbye))
        return "The call will end after your reply: say a short goodbye."

    async def _hang_up_after(
        self, tool_speech: SpeechHandle, goodbye: asyncio.Future[SpeechHandle]
    ) -> None:
        """Let the goodbye play out to the caller, then end the call."""
        try:
            async with asyncio.timeout(GOODBYE_TIMEOUT_S):
                await tool_speech.wait_for_playout()
                try:
                    handle = await asyncio.wait_for(asyncio.shield(goodbye), GOODBYE_START_S)
                except TimeoutError:
                    pass  # the goodbye was part of the turn that called the tool
                else:
                    await handle.wait_for_playout()
        except TimeoutError:
            logger.warning("call %s: goodbye still playing; hanging up", self.actions.call_id)
        self._hanging_up = True
        await self.actions.hang_up("the agent ended the call")

    @function_tool
    async def transfer_call(self, ctx: RunContext[Any], phone_number: str) -> str:
        """Transfer the caller to a person at ``phone_number`` (E.164, e.g. +15551234567)."""

        async def transfer() -> None:
            await ctx.wait_for_playout()
            await self.actions.transfer(phone_number)

        try:
            transferred = await self._while_the_call_lasts(transfer())
        except TransferUnsupported as exc:
            raise ToolError(f"Transfer is not possible on this call: {exc}") from exc
        if not transferred:
            return "The call ended before the transfer."
        return f"The caller is being transferred to {phone_number}."

"""When the model has failed a call: which errors end it, and a watchdog for a stalled reply.

The openai plugin hides a lost model connection from the session: it reconnects on its own and
drops the reply in flight, so the caller hears a reply stop mid-word and then nothing; after
its retries run out the session closes, and the caller hears nothing at all. A model that
accepts a response and then stops sending leaves the session waiting for ever. The call's owner
must notice each of these and end the call with an apology, so this module says what counts:

- :func:`ends_call`: a session ``error`` event that means the model cannot go on with this
  call — the connection failed or dropped (even though the plugin would retry), the service
  failed (``server_error``), or anything the session itself will not recover from. A rejected
  request (``invalid_request_error``) leaves the session as it was and ends nothing.
- :class:`StallWatch`: a reply whose next server event is more than ``stall_s`` late. It is
  armed by the ``response.create`` the session sends (a model too busy to answer one at all,
  the first thing an overloaded model does, is a stall too) and by every ``response.*`` event
  of an open response, and disarmed by ``response.done``, so waiting for the caller, or for a
  tool to run, is never a stall.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

from livekit.agents import APIConnectionError, APIError
from livekit.agents.llm import RealtimeModelError, RealtimeSession

logger = logging.getLogger(__name__)

#: How long a reply may go without a server event by default: above a real model's slowest
#: first audio (seconds, see the design's latency notes), below a caller's patience, and below
#: the 10 s after which the plugin gives up on an unanswered ``response.create`` itself (logging
#: it at ERROR and leaving the caller in silence).
DEFAULT_STALL_S: Final = 8.0
SERVER_EVENT: Final = "openai_server_event_received"
CLIENT_EVENT: Final = "openai_client_event_queued"


def ends_call(error: object) -> str | None:
    """Why the model error ``error`` (a session ``error`` event's payload) ends the call, or
    None when the session goes on."""
    if not isinstance(error, RealtimeModelError):
        return None
    cause = error.error
    if isinstance(cause, APIConnectionError):
        return f"model connection failed ({cause.message})"
    if isinstance(cause, APIError):
        body = cause.body
        kind = getattr(body, "type", None)
        if kind == "server_error" or not error.recoverable:
            return f"model error: {getattr(body, 'message', None) or cause.message}"
        return None
    if not error.recoverable:
        return f"model failed: {cause}"
    return None


class StallWatch:
    """Calls ``on_stall`` once if an open response goes ``stall_s`` without a server event."""

    def __init__(self, stall_s: float, on_stall: Callable[[str], None]) -> None:
        self.stall_s = stall_s
        self.on_stall = on_stall
        self._session: RealtimeSession[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._fired = False

    def attach(self, session: RealtimeSession[Any]) -> None:
        self._session = session
        session.on(SERVER_EVENT, self._on_event)
        session.on(CLIENT_EVENT, self._on_client_event)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if not isinstance(kind, str) or not kind.startswith("response.") or self._fired:
            return
        self._disarm()
        if kind != "response.done":
            self._arm()

    def _on_client_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "response.create" and not self._fired:
            self._disarm()
            self._arm()

    def _arm(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self.stall_s, self._stalled)

    def _stalled(self) -> None:
        self._timer = None
        self._fired = True
        self.on_stall(f"model stalled: no reply event for {self.stall_s:g} s")

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self._disarm()
        if self._session is not None:
            self._session.off(SERVER_EVENT, self._on_event)
            self._session.off(CLIENT_EVENT, self._on_client_event)
            self._session = None

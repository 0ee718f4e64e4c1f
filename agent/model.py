"""The realtime model every caller path uses: OpenAI Realtime, or the local simulator.

With ``OPENAI_API_KEY`` set the agent talks to OpenAI. Without it the local simulator answers,
so a newcomer can place a call with no account at all; one log line says so and why. A process
creates one ``ModelFactory`` at start-up and closes it at shutdown: the simulator starts once
and serves every call of that process (``TRUNKLINE_SIM_URL`` instead points every process of an
agent worker at one already running). Each call gets its own ``RealtimeModel`` from
``create()`` and must ``await model.aclose()`` when the call ends.

An empty ``OPENAI_BASE_URL`` (as ``.env.example`` leaves it) counts as unset: the factory always
passes the endpoint explicitly, so the plugin never reads an empty one from the environment.

Both models use server-side turn detection (``server_vad``, 500 ms silence, 300 ms prefix), so
the ``AgentSession`` runs with ``vad=None``: the model, not the agent, decides when the caller
has finished a turn, as it would in production.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from livekit.plugins.openai.realtime import RealtimeModel
from livekit.plugins.openai.realtime.realtime_model import OPENAI_BASE_URL
from openai.types.realtime.realtime_audio_input_turn_detection import ServerVad

from agent.sim.options import SimOptions
from trunkline.config import text

if TYPE_CHECKING:
    from agent.sim.embedded import RunningSimulator

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-realtime"
DEFAULT_VOICE = "alloy"
#: the simulator wants a bearer token like the service, but checks nothing
SIM_API_KEY = "trunkline-local-simulator"
#: what ``--model`` / ``TRUNKLINE_MODEL`` may ask for (unset: OpenAI when a key is set)
MODEL_CHOICES: Final = ("openai", "sim")

TURN_DETECTION = ServerVad(
    type="server_vad",
    threshold=0.5,
    prefix_padding_ms=300,
    silence_duration_ms=500,
    create_response=True,
    interrupt_response=True,
)


@dataclass(frozen=True)
class ModelSettings:
    api_key: str | None = None
    model: str = DEFAULT_MODEL
    voice: str = DEFAULT_VOICE
    #: OpenAI's endpoint, or a compatible proxy / gateway
    base_url: str = OPENAI_BASE_URL
    #: an already running simulator (``http://host:port/v1``) to use instead of starting one
    sim_url: str | None = None
    sim: SimOptions = field(default_factory=SimOptions)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], problems: list[str], *, sim: SimOptions | None = None
    ) -> ModelSettings | None:
        """Read ``OPENAI_API_KEY``, ``OPENAI_REALTIME_MODEL``, ``OPENAI_VOICE``,
        ``OPENAI_BASE_URL`` and ``TRUNKLINE_SIM_URL`` (empty counts as unset).

        Malformed values are appended to ``problems``, one line each, and None is returned.
        """
        found: list[str] = []
        urls: dict[str, str | None] = {}
        for name in ("OPENAI_BASE_URL", "TRUNKLINE_SIM_URL"):
            url = urls[name] = text(env, name)
            if url is not None:
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
                    found.append(f"{name}={url!r} is not an http(s):// URL with a host")
        problems.extend(found)
        if found:
            return None
        return cls(
            api_key=text(env, "OPENAI_API_KEY"),
            model=text(env, "OPENAI_REALTIME_MODEL") or DEFAULT_MODEL,
            voice=text(env, "OPENAI_VOICE") or DEFAULT_VOICE,
            base_url=urls["OPENAI_BASE_URL"] or OPENAI_BASE_URL,
            sim_url=urls["TRUNKLINE_SIM_URL"],
            sim=sim or SimOptions(),
        )


def choose_model(
    settings: ModelSettings,
    requested: str | None,
    *,
    real_callers: str | None,
    problems: list[str],
    ask_for_sim: str = "--model sim (TRUNKLINE_MODEL=sim)",
) -> ModelSettings | None:
    """The model to answer with, or None with the reason appended to ``problems``.

    ``requested`` is ``--model`` / ``TRUNKLINE_MODEL``: ``sim`` runs the simulator even with an
    OpenAI key, ``openai`` insists on OpenAI. Unset, OpenAI answers when ``OPENAI_API_KEY`` is
    set and the simulator otherwise — but only where nobody real can call: ``real_callers``
    says why real callers could reach this process (None: they cannot), and then a missing key
    is a misconfiguration to refuse, not a reason to answer a customer with a scripted voice.
    """
    if requested is not None and requested not in MODEL_CHOICES:
        problems.append(
            f"TRUNKLINE_MODEL / --model {requested!r} is not one of {', '.join(MODEL_CHOICES)}"
        )
        return None
    if requested == "sim":
        return replace(settings, api_key=None)
    if settings.api_key is not None:
        return settings
    if requested == "openai":
        problems.append(
            "the model is set to openai (--model / TRUNKLINE_MODEL) but OPENAI_API_KEY is not set"
        )
        return None
    if real_callers is not None:
        problems.append(
            f"OPENAI_API_KEY is not set, and {real_callers}: real callers would be answered "
            f"by the offline simulator. Set OPENAI_API_KEY, or choose the simulator on purpose "
            f"with {ask_for_sim}"
        )
        return None
    return settings


class ModelFactory:
    """Makes one process's realtime models; owns the embedded simulator when one is needed."""

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self._stack = contextlib.AsyncExitStack()
        self._base_url: str | None = None
        self._running: RunningSimulator | None = None
        self._started = False

    @property
    def uses_simulator(self) -> bool:
        return self.settings.api_key is None

    @property
    def base_url(self) -> str | None:
        """Where the simulator answers (None when OpenAI does)."""
        return self._base_url

    def health_check(self) -> tuple[str, dict[str, str]] | None:
        """A URL and headers whose GET shows the model's endpoint is up and takes our key (its
        ``/models``; the simulator answers 404 there, which still shows it is up), or None
        before :meth:`start`."""
        if not self._started:
            return None
        s = self.settings
        base = s.base_url if s.api_key is not None else self._base_url
        if base is None:
            return None
        scheme, sep, rest = base.partition("://")
        base = {"ws": "http", "wss": "https"}.get(scheme, scheme) + sep + rest
        key = s.api_key or SIM_API_KEY
        return f"{base.rstrip('/')}/models", {"Authorization": f"Bearer {key}"}

    @property
    def simulator(self) -> RunningSimulator | None:
        """The simulator this factory runs in-process, if it runs one."""
        return self._running

    async def start(self) -> None:
        if self._started:
            return
        s = self.settings
        if s.api_key is not None:
            logger.info(
                "OpenAI Realtime (%s, voice %s) at %s answers calls", s.model, s.voice, s.base_url
            )
        elif s.sim_url is not None:
            self._base_url = s.sim_url
            logger.info(
                "OPENAI_API_KEY is not set, so the simulator at %s answers calls "
                "(TRUNKLINE_SIM_URL); set OPENAI_API_KEY to use OpenAI",
                s.sim_url,
            )
        else:
            # imported here: it loads Silero and espeak-ng, which an OpenAI-backed process
            # never needs
            from agent.sim.embedded import run_simulator

            running = await self._stack.enter_async_context(run_simulator(s.sim))
            self._running = running
            self._base_url = running.base_url
            logger.info(
                "OPENAI_API_KEY is not set, so the local OpenAI-Realtime simulator answers "
                "calls at %s (scripted replies in espeak-ng's voice, no speech recognition; "
                "think %s ms, %s chunks, seed %d); set OPENAI_API_KEY to use OpenAI",
                running.base_url,
                s.sim.think,
                s.sim.chunking,
                s.sim.seed,
            )
        self._started = True

    def create(self) -> RealtimeModel:
        """A model for one call; the caller must ``await model.aclose()`` when it ends."""
        if not self._started:
            raise RuntimeError("ModelFactory.start() must be awaited before create()")
        s = self.settings
        if s.api_key is not None:
            return RealtimeModel(
                model=s.model,
                voice=s.voice,
                api_key=s.api_key,
                base_url=s.base_url,
                turn_detection=TURN_DETECTION,
            )
        assert self._base_url is not None
        return RealtimeModel(
            model=s.model,
            voice=s.voice,
            api_key=SIM_API_KEY,
            base_url=self._base_url,
            turn_detection=TURN_DETECTION,
        )

    async def aclose(self) -> None:
        """Stop the embedded simulator, if this factory started one."""
        await self._stack.aclose()
        self._started = False
        self._base_url = None
        self._running = None

    async def __aenter__(self) -> ModelFactory:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

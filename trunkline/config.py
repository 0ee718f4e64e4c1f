"""Settings from the environment and ``.env.local``, validated once at start.

The mode trunkline runs in is chosen by what is configured, never by editing code:
``LIVEKIT_URL`` present → Twilio calls are bridged into LiveKit rooms; absent → the agent runs
inside the sidecar. ``OPENAI_API_KEY`` present → OpenAI Realtime; absent → the local simulator.
Every missing or malformed value is reported together, one line each, so a deploy fails once
with the whole list instead of once per mistake.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

T = TypeVar("T")

DEFAULT_AGENT_NAME = "trunkline"


class ConfigError(ValueError):
    """One or more settings are missing or malformed; ``problems`` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class LiveKitSettings:
    url: str
    api_key: str
    api_secret: str
    agent_name: str = DEFAULT_AGENT_NAME


@dataclass(frozen=True)
class TwilioSettings:
    """Twilio credentials; without an auth token the sidecar runs unauthenticated (dev mode)."""

    auth_token: str | None = None
    account_sid: str | None = None

    @property
    def can_use_rest(self) -> bool:
        return bool(self.auth_token and self.account_sid)


@dataclass(frozen=True)
class OpenAISettings:
    api_key: str | None = None
    model: str = "gpt-realtime"
    voice: str = "alloy"
    base_url: str | None = None


@dataclass(frozen=True)
class Limits:
    max_calls: int = 200
    max_call_seconds: float = 3600.0
    max_message_bytes: int = 64 * 1024


@dataclass(frozen=True)
class Settings:
    public_url: str | None = None
    stream_secret: str | None = None
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    openai: OpenAISettings = field(default_factory=OpenAISettings)
    livekit: LiveKitSettings | None = None
    limits: Limits = field(default_factory=Limits)
    turn_log: str | None = None

    @property
    def mode(self) -> str:
        """``bridge`` when LiveKit is configured, else ``local`` (agent inside the sidecar)."""
        return "bridge" if self.livekit else "local"

    @property
    def model_source(self) -> str:
        return "openai" if self.openai.api_key else "simulator"


def load_env(env_file: str | Path | None = ".env.local") -> dict[str, str]:
    """The process environment over the values of ``env_file`` (the environment wins)."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ)
    return values


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def parsed(self, name: str, parse: Callable[[str], T], default: T, what: str) -> T:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r} is not {what}")
            return default

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        raw = self.text(name)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.hostname:
            self.problems.append(
                f"{name}={raw!r} is not a URL with scheme {' or '.join(schemes)} and a host"
            )
            return None
        return raw.rstrip("/")


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(raw)
    return value


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Build validated settings from a mapping (use :func:`load_env` for the real one)."""
    r = _Reader(env)
    public_url = r.url("PUBLIC_URL", ("https", "http"))

    livekit: LiveKitSettings | None = None
    lk_url = r.url("LIVEKIT_URL", ("wss", "ws", "https", "http"))
    if lk_url is not None:
        key, secret = r.text("LIVEKIT_API_KEY"), r.text("LIVEKIT_API_SECRET")
        for name, value in (("LIVEKIT_API_KEY", key), ("LIVEKIT_API_SECRET", secret)):
            if value is None:
                r.problems.append(f"{name} is required when LIVEKIT_URL is set")
        if key and secret:
            livekit = LiveKitSettings(
                url=lk_url,
                api_key=key,
                api_secret=secret,
                agent_name=r.text("AGENT_NAME") or DEFAULT_AGENT_NAME,
            )

    twilio = TwilioSettings(
        auth_token=r.text("TWILIO_AUTH_TOKEN"), account_sid=r.text("TWILIO_ACCOUNT_SID")
    )
    if twilio.auth_token is not None and public_url is None and "PUBLIC_URL" not in env:
        r.problems.append(
            "PUBLIC_URL is required when TWILIO_AUTH_TOKEN is set: Twilio signs the public URL "
            "it called, which a proxy's Host header does not reliably give"
        )
    if twilio.account_sid is not None and not twilio.account_sid.startswith("AC"):
        r.problems.append("TWILIO_ACCOUNT_SID must start with 'AC'")

    openai = OpenAISettings(
        api_key=r.text("OPENAI_API_KEY"),
        model=r.text("OPENAI_REALTIME_MODEL") or OpenAISettings.model,
        voice=r.text("OPENAI_VOICE") or OpenAISettings.voice,
        base_url=r.url("OPENAI_BASE_URL", ("https", "http", "wss", "ws")),
    )
    defaults = Limits()
    limits = Limits(
        max_calls=r.parsed("TRUNKLINE_MAX_CALLS", _positive_int, defaults.max_calls, "> 0"),
        max_call_seconds=r.parsed(
            "TRUNKLINE_MAX_CALL_SECONDS", _positive_float, defaults.max_call_seconds, "> 0"
        ),
        max_message_bytes=r.parsed(
            "TRUNKLINE_MAX_MESSAGE_BYTES", _positive_int, defaults.max_message_bytes, "> 0"
        ),
    )
    if r.problems:
        raise ConfigError(r.problems)
    return Settings(
        public_url=public_url,
        stream_secret=r.text("TRUNKLINE_STREAM_SECRET"),
        twilio=twilio,
        openai=openai,
        livekit=livekit,
        limits=limits,
        turn_log=r.text("TRUNKLINE_TURN_LOG"),
    )


def load_settings(env_file: str | Path | None = ".env.local") -> Settings:
    return settings_from_env(load_env(env_file))

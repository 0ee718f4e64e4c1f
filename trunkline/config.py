"""Settings from the environment and ``.env.local``, validated once at start.

The mode trunkline runs in is chosen by what is configured, never by editing code:
``LIVEKIT_URL`` present → Twilio calls are bridged into LiveKit rooms; absent → the agent runs
inside the sidecar. ``OPENAI_API_KEY`` present → OpenAI Realtime; absent → the local simulator.
Values come from the environment over ``.env.local`` (the environment wins, so a CI secret
overrides a stale file). Every missing or malformed value is reported together, one line each,
so a deploy fails once with the whole list instead of once per mistake.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

from trunkline.sip_uri import normalize_sip_uri

T = TypeVar("T")

DEFAULT_AGENT_NAME = "trunkline"
DEFAULT_ENV_FILE = ".env.local"


@dataclass(frozen=True)
class LiveKitCredentials:
    url: str
    api_key: str
    api_secret: str


@dataclass(frozen=True)
class TwilioCredentials:
    account_sid: str
    auth_token: str


def load_env(env_file: str | Path | None = DEFAULT_ENV_FILE) -> dict[str, str]:
    """The process environment over the values of ``env_file`` (absent file: environment only)."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ)
    return values


def text(env: Mapping[str, str], name: str) -> str | None:
    """A setting's value with surrounding blanks removed; empty counts as unset."""
    value = env.get(name, "").strip()
    return value or None


def livekit_credentials(env: Mapping[str, str], problems: list[str]) -> LiveKitCredentials | None:
    """LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET, or None with the reasons appended."""
    url = text(env, "LIVEKIT_URL")
    key = text(env, "LIVEKIT_API_KEY")
    secret = text(env, "LIVEKIT_API_SECRET")
    found: list[str] = []
    if url is None:
        found.append(
            "LIVEKIT_URL is not set (your project URL, e.g. wss://<project>.livekit.cloud)"
        )
    elif urlsplit(url).scheme not in ("wss", "ws", "https", "http") or not urlsplit(url).hostname:
        found.append(f"LIVEKIT_URL={url!r} is not a ws(s):// or http(s):// URL with a host")
    if key is None:
        found.append("LIVEKIT_API_KEY is not set")
    if secret is None:
        found.append("LIVEKIT_API_SECRET is not set")
    problems.extend(found)
    if found or url is None or key is None or secret is None:
        return None
    return LiveKitCredentials(url=url.rstrip("/"), api_key=key, api_secret=secret)


def twilio_credentials(env: Mapping[str, str], problems: list[str]) -> TwilioCredentials | None:
    """TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN, or None with the reasons appended."""
    sid = text(env, "TWILIO_ACCOUNT_SID")
    token = text(env, "TWILIO_AUTH_TOKEN")
    found: list[str] = []
    if sid is None:
        found.append("TWILIO_ACCOUNT_SID is not set")
    elif not sid.startswith("AC"):
        found.append(f"TWILIO_ACCOUNT_SID={sid!r} does not start with 'AC'")
    if token is None:
        found.append("TWILIO_AUTH_TOKEN is not set")
    problems.extend(found)
    if found or sid is None or token is None:
        return None
    return TwilioCredentials(account_sid=sid, auth_token=token)


def agent_name(env: Mapping[str, str], override: str | None = None) -> str:
    """The name the worker registers under; dispatch by any other name reaches no agent."""
    return override or text(env, "AGENT_NAME") or DEFAULT_AGENT_NAME


class ConfigError(ValueError):
    """One or more settings are missing or malformed; ``problems`` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Limits:
    max_calls: int = 200
    max_call_seconds: float = 3600.0
    max_message_bytes: int = 64 * 1024


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: As long as LiveKit's agent worker drains: a deploy should not cut a conversation short.
DEFAULT_DRAIN_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class Drain:
    """What the sidecar does when told to stop (SIGTERM/SIGINT)."""

    timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S
    """How long live calls may run on before they are ended (with a spoken goodbye)."""
    fallback_url: str | None = None
    """Where calls arriving meanwhile are sent (TwiML ``<Redirect>``), e.g. another sidecar's
    webhook; None: they hear an apology and are hung up."""


@dataclass(frozen=True)
class SipDial:
    """How the webhook sends a call down the ``sip`` path: Twilio Programmable Voice dials
    LiveKit SIP (``<Dial><Sip>``) with the digest credentials of LiveKit's inbound trunk."""

    uri: str
    """LiveKit's SIP URI, normalized (``sip:<host>;transport=tcp``)."""
    username: str
    password: str

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        return f"SipDial(uri={self.uri!r}, username={self.username!r}, password=...)"


@dataclass(frozen=True)
class PathSplit:
    """Which path each call of one Twilio number takes (see ``sip.sidecar.routing``)."""

    sip_share: float = 0.0
    """The share of calls sent down the sip path, by a hash of their CallSid."""
    sip_callers: frozenset[str] = frozenset()
    twilio_ws_callers: frozenset[str] = frozenset()
    dial: SipDial | None = None
    """Set when the sip path is configured; without it every call streams (twilio-ws)."""


@dataclass(frozen=True)
class Settings:
    """What the sidecar needs; the model's own settings are read by ``agent.model``."""

    public_url: str | None = None
    stream_secret: str | None = None
    twilio_auth_token: str | None = None
    """Enables signature checks; without it the sidecar runs in (loudly logged) dev mode."""
    twilio: TwilioCredentials | None = None
    """REST credentials (hang-up through the API, transfers), when both are configured."""
    openai_api_key: str | None = None
    livekit: LiveKitCredentials | None = None
    agent_name: str = DEFAULT_AGENT_NAME
    limits: Limits = field(default_factory=Limits)
    turn_log: str | None = None
    drain: Drain = field(default_factory=Drain)
    trusted_proxies: tuple[IPNetwork, ...] = ()
    """Peers whose ``Forwarded`` / ``X-Forwarded-*`` headers say what the public URL is."""
    paths: PathSplit = field(default_factory=PathSplit)

    @property
    def reachable_by_callers(self) -> str | None:
        """Which setting makes this sidecar reachable from Twilio (and so by real callers), or
        None for a sidecar only this machine's tools can call: Twilio needs a public ``wss://``
        stream URL, which only PUBLIC_URL or a trusted proxy can give."""
        for name, value in (
            ("PUBLIC_URL", self.public_url),
            ("TWILIO_AUTH_TOKEN", self.twilio_auth_token),
            ("TWILIO_ACCOUNT_SID", self.twilio),
            ("TRUNKLINE_TRUSTED_PROXIES", self.trusted_proxies),
        ):
            if value:
                return name
        return None

    @property
    def mode(self) -> str:
        """``bridge`` when LiveKit is configured, else ``local`` (agent inside the sidecar)."""
        return "bridge" if self.livekit else "local"

    @property
    def model_source(self) -> str:
        return "openai" if self.openai_api_key else "simulator"


def _parsed(
    env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T, problems: list[str]
) -> T:
    raw = text(env, name)
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError:
        problems.append(f"{name}={raw!r} is not a positive number")
        return default


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


def _networks(env: Mapping[str, str], name: str, problems: list[str]) -> tuple[IPNetwork, ...]:
    """Comma- or space-separated IP addresses and CIDR blocks."""
    networks: list[IPNetwork] = []
    for item in (text(env, name) or "").replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            problems.append(f"{name}: {item!r} is not an IP address or CIDR block")
    return tuple(networks)


_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def _numbers(env: Mapping[str, str], name: str, problems: list[str]) -> frozenset[str]:
    """Comma- or space-separated E.164 numbers."""
    found = set()
    for item in (text(env, name) or "").replace(",", " ").split():
        if _E164.fullmatch(item):
            found.add(item)
        else:
            problems.append(f"{name}: {item!r} is not an E.164 number like +15551234567")
    return frozenset(found)


def _share(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 1:
        raise ValueError(raw)
    return value


def path_split(env: Mapping[str, str], problems: list[str]) -> PathSplit:
    """TRUNKLINE_SIP_SHARE / _SIP_CALLERS / _TWILIO_WS_CALLERS, and the sip path's dial
    settings (LIVEKIT_SIP_URI, TRUNKLINE_SIP_USERNAME, TRUNKLINE_SIP_PASSWORD)."""
    raw_share = text(env, "TRUNKLINE_SIP_SHARE")
    share = 0.0
    if raw_share is not None:
        try:
            share = _share(raw_share)
        except ValueError:
            problems.append(f"TRUNKLINE_SIP_SHARE={raw_share!r} is not a number from 0 to 1")
    sip_callers = _numbers(env, "TRUNKLINE_SIP_CALLERS", problems)
    ws_callers = _numbers(env, "TRUNKLINE_TWILIO_WS_CALLERS", problems)
    both = sorted(sip_callers & ws_callers)
    if both:
        problems.append(
            f"{', '.join(both)} in both TRUNKLINE_SIP_CALLERS and TRUNKLINE_TWILIO_WS_CALLERS"
        )
    raw_uri = text(env, "LIVEKIT_SIP_URI")
    username = text(env, "TRUNKLINE_SIP_USERNAME")
    password = text(env, "TRUNKLINE_SIP_PASSWORD")
    wanted = share > 0 or bool(sip_callers)
    dial = None
    if wanted or username or password:
        missing = [
            name
            for name, value in (
                ("LIVEKIT_SIP_URI", raw_uri),
                ("TRUNKLINE_SIP_USERNAME", username),
                ("TRUNKLINE_SIP_PASSWORD", password),
            )
            if value is None
        ]
        if missing:
            problems.append(
                f"the sip path (<Dial><Sip> to LiveKit) needs {', '.join(missing)}: LiveKit's SIP "
                "URI and the digest credentials `trunkline provision --dial-sip` puts on its "
                "inbound trunk"
            )
        elif raw_uri is not None and username is not None and password is not None:
            try:
                dial = SipDial(normalize_sip_uri(raw_uri), username, password)
            except ValueError as exc:
                problems.append(f"LIVEKIT_SIP_URI={raw_uri!r}: {exc}")
    return PathSplit(share, sip_callers, ws_callers, dial)


def _http_url(env: Mapping[str, str], name: str, problems: list[str]) -> str | None:
    url = text(env, name)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            problems.append(f"{name}={url!r} is not an http(s):// URL with a host")
    return url


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Build validated sidecar settings from a mapping (use :func:`load_env` for the real one)."""
    problems: list[str] = []
    public_url = _http_url(env, "PUBLIC_URL", problems)
    if public_url is not None:
        public_url = public_url.rstrip("/")
    livekit = livekit_credentials(env, problems) if text(env, "LIVEKIT_URL") else None
    auth_token = text(env, "TWILIO_AUTH_TOKEN")
    twilio = None
    if text(env, "TWILIO_ACCOUNT_SID") is not None:
        twilio = twilio_credentials(env, problems)
    if auth_token is not None and text(env, "PUBLIC_URL") is None:
        problems.append(
            "PUBLIC_URL is required when TWILIO_AUTH_TOKEN is set: Twilio signs the public URL "
            "it called, which a proxy's Host header does not reliably give"
        )
    defaults = Limits()
    limits = Limits(
        max_calls=_parsed(env, "TRUNKLINE_MAX_CALLS", _positive_int, defaults.max_calls, problems),
        max_call_seconds=_parsed(
            env, "TRUNKLINE_MAX_CALL_SECONDS", _positive_float, defaults.max_call_seconds, problems
        ),
        max_message_bytes=_parsed(
            env, "TRUNKLINE_MAX_MESSAGE_BYTES", _positive_int, defaults.max_message_bytes, problems
        ),
    )
    drain = Drain(
        timeout_s=_parsed(
            env, "TRUNKLINE_DRAIN_TIMEOUT", _positive_float, DEFAULT_DRAIN_TIMEOUT_S, problems
        ),
        fallback_url=_http_url(env, "TRUNKLINE_FALLBACK_URL", problems),
    )
    trusted_proxies = _networks(env, "TRUNKLINE_TRUSTED_PROXIES", problems)
    paths = path_split(env, problems)
    if problems:
        raise ConfigError(problems)
    return Settings(
        public_url=public_url,
        stream_secret=text(env, "TRUNKLINE_STREAM_SECRET"),
        twilio_auth_token=auth_token,
        twilio=twilio,
        openai_api_key=text(env, "OPENAI_API_KEY"),
        livekit=livekit,
        agent_name=agent_name(env),
        limits=limits,
        turn_log=text(env, "TRUNKLINE_TURN_LOG"),
        drain=drain,
        trusted_proxies=trusted_proxies,
        paths=paths,
    )


def load_settings(env_file: str | Path | None = DEFAULT_ENV_FILE) -> Settings:
    return settings_from_env(load_env(env_file))

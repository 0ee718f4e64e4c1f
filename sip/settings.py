"""API credentials for the set-up commands (``trunkline provision``, ``trunkline token``).

These commands talk to the LiveKit and Twilio control planes, so they need secrets the voice path
does not: they read them from the environment over ``.env.local`` (the environment wins, so a CI
secret overrides a stale file) and report every missing or malformed value at once, one line
each, instead of failing on the first and making the user run again to find the next.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

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


def read_env(env_file: str | Path | None = DEFAULT_ENV_FILE) -> dict[str, str]:
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

"""``python -m tests.livekit_server``: starts, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request

from .server import LiveKitTestServer, ServerConfig


def validate_status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def test_the_command_serves_until_sigterm(netns_address: str) -> None:
    command = [sys.executable, "-m", "tests.livekit_server", "--port", "0"]
    command += ["--host", netns_address, "--api-key", "k", "--api-secret", "s"]
    with subprocess.Popen(
        [*command, "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            assert line.startswith(f"LIVEKIT_URL=ws://{netns_address}:"), line
            url = f"http://{line.split('//', 1)[1]}/rtc/validate"
            # a token minted with the command's key pair is accepted, the default pair's is not
            ours = LiveKitTestServer(ServerConfig(api_key="k", api_secret="s")).token("x", "r")
            theirs = LiveKitTestServer().token("x", "r")
            assert (validate_status(url, ours), validate_status(url, theirs)) == (200, 401)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()

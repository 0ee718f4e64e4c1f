"""The private network namespace: entered by the test run, usable by subprocesses, guarded."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from trunkline.stack import netns


@pytest.mark.netns
def test_the_test_process_runs_in_the_namespace(netns_address: str) -> None:
    assert netns_address == netns.ADDRESS
    assert netns.has_address(netns.ADDRESS)
    assert netns.has_address("127.0.0.1")


@pytest.mark.netns
def test_subprocesses_inherit_the_namespace() -> None:
    """What lets a test run `python agent.py dev` or the sidecar next to the server."""
    done = subprocess.run(
        ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True, timeout=10
    )
    assert f"inet {netns.ADDRESS}/{netns.PREFIX_LENGTH}" in done.stdout


@pytest.mark.netns
def test_the_runner_gives_a_command_its_own_namespace() -> None:
    command = [sys.executable, "-m", "trunkline.stack.netns", "ip", "-o", "link", "show"]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=30)
    links = [line.split(":")[1].strip() for line in done.stdout.splitlines()]
    assert sorted(name.split("@")[0] for name in links) == ["lkt0", "lkt1", "lo"]


def test_the_runner_explains_its_usage() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "trunkline.stack.netns"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2 and "usage" in done.stderr


def test_entering_is_refused_once_threads_exist() -> None:
    release = threading.Event()
    helper = threading.Thread(target=release.wait)
    helper.start()
    try:
        with pytest.raises(netns.NetnsUnavailable) as refused:
            netns.check_prerequisites()
    finally:
        release.set()
        helper.join()
    expected = "threads" if os.geteuid() == 0 and sys.platform.startswith("linux") else "root"
    assert expected in str(refused.value)

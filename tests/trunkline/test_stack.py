"""The stack launcher's own parts: finding binaries, config files, ports, start/stop, probes.

The servers themselves are exercised by every ``netns`` test; these pin down what the launcher
promises when something is missing or misbehaves: a message that says what to do, the end of
the failing server's log, no process left behind.
"""

from __future__ import annotations

import json
import socket
import stat
import sys
from pathlib import Path

import pytest

from trunkline.stack import LocalStack, StackOptions, StackUnavailable, binaries, probes
from trunkline.stack.configs import AGENT_TARGET_LOAD, Ports, server_config, sip_config
from trunkline.stack.ports import free_ports
from trunkline.stack.service import Service, ServiceFailed

PORTS = Ports(
    redis=6390, http=7890, rtc_tcp=7891, rtc_udp=7892, sip=5070, sip_rtp=(20000, 20100),
    sip_health=8090,
)  # fmt: skip


def executable(path: Path, body: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_binary_on_path_wins_over_the_tools_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools, elsewhere = tmp_path / "tools", tmp_path / "path"
    tools.mkdir()
    elsewhere.mkdir()
    executable(tools / "livekit-server")
    monkeypatch.setattr(binaries, "TOOLS_BIN", tools)
    monkeypatch.setenv("PATH", str(elsewhere))
    assert binaries.find("livekit-server") == tools / "livekit-server"
    executable(elsewhere / "livekit-server")
    assert binaries.find("livekit-server") == elsewhere / "livekit-server"


def test_missing_binaries_say_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(binaries, "TOOLS_BIN", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(StackUnavailable, match="make livekit"):
        binaries.require("livekit-server")
    with pytest.raises(StackUnavailable, match="apt-get install redis-server"):
        binaries.require("redis-server")
    assert "make livekit" in binaries.sip_unavailable_reason()
    (tmp_path / "livekit-sip.unavailable").write_text("go install ...: 403 Forbidden\n")
    assert binaries.sip_unavailable_reason() == "go install ...: 403 Forbidden"


def test_livekit_sip_required_but_missing_is_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("redis-server", "livekit-server"):
        executable(tools / name)
    (tools / "livekit-sip.unavailable").write_text("403 from the module proxy\n")
    monkeypatch.setattr(binaries, "TOOLS_BIN", tools)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(StackUnavailable, match="403 from the module proxy"):
        LocalStack(StackOptions(host="127.0.0.1", run_dir=tmp_path / "run", sip=True))
    optional = LocalStack(StackOptions(host="127.0.0.1", run_dir=tmp_path / "run2"))
    assert optional.sip is None and optional.sip_address is None
    assert optional.sip_missing == "403 from the module proxy"


def test_configs_bind_the_host_only_and_share_keys_and_redis() -> None:
    server = server_config("10.88.0.1", PORTS, "key", "s" * 43)
    sip = sip_config("10.88.0.1", PORTS, "key", "s" * 43)
    assert server["bind_addresses"] == ["10.88.0.1"] and server["rtc"]["node_ip"] == "10.88.0.1"
    assert (server["rtc"]["udp_port"], server["rtc"]["use_external_ip"]) == (7892, False)
    assert server["keys"] == {"key": "s" * 43} and not server["turn"]["enabled"]
    assert server["agents"]["target_load"] == AGENT_TARGET_LOAD > 1.0
    assert (sip["api_key"], sip["api_secret"]) == ("key", "s" * 43)
    assert sip["max_cpu_utilization"] == 1.0  # its health must not flap on a busy machine
    assert sip["ws_url"] == "ws://10.88.0.1:7890"
    assert sip["redis"] == server["redis"] == {"address": "127.0.0.1:6390"}
    assert (sip["listen_ip"], sip["nat_1_to_1_ip"], sip["rtp_port"]) == (
        "10.88.0.1",
        "10.88.0.1",
        "20000-20100",
    )


def test_every_run_writes_its_own_config_with_a_fresh_long_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("redis-server", "livekit-server"):
        executable(tools / name)
    monkeypatch.setattr(binaries, "TOOLS_BIN", tools)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    first = LocalStack(StackOptions(host="127.0.0.1", run_dir=tmp_path / "a"))
    second = LocalStack(StackOptions(host="127.0.0.1", run_dir=tmp_path / "b"))
    assert first.api_secret != second.api_secret and len(first.api_secret) >= 32
    written = json.loads((tmp_path / "a" / "livekit-server.yaml").read_text())
    assert written["keys"] == {first.api_key: first.api_secret}
    assert first.env == {
        "LIVEKIT_URL": f"ws://127.0.0.1:{first.ports.http}",
        "LIVEKIT_API_KEY": first.api_key,
        "LIVEKIT_API_SECRET": first.api_secret,
    }


def test_free_ports_are_free_and_distinct() -> None:
    ports = free_ports("127.0.0.1")
    tcp = [ports.redis, ports.http, ports.rtc_tcp, ports.sip, ports.sip_health]
    assert len(set(tcp)) == len(tcp)
    for port in tcp:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    low, high = ports.sip_rtp
    assert 20000 <= low < high < 40000


def test_a_server_that_dies_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    script = executable(tmp_path / "dies", "#!/bin/sh\necho 'config: bad port'\nexit 3\n")
    service = Service("dies", [str(script)], tmp_path / "dies.log", lambda: False)
    with pytest.raises(ServiceFailed, match=r"(?s)exited with status 3.*config: bad port"):
        service.start(timeout_s=10)
    assert not service.running


def test_a_server_never_ready_is_stopped_and_reported(tmp_path: Path) -> None:
    sleeper = [sys.executable, "-c", "import time; print('listening?', flush=True); time.sleep(60)"]
    service = Service("sleeper", sleeper, tmp_path / "sleeper.log", lambda: False)
    with pytest.raises(ServiceFailed, match=r"(?s)not ready within 1 s.*listening\?"):
        service.start(timeout_s=1)
    assert service.process is None


def test_stop_escalates_to_a_second_signal_then_a_kill(tmp_path: Path) -> None:
    """livekit-server drains on the first SIGTERM and stops on the second; a server that
    ignores both is killed."""
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: print('term', flush=True))\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n",
    ]
    log = tmp_path / "stubborn.log"
    service = Service("stubborn", stubborn, log, lambda: "up" in log.read_text())
    service.start(timeout_s=10)
    process = service.process
    assert process is not None
    service.stop(drain_s=0.2, grace_s=0.2)
    assert process.returncode == -9
    assert log.read_text().count("term") == 2


def test_probes_speak_each_protocol(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        # a port that accepts but does not say +PONG is not Redis
        assert not probes.redis_ping("127.0.0.1", port)
    assert not probes.http_ok(f"http://127.0.0.1:{port}/")

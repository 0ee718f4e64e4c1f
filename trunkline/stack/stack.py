"""Redis, livekit-server and (where installed) livekit-sip, started together on one address.

Everything binds the stack's *host address*, never loopback: libwebrtc and livekit-sip do not
use loopback for media, and a SIP reply from another address than the one dialled is dropped.
Tests use a private network namespace's veth address; a person's stack uses the machine's own.
Redis alone listens on 127.0.0.1 (only the two servers on this machine talk to it).
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from trunkline.stack import binaries, probes
from trunkline.stack.configs import Ports, dumps, new_secret, server_config, sip_config
from trunkline.stack.ports import free_ports
from trunkline.stack.service import Service

logger = logging.getLogger("trunkline.stack")

DEFAULT_API_KEY = "trunkline"
START_TIMEOUT_S = 30.0


#: where a UDP socket is "connected" to learn the source address the kernel would use; no
#: packet is sent (TEST-NET-2, which no network should hold, then a private address)
_ROUTE_PROBES = ("198.51.100.1", "10.255.255.255")


def host_address() -> str:
    """This machine's address on its default route, else loopback."""
    for probe in _ROUTE_PROBES:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect((probe, 9))
            except OSError:
                continue
            address = str(s.getsockname()[0])
            if not address.startswith("127."):
                return address
    return "127.0.0.1"


@dataclass(frozen=True)
class StackOptions:
    host: str
    run_dir: Path
    """Config files and one log per server go here."""
    sip: bool | None = None
    """livekit-sip: None starts it when installed, True requires it, False leaves it out."""
    ports: Ports | None = None
    """None: free ports (tests, the lab); :data:`~trunkline.stack.ports.STANDARD` for people."""
    api_key: str = DEFAULT_API_KEY
    api_secret: str = field(default_factory=new_secret)


class LocalStack:
    """The running stack; a context manager that stops every server it started, in reverse."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.host = options.host
        self.ports = options.ports or free_ports(options.host)
        self.api_key = options.api_key
        self.api_secret = options.api_secret
        self.sip_missing: str | None = None
        """Why livekit-sip is not part of this stack (None when it is)."""
        run = options.run_dir
        run.mkdir(parents=True, exist_ok=True)
        redis_command = [str(binaries.require(binaries.REDIS)), "--bind", "127.0.0.1"]
        redis_command += ["--port", str(self.ports.redis), "--dir", str(run)]
        redis_command += ["--save", "", "--appendonly", "no"]  # nothing on disk
        self.redis = Service(
            "redis",
            redis_command,
            run / "redis.log",
            lambda: probes.redis_ping("127.0.0.1", self.ports.redis),
        )
        server_yaml = run / "livekit-server.yaml"
        server_yaml.write_text(dumps(server_config(self.host, self.ports, *self._keys)))
        self.server = Service(
            "livekit-server",
            [str(binaries.require(binaries.LIVEKIT_SERVER)), "--config", str(server_yaml)],
            run / "livekit-server.log",
            lambda: probes.http_ok(f"{self.http_url}/"),
        )
        self.sip: Service | None = None
        sip_binary = binaries.find(binaries.LIVEKIT_SIP) if options.sip is not False else None
        if sip_binary is None and options.sip is not False:
            self.sip_missing = binaries.sip_unavailable_reason()
            if options.sip:
                raise binaries.StackUnavailable(self.sip_missing)
        elif sip_binary is None:
            self.sip_missing = "left out of this stack"
        if sip_binary is not None:
            sip_yaml = run / "livekit-sip.yaml"
            sip_yaml.write_text(dumps(sip_config(self.host, self.ports, *self._keys)))
            self.sip = Service(
                "livekit-sip",
                [str(sip_binary), "--config", str(sip_yaml)],
                run / "livekit-sip.log",
                lambda: probes.http_ok(f"http://{self.host}:{self.ports.sip_health}/health"),
            )

    @property
    def _keys(self) -> tuple[str, str]:
        return (self.api_key, self.api_secret)

    @property
    def url(self) -> str:
        """What clients and the SDK connect to (``LIVEKIT_URL``)."""
        return f"ws://{self.host}:{self.ports.http}"

    @property
    def http_url(self) -> str:
        """The same server for its Twirp API."""
        return f"http://{self.host}:{self.ports.http}"

    @property
    def sip_address(self) -> str | None:
        """``host:port`` a SIP trunk sends INVITEs to, when livekit-sip runs."""
        return f"{self.host}:{self.ports.sip}" if self.sip is not None else None

    @property
    def env(self) -> dict[str, str]:
        return {
            "LIVEKIT_URL": self.url,
            "LIVEKIT_API_KEY": self.api_key,
            "LIVEKIT_API_SECRET": self.api_secret,
        }

    def services(self) -> list[Service]:
        return [s for s in (self.redis, self.server, self.sip) if s is not None]

    def logs(self) -> dict[str, Path]:
        return {s.name: s.log_path for s in self.services()}

    def start(self) -> None:
        try:
            for service in self.services():
                service.start(START_TIMEOUT_S)
                logger.info("%s ready (log: %s)", service.name, service.log_path)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for service in reversed(self.services()):
            service.stop()

    def kill_server(self) -> None:
        """Crash livekit-server (SIGKILL): what a node failure looks like to its clients."""
        self.server.kill()

    def start_server(self) -> None:
        """Bring livekit-server back on the same address, ports and keys."""
        self.server.start(START_TIMEOUT_S)

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

"""A private network namespace with one non-loopback address, for WebRTC on one machine.

libwebrtc (inside the ``livekit`` SDK and Chromium) never gathers ICE candidates on loopback,
and livekit-sip will not answer from another address than the one dialled, so a LiveKit stack
and its clients on one host need a real-looking interface.
Giving them the host's own interfaces would make tests depend on the machine's network and
expose test ports on it; instead the *calling process* moves into a fresh network namespace
that holds only ``lo`` and a veth pair carrying :data:`ADDRESS`. Packets between the server
and the clients then go through the namespace's local routing and never leave it.

Why in-process (``unshare(CLONE_NEWNET)``) and not a re-executed child: the namespace is a
property of each thread, inherited by threads and subprocesses created *afterwards*. Entering
it before the first thread exists puts everything the process later starts (livekit's native
runtime, the stack's servers, an agents worker subprocess, a browser) inside it, and nothing is
left behind: the namespace, its veth pair and addresses vanish with the process. The tests and
the benchmarks enter it; ``trunkline stack`` and ``trunkline lab`` use the machine's own
address instead, so people can reach them. Entering is refused once other
threads exist, because threads started earlier would stay outside.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNET = 0x40000000
ADDRESS = "10.88.0.1"
PREFIX_LENGTH = 24
VETH = ("lkt0", "lkt1")
_IP_TIMEOUT_S = 10.0


class NetnsUnavailable(RuntimeError):
    """The private namespace cannot be created here; the message says why."""


@dataclass(frozen=True)
class Namespace:
    """The namespace the process now runs in."""

    address: str
    interface: str


def _libc_unshare(flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(ctypes.c_int(flags)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def _libc_setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(ctypes.c_int(fd), ctypes.c_int(CLONE_NEWNET)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def thread_count() -> int:
    """Native threads of this process (Python's count misses those native libraries start)."""
    return len(os.listdir("/proc/self/task"))


def _ip_batch() -> str:
    first, second = VETH
    return "\n".join(
        [
            "link set lo up",
            f"link add {first} type veth peer name {second}",
            f"addr add {ADDRESS}/{PREFIX_LENGTH} dev {first}",
            f"link set {first} up",
            f"link set {second} up",
            f"route add default dev {first}",
            "",
        ]
    )


def _no_ipv6_on_new_links() -> None:
    """IPv6 on the veth would add link-local, tentative addresses: more candidates, slower ICE.

    Only links created from now on are affected: ``lo`` keeps ``::1``, so code that binds
    ``localhost`` (which may resolve to ``::1``) still works inside the namespace.
    """
    knob = Path("/proc/sys/net/ipv6/conf/default/disable_ipv6")
    if knob.exists():
        knob.write_text("1\n")


def check_prerequisites() -> None:
    """Raise :class:`NetnsUnavailable` unless :func:`enter` can work in this process."""
    if not sys.platform.startswith("linux"):
        raise NetnsUnavailable("network namespaces need Linux")
    if os.geteuid() != 0:
        raise NetnsUnavailable("creating a network namespace needs root (CI runs as root)")
    if shutil.which("ip") is None:
        raise NetnsUnavailable("the `ip` command (iproute2) is not installed")
    threads = thread_count()
    if threads != 1:
        raise NetnsUnavailable(
            f"the process already runs {threads} threads; threads started before entering "
            "the namespace would stay outside it"
        )


def enter() -> Namespace:
    """Move this process into a fresh network namespace with :data:`ADDRESS` on a veth.

    On any failure the process is put back into its original namespace before the error
    (:class:`NetnsUnavailable`) is raised, so a refused attempt changes nothing.
    """
    check_prerequisites()
    original = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        try:
            _libc_unshare(CLONE_NEWNET)
        except OSError as exc:
            raise NetnsUnavailable(f"unshare(CLONE_NEWNET) failed: {exc}") from exc
        try:
            _no_ipv6_on_new_links()
            done = subprocess.run(
                ["ip", "-batch", "-"],
                input=_ip_batch(),
                capture_output=True,
                text=True,
                timeout=_IP_TIMEOUT_S,
                check=False,
            )
            if done.returncode != 0:
                raise NetnsUnavailable(f"configuring the namespace failed: {done.stderr.strip()}")
        except (OSError, subprocess.SubprocessError, NetnsUnavailable) as exc:
            _libc_setns(original)
            if isinstance(exc, NetnsUnavailable):
                raise
            raise NetnsUnavailable(f"configuring the namespace failed: {exc}") from exc
    finally:
        os.close(original)
    return Namespace(address=ADDRESS, interface=VETH[0])


def has_address(address: str) -> bool:
    """Whether an interface of the current namespace carries ``address``."""
    wanted = ipaddress.ip_address(address)
    done = subprocess.run(
        ["ip", "-o", "addr", "show"],
        capture_output=True,
        text=True,
        timeout=_IP_TIMEOUT_S,
        check=True,
    )
    for line in done.stdout.splitlines():
        fields = line.split()
        if (
            len(fields) > 3
            and fields[2] in ("inet", "inet6")
            and ipaddress.ip_interface(fields[3]).ip == wanted
        ):
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m trunkline.stack.netns CMD ARGS...``: run CMD inside a fresh namespace."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(
            "usage: python -m trunkline.stack.netns CMD [ARGS...]\n"
            f"Runs CMD in a private network namespace where {ADDRESS} is the only "
            "non-loopback address (needs root).",
            file=sys.stderr,
        )
        return 2
    try:
        enter()
    except NetnsUnavailable as exc:
        print(f"netns: {exc}", file=sys.stderr)
        return 1
    os.execvp(args[0], args)


if __name__ == "__main__":
    sys.exit(main())

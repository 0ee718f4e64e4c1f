"""What a browser call needs around the browser: the worker, the sidecar, the fake microphone.

The servers are the product's own command lines run as child processes — ``trunkline sim``
(the model), ``python agent.py dev`` (the worker, pointed at that simulator) and ``trunkline
serve`` in bridge mode (which serves the call page) — configured only through the environment,
as a person would run them against the stack. The simulator delivers each reply in steady
chunks ahead of real time: the test judges what the browser plays for holes, and a bursty model
stalling longer than the pacer covers would put holes there by design (the lab measures those;
here they would only hide the transport's and the page's).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lab.caller.audio import read_wav, write_wav
from lab.pcm import active_mask, as_float, frame_levels_db
from sip.sidecar.call_page import DEFAULT_PAGE_DIR
from tests.waiting import eventually
from trunkline.child import child_process, free_port, trunkline_command, wait_ready
from trunkline.resample import resample
from trunkline.stack import LocalStack

from .browser import RATE, Pcm, in_ci

ROOT = Path(__file__).parents[2]
SPEECH = ROOT / "trunkline" / "data" / "speech"
#: a job process is forked on dispatch in `dev` mode; on a busy 2-core machine that takes a while
WORKER_START_S = 90.0


def speech_only(name: str) -> Pcm:
    """A bundled CMU ARCTIC clip at 48 kHz, cut to its speech (frames within 30 dB of its
    loudest; the clips' room noise sits ~40 dB down): their own lead-in and tail of room noise
    would blur the timing the test lays out."""
    pcm, rate = read_wav(SPEECH / f"{name}.wav")
    clip = resample(pcm, rate, RATE)
    frame = RATE // 100
    active = np.flatnonzero(active_mask(frame_levels_db(as_float(clip), frame), within_db=30))
    return clip[active[0] * frame : (active[-1] + 1) * frame]


def microphone_file(path: Path, layout: list[tuple[float, str]]) -> Path:
    """A 48 kHz WAV: for each (seconds, clip), that much digital silence, then the clip's
    speech; a second of silence ends it."""
    parts: list[Pcm] = []
    for silence_s, name in layout:
        parts += [np.zeros(round(silence_s * RATE), np.int16), speech_only(name)]
    parts.append(np.zeros(RATE, np.int16))
    write_wav(path, np.concatenate(parts), RATE)
    return path


def require_built_page() -> None:
    """The page ``make web`` builds; missing, it fails the test in CI and skips it elsewhere."""
    if (DEFAULT_PAGE_DIR / "index.html").is_file():
        return
    reason = f"the call page is not built ({DEFAULT_PAGE_DIR}): run `make web`"
    if in_ci():
        pytest.fail(f"CI=true but the browser test cannot run: {reason}")
    pytest.skip(reason)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without LiveKit, OpenAI, Twilio or trunkline settings, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LIVEKIT_", "OPENAI_", "TWILIO_", "TRUNKLINE_", "AGENT_NAME"))
    }
    env.update(extra)
    return env


@dataclass
class Servers:
    page_url: str
    logs: dict[str, Path]
    turn_log: Path
    """The worker's turn lines (``TRUNKLINE_TURN_LOG``): what its pacer counted per reply."""

    def log_tails(self, lines: int = 60) -> str:
        out = []
        for name, path in self.logs.items():
            text = path.read_text(errors="replace").splitlines() if path.exists() else []
            out.append(f"--- {name} ({path}), last {lines} lines ---")
            out += [line[:400] for line in text[-lines:]]
        return "\n".join(out)


def _logged(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text(errors="replace")


@contextlib.asynccontextmanager
async def worker_and_sidecar(stack: LocalStack, run_dir: Path) -> AsyncIterator[Servers]:
    """The worker registered under a name of this test's own (so no other test's worker on the
    shared stack takes its calls) and the sidecar serving the page on 127.0.0.1."""
    agent_name = f"browser-{secrets.token_hex(4)}"
    sim_port = free_port()
    turn_log = run_dir / "turns.jsonl"
    env = clean_env(
        **stack.env,
        AGENT_NAME=agent_name,
        TRUNKLINE_SIM_URL=f"http://127.0.0.1:{sim_port}/v1",
        TRUNKLINE_TURN_LOG=str(turn_log),
    )
    port = free_port()
    logs = {
        "worker": run_dir / "worker.log",
        "sidecar": run_dir / "sidecar.log",
        "simulator": run_dir / "simulator.log",
    }
    servers = Servers(f"http://127.0.0.1:{port}/call/", logs, turn_log)
    worker_cmd = [sys.executable, str(ROOT / "agent.py"), "dev"]
    sidecar_cmd = trunkline_command(
        "serve", "--host", "127.0.0.1", "--port", str(port), "--env-file", os.devnull
    )
    sim_cmd = trunkline_command("sim", "--port", str(sim_port), "--chunking", "steady")
    with (
        child_process(sim_cmd, logs["simulator"], env=env),
        _both(worker_cmd, sidecar_cmd, logs, env),
    ):
        try:
            await eventually(lambda: _logged(logs["worker"], "registered worker"), WORKER_START_S)
            await wait_ready(f"http://127.0.0.1:{port}", WORKER_START_S)
        except TimeoutError as exc:
            exc.add_note(servers.log_tails())
            raise
        yield servers


@contextlib.contextmanager
def _both(
    worker: list[str], sidecar: list[str], logs: dict[str, Path], env: dict[str, str]
) -> Iterator[None]:
    with (
        child_process(worker, logs["worker"], env=env),
        child_process(sidecar, logs["sidecar"], env=env),
    ):
        yield

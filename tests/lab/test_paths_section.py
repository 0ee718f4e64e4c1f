"""The schedule: round by round, paths in rotating order, both arms of a call at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from lab.browser_runner import BROWSER
from lab.path_runner import PathRun
from lab.paths_section import BRIDGE, LOCAL, RUNNERS, place_rounds, reachable, rotation
from trunkline.paths import CallPath

LOG: list[tuple[str, str, int]] = []


@dataclass
class Fake:
    name: str
    arm: str
    path: CallPath = "webrtc"
    settled: bool = False

    async def place(self, call: int) -> None:
        LOG.append((self.arm, self.name, call))
        await asyncio.sleep(0.01)

    async def settle(self) -> None:
        self.settled = True

    def collect(self) -> PathRun:
        return PathRun(self.name, self.path)


def test_each_round_starts_one_path_later() -> None:
    names = ["a", "b", "c"]
    assert [rotation(names, n) for n in range(4)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]
    assert reachable(sip=True, browser=True) == list(RUNNERS)
    assert reachable(sip=False, browser=True) == [n for n in RUNNERS if n != "sip"]
    assert reachable(sip=True, browser=False) == [n for n in RUNNERS if n != BROWSER]
    assert reachable(sip=False, browser=False) == [LOCAL, BRIDGE, "webrtc"]


async def test_calls_interleave_by_path_and_pair_by_arm() -> None:
    LOG.clear()
    arms = {arm: [Fake(n, arm) for n in ("a", "b")] for arm in ("paced", "unpaced")}
    done: list[str] = []
    await place_rounds(arms, 2, done.append)
    assert done == ["a", "b", "b", "a"]
    # each step places one path's call in both arms before the next path starts
    steps = [LOG[i : i + 2] for i in range(0, len(LOG), 2)]
    assert [sorted(s) for s in steps] == [
        [("paced", "a", 0), ("unpaced", "a", 0)],
        [("paced", "b", 0), ("unpaced", "b", 0)],
        [("paced", "b", 1), ("unpaced", "b", 1)],
        [("paced", "a", 1), ("unpaced", "a", 1)],
    ]
    assert all(r.settled for rs in arms.values() for r in rs)

"""A lab run is a list of sections; each measures one thing and feeds every output.

``trunkline lab`` runs (a) the codec-chain table today; (b) live simulated calls per path and
(c) the pacer A/B join as further :class:`Section` implementations without touching the
others. A section returns JSON data (its key in ``lab.json``), a Markdown body (its chapter
of ``REPORT.md``), rich tables for the terminal and the PNGs it wrote, and reports progress on
the shared rich ``Progress``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from rich.progress import Progress
from rich.table import Table

#: Packages whose versions decide the figures (codecs, resampler, metrics).
_MEASURING_PACKAGES = ("numpy", "scipy", "soxr", "av", "pesq", "pystoi")


@dataclass(frozen=True)
class LabContext:
    out_dir: Path
    progress: Progress


@dataclass
class SectionResult:
    key: str
    title: str
    data: dict[str, Any]
    markdown: str
    tables: list[Table] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    #: Sentences for the terminal after the tables (what a table's reading column says).
    notes: list[str] = field(default_factory=list)
    #: Wall time the section took (set by :func:`run_sections`).
    duration_s: float | None = None


class Section(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def title(self) -> str: ...

    def run(self, ctx: LabContext) -> SectionResult: ...


def environment(command: str) -> dict[str, Any]:
    """Where and how the figures were made: the first lines of every report."""
    versions: dict[str, str | None] = {}
    for name in _MEASURING_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "command": command,
        "packages": versions,
    }


def run_sections(sections: Sequence[Section], ctx: LabContext) -> list[SectionResult]:
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for section in sections:
        started = time.monotonic()
        result = section.run(ctx)
        result.duration_s = round(time.monotonic() - started, 1)
        results.append(result)
    return results


def write_json(results: Sequence[SectionResult], env: dict[str, Any], out: Path) -> Path:
    doc = {
        "environment": env,
        "sections": {
            r.key: {"title": r.title, "duration_s": r.duration_s, **r.data} for r in results
        },
        "figures": {r.key: [f.name for f in r.figures] for r in results},
    }
    out.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return out


def write_markdown(results: Sequence[SectionResult], env: dict[str, Any], out: Path) -> Path:
    packages = ", ".join(f"{k} {v}" for k, v in env["packages"].items())
    lines = [
        "# trunkline lab report",
        "",
        f"- date: {env['date']}",
        f"- machine: {env['host']} ({env['platform']}, {env['cpus']} CPUs, Python {env['python']})",
        f"- command: `{env['command']}`",
        *([f"- duration: {env['duration_s']:.0f} s"] if "duration_s" in env else []),
        f"- packages: {packages}",
        "",
    ]
    for r in results:
        lines += [f"## {r.title}", ""]
        lines += [] if r.duration_s is None else [f"_Run time: {r.duration_s:.0f} s._", ""]
        lines += [r.markdown.rstrip(), ""]
        links = [(f.stem, f.relative_to(out.parent).as_posix()) for f in r.figures]
        # a section may place a figure beside its method; the rest follow its text
        lines += [f"![{stem}]({link})\n" for stem, link in links if f"]({link})" not in r.markdown]
    out.write_text("\n".join(lines), encoding="utf-8")
    return out

"""Imports point down the layers (DESIGN.md): ``trunkline`` base ← ``agent`` ← ``sip`` ←
``lab`` and ``bench``; ``plugins/`` imports nothing of ours; nothing imports ``tests``.

Read from the source with ``ast`` (every import, at module level or inside a function, under
``TYPE_CHECKING`` too), so an upward import fails here before it drags the lab's libraries into
the product image or makes a layer impossible to test on its own. Besides the order: the
bridge must not import local mode (``sip.sidecar.local_call`` brings the agent session and the
model into bridge mode), and the product never imports the lab.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "plugins/livekit-plugins-pacer"

#: each top-level package of ours and its layer (an import may only go to a lower number)
RANK = {"trunkline": 1, "agent": 2, "sip": 3, "lab": 4, "bench": 4, "tests": 5}
#: ours, as seen from the plugin (which is rank 0 and imports none of them)
OURS = frozenset(RANK)
#: (importer prefix, imported prefix) pairs that are forbidden whatever the ranks say
FORBIDDEN = (
    ("sip.bridge", "sip.sidecar.local_call"),
    ("lab", "bench"),
)


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.imported} ({self.why})"


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    if rel.parts[:2] == tuple(PLUGIN.split("/")):
        rel = rel.relative_to(PLUGIN)
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports (relative imports resolved against ``module``)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target


def _layer(module: str) -> str:
    if module.startswith("livekit.plugins.pacer"):
        return "plugins"
    return module.split(".")[0]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(root: Path) -> list[Violation]:
    found = []
    sources = [
        p
        for top in [*RANK, PLUGIN]
        if (root / top).is_dir()
        for p in sorted((root / top).rglob("*.py"))
        if ".venv" not in p.parts and "node_modules" not in p.parts
    ]
    for path in sources:
        module = module_name(path, root)
        mine = _layer(module)
        rel = str(path.relative_to(root))
        for line, imported in imports(path, module):
            theirs = _layer(imported)
            if mine == "plugins":
                if theirs in OURS:
                    found.append(
                        Violation(rel, line, imported, "the plugin imports nothing of ours")
                    )
                continue
            if theirs == "plugins" or theirs not in RANK or theirs == mine:
                pass
            elif theirs == "tests":
                found.append(Violation(rel, line, imported, "nothing imports tests"))
            elif RANK[theirs] > RANK[mine]:
                found.append(Violation(rel, line, imported, f"{mine} is below {theirs}"))
            for importer, target in FORBIDDEN:
                if _under(module, importer) and _under(imported, target):
                    found.append(Violation(rel, line, imported, f"{importer} → {target}"))
    return found


def test_every_import_points_down_the_layers() -> None:
    found = violations(ROOT)
    assert not found, "upward imports:\n" + "\n".join(map(str, found))


def test_the_check_reads_the_whole_tree() -> None:
    """A check that read nothing would pass: it must see the product, the lab and the plugin."""
    seen = {
        module_name(p, ROOT).split(".")[0]
        for top in [*RANK, PLUGIN]
        for p in (ROOT / top).rglob("*.py")
    }
    assert {"trunkline", "agent", "sip", "lab", "bench", "tests", "livekit"} <= seen


PLANTED = [
    ("trunkline/base.py", "from lab.plots import x\n", "trunkline is below lab"),
    ("agent/a.py", "import sip.twilio\n", "agent is below sip"),
    ("sip/s.py", "def f():\n    from lab import caller\n", "sip is below lab"),
    ("sip/bridge/call.py", "from sip.sidecar.local_call import Pacing\n", "sip.bridge → "),
    ("lab/l.py", "from tests.waiting import eventually\n", "nothing imports tests"),
    ("bench/b.py", "import tests.web\n", "nothing imports tests"),
    (f"{PLUGIN}/livekit/plugins/pacer/x.py", "from trunkline import config\n", "the plugin"),
    ("agent/sim/__init__.py", "from ...sip import g711\n", "agent is below sip"),
]


@pytest.mark.parametrize(("where", "source", "why"), PLANTED)
def test_a_planted_upward_import_is_caught(
    tmp_path: Path, where: str, source: str, why: str
) -> None:
    path = tmp_path / where
    path.parent.mkdir(parents=True)
    path.write_text(source)
    (tmp_path / "lab").mkdir(exist_ok=True)
    (tmp_path / "lab" / "fine.py").write_text("from sip.twilio import protocol\nimport trunkline\n")
    (found,) = violations(tmp_path)
    assert found.path == where and why in found.why

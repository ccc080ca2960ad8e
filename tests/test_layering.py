"""The import graph keeps its layers: every ``import`` in ``src/paperzoo`` (module level or inside a
function: a lazy import is still a dependency) points down or sideways, never up, and the packages
form no cycle. A new up-arrow fails here with the file and line that added it.

    cli, demo                                     5
    engine (training glue), zoo.checks            4
    tasks (LightningModules)                      3
    engine.config (the config schemas)            2.5
    model families (vq, priors, separation, video, recsys, losses), data   2
    io, metrics, report, registry, zoo            1
    errors, version                               0
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import paperzoo

SRC = Path(paperzoo.__file__).parent
FAMILIES = ("losses", "vq", "priors", "separation", "video", "recsys")
RANKS = {"errors": 0, "version": 0, "io": 1, "metrics": 1, "report": 1, "registry": 1, "zoo": 1, "zoo.checks": 4, **{f: 2 for f in FAMILIES}, "data": 2,
         "engine": 2.5, **{f"{f}.task": 3 for f in FAMILIES}, "engine.run": 4, "cli": 5, "demo": 5, "__init__": 5}
STARTS_RUNS = ("run", "video_expand")  # the engine modules that drive training
NEVER_IN_MODELS = ("lightning", "pytorch_lightning")  # a model and its inference run without the training stack


def unit(module: str) -> str:
    """paperzoo.video.x3d -> 'video'; paperzoo.video.task -> 'video.task'; paperzoo.engine.run -> 'engine.run';
    paperzoo.engine.config -> 'engine'; paperzoo -> '__init__'."""
    parts = module.split(".")[1:]
    if not parts:
        return "__init__"
    if parts[0] == "engine" and len(parts) > 1 and parts[1] in STARTS_RUNS:
        return "engine.run"
    if parts[:2] == ["zoo", "checks"]:  # re-measures entries with the families' inference objects
        return "zoo.checks"
    if parts[0] in FAMILIES and len(parts) > 1 and (parts[1] == "task" or parts[1].endswith("_task")):
        return f"{parts[0]}.task"
    return parts[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> list[tuple[str, str, str]]:
    """(importing module, imported module, 'file:line') for every import of the package."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.relative_to(SRC)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                found += [(name, alias.name, where) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative import
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    target = f"{base}.{node.module}" if node.module else base
                else:
                    target = node.module or ""
                found.append((name, target, where))
    return found


def test_no_import_points_up():
    upward = []
    for src, dst, where in imports():
        if not dst.startswith("paperzoo.") and dst != "paperzoo":
            continue
        a, b = unit(src), unit(dst)
        if a != b and RANKS[b] > RANKS[a]:
            upward.append(f"{where}: {src} ({a}, layer {RANKS[a]}) imports {dst} ({b}, layer {RANKS[b]})")
    assert not upward, "imports pointing up a layer:\n" + "\n".join(upward)


def test_models_never_import_the_training_stack():
    bad = [f"{where}: {src} imports {dst}" for src, dst, where in imports()
           if RANKS[unit(src)] <= 2 and dst.split(".")[0] in NEVER_IN_MODELS]
    assert not bad, "\n".join(bad)


def test_packages_form_no_cycle():
    graph: dict[str, set[str]] = defaultdict(set)
    for src, dst, _ in imports():
        if dst.startswith("paperzoo.") and unit(src) != unit(dst):
            graph[unit(src)].add(unit(dst))
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]) if nxt in path else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles between packages:\n" + "\n".join(cycles)


def test_the_checker_sees_up_arrows():
    """The rules above are not vacuous: the package really has imports of every kind they judge."""
    found = imports()
    assert any(unit(s) == "video.task" and unit(d) == "video" for s, d, _ in found)
    assert any(unit(s) == "cli" and unit(d) == "engine.run" for s, d, _ in found)
    assert RANKS[unit("paperzoo.video.task")] > RANKS[unit("paperzoo.data.moving_shapes")]
    assert RANKS[unit("paperzoo.vq.audio_task")] > RANKS[unit("paperzoo.vq.wavenet")]

"""The package's tiers, read from its own source: which module may import which.

Every module of odinpaint is parsed with ``ast`` and every import counts, at the top of a
module or inside a function: a late import hides a dependency, it does not remove it.

From the bottom up (each tier may import the tiers before it, and itself):

- the core, the modules at the top of the package: errors, atomic, tensors, imageio, masks,
  metrics, classical, biharmonic, evaluate, tables, plots and checkpoint. They import only
  one another, except that ``checkpoint`` rebuilds networks from their stored architecture and
  so imports ``models``. ``evaluate``, ``tables`` and ``plots`` sit here, not in the study,
  because training validates and plots its runs with them;
- ``models``: the networks, over the core;
- ``data``: photo sources, preparation and loading, over the core;
- ``training``: over models and data;
- ``inference``: filling images, over the core and models. Never training, data or the
  study: a user who only fills images never imports the trainer;
- ``study``: the experiment, its analysis and report, photo evaluation and bench, over
  everything. Within it, the report and the photo evaluation read what training wrote and
  import nothing from training;
- the command line, over everything.

The import graph has no cycle. Each rule is also run on a small graph that breaks it, so a
checker that misses it fails.

The root package's ``odinpaint.Inpainter`` is a lazy re-export (a module ``__getattr__``):
``from odinpaint import __version__`` loads no other module, so the graph does not follow
imports of the root package itself.
"""

import ast
from pathlib import Path

import pytest

import odinpaint

ROOT = "odinpaint"
CORE = tuple(f"odinpaint.{m}" for m in ("errors", "atomic", "tensors", "imageio", "masks", "metrics", "classical",
                                         "biharmonic", "evaluate", "tables", "plots", "checkpoint"))
TIERS = {  # tier -> the tiers it may import (besides its own)
    "core": set(),
    "models": {"core"},
    "data": {"core"},
    "training": {"core", "models", "data"},
    "inference": {"core", "models"},
    "study": {"core", "models", "data", "training", "inference"},
    "cli": {"core", "models", "data", "training", "inference", "study"},
}
EXCEPTIONS = {("odinpaint.checkpoint", "models")}  # (module, tier) imports allowed against the tiers
READERS = ("odinpaint.study.report", "odinpaint.study.photo_eval")  # read runs, import no training


def tier(module: str) -> str:
    if module in CORE:
        return "core"
    if module in ("odinpaint.cli", "odinpaint.__main__"):
        return "cli"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in TIERS:
        return parts[1]
    raise AssertionError(f"{module} is in no tier: add it to CORE or to a tier's package")


def _module_name(path: Path, package_dir: Path) -> str:
    parts = path.relative_to(package_dir.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node, importer: str, is_package: bool) -> list[str]:
    """The dotted names an import statement may load: ``from a import b`` loads ``a.b`` when
    that is a module, else ``a`` itself."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:  # relative: counted from the importer's package
        package = importer if is_package else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    return [f"{base}.{a.name}" for a in node.names] + [base]


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Each module of the package at ``package_dir`` -> the package's modules it imports."""
    paths = {_module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))}
    graph = {}
    root = package_dir.name
    for name, path in paths.items():
        imports = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                candidates = _imported(node, name, path.name == "__init__.py")
                imports.update(c for c in candidates if c in paths and c not in (name, root))
        graph[name] = imports
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` loads, directly or through others."""
    seen, todo = set(), list(graph.get(start, ()))
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph.get(m, ()))
    return seen


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth first, three colours)."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = "open"
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                return path[path.index(n):] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        state[m] = "done"
        path.pop()
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def _within(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


def breaches(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a tier rule, as 'importer -> imported: rule'."""
    out = []
    for m in sorted(graph):
        if m == ROOT:
            continue
        here = tier(m)
        for t in sorted(graph[m]):
            there = tier(t)
            if there != here and there not in TIERS[here] and (m, there) not in EXCEPTIONS:
                out.append(f"{m} -> {t}: {here} may not import {there}")
            if m in READERS and _within(t, "odinpaint.training"):
                out.append(f"{m} -> {t}: it reads runs, it imports no training")
    return out


@pytest.fixture(scope="module")
def graph():
    return import_graph(Path(odinpaint.__file__).parent)


def test_the_graph_holds_every_module_and_late_imports(graph):
    assert {"odinpaint", "odinpaint.cli", "odinpaint.models", "odinpaint.models.inputs",
            "odinpaint.training.trainer"} <= set(graph)
    assert "odinpaint.classical" in graph["odinpaint.models.inputs"]
    assert "odinpaint.checkpoint" in graph["odinpaint.inference.inpainter"]
    assert "odinpaint.training.trainer" in graph["odinpaint.cli"]  # imported inside cmd_train


def test_the_package_keeps_its_layers(graph):
    assert breaches(graph) == []


def test_the_package_has_no_import_cycle(graph):
    assert find_cycle(graph) is None


def test_every_module_has_a_tier(graph):
    assert {m: tier(m) for m in graph if m != ROOT}  # raises for a module outside the tiers
    assert {tier(m) for m in graph if m != ROOT} == set(TIERS)


@pytest.mark.parametrize("bad", [
    {"odinpaint.models.inputs": {"odinpaint.training.config"}},
    {"odinpaint.classical": {"odinpaint.study.report"}},
    {"odinpaint.metrics": {"odinpaint.models"}},  # only checkpoint may
    {"odinpaint.inference.inpainter": {"odinpaint.training.schedule"}},
    {"odinpaint.inference.server": {"odinpaint.data.dataset"}},
    {"odinpaint.training.trainer": {"odinpaint.inference.inpainter"}},
    {"odinpaint.data.prepare": {"odinpaint.models"}},
    {"odinpaint.study.report": {"odinpaint.training.config"}},
    {"odinpaint.study.photo_eval": {"odinpaint.training.config"}},
    {"odinpaint.study.bench": {"odinpaint.cli"}},
])
def test_each_tier_rule_flags_a_graph_that_breaks_it(bad):
    graph = {m: set() for targets in bad.values() for m in targets} | bad
    assert breaches(graph)


def test_allowed_imports_are_not_flagged():
    graph = {"odinpaint.training.trainer": {"odinpaint.models", "odinpaint.evaluate", "odinpaint.data.dataset"},
             "odinpaint.study.experiment": {"odinpaint.training.trainer", "odinpaint.study.report"},
             "odinpaint.study.report": {"odinpaint.evaluate"}, "odinpaint.checkpoint": {"odinpaint.models"},
             "odinpaint.inference.inpainter": {"odinpaint.checkpoint", "odinpaint.models"},
             "odinpaint.models": set(), "odinpaint.evaluate": set(), "odinpaint.data.dataset": set()}
    assert breaches(graph) == []


def test_a_cycle_through_a_late_import_is_found(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "a.py").write_text("import os\n\n\ndef f():\n    from pkg.sub import b\n    return b\n")
    (pkg / "sub" / "b.py").write_text("from ..c import thing\n")
    (pkg / "c.py").write_text("import pkg.a as a\nthing = 1\n")
    graph = import_graph(pkg)
    assert graph == {"pkg": set(), "pkg.a": {"pkg.sub.b", "pkg.sub"}, "pkg.c": {"pkg.a"},
                     "pkg.sub": {"pkg.sub.b"}, "pkg.sub.b": {"pkg.c"}}
    cycle = find_cycle(graph)
    assert cycle[0] == cycle[-1] and {"pkg.a", "pkg.sub.b", "pkg.c"} <= set(cycle)
    del graph["pkg.c"]
    assert find_cycle(graph) is None

"""The package's layers, read from its own source: which module may import which.

Every module of odinpaint is parsed with ``ast`` and every import counts, at the top of a
module or inside a function: a late import hides a dependency, it does not remove it.

- models import nothing, even through other modules, from training, the command line, the
  experiment, the server or the report;
- filling an image (fill, inpainter, export, server) never reaches training, even through
  other modules: a user who only fills images never imports the trainer;
- the report and the photo evaluation read what training wrote and import nothing from it;
- the import graph has no cycle.

Each rule is also run on a small graph that breaks it, so a checker that misses it fails.
"""

import ast
from pathlib import Path

import pytest

import odinpaint

MODELS = "odinpaint.models"
TRAINING = "odinpaint.training"
ABOVE_MODELS = (TRAINING, "odinpaint.cli", "odinpaint.experiment", "odinpaint.server", "odinpaint.report")
INFERENCE = ("odinpaint.fill", "odinpaint.inpainter", "odinpaint.export", "odinpaint.server")
READERS = ("odinpaint.report", "odinpaint.photo_eval")


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
    for name, path in paths.items():
        imports = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                candidates = _imported(node, name, path.name == "__init__.py")
                imports.update(c for c in candidates if c in paths and c != name)
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
    """Every import that breaks a layer rule, as 'importer -> imported: rule'."""
    out = []
    for m in sorted(graph):
        if _within(m, MODELS):
            out += [f"{m} -> {t}: models stay below {t}" for t in sorted(reachable(graph, m))
                    if any(_within(t, layer) for layer in ABOVE_MODELS)]
        if m in INFERENCE:
            out += [f"{m} -> {t}: filling never loads training" for t in sorted(reachable(graph, m)) if _within(t, TRAINING)]
        if m in READERS:
            out += [f"{m} -> {t}: it reads runs, it imports no training" for t in sorted(graph[m]) if _within(t, TRAINING)]
    return out


@pytest.fixture(scope="module")
def graph():
    return import_graph(Path(odinpaint.__file__).parent)


def test_the_graph_holds_every_module_and_late_imports(graph):
    assert {"odinpaint", "odinpaint.cli", "odinpaint.models", "odinpaint.models.inputs",
            "odinpaint.training.trainer"} <= set(graph)
    assert "odinpaint.classical" in graph["odinpaint.models.inputs"]
    assert "odinpaint.checkpoint" in graph["odinpaint.inpainter"]
    assert "odinpaint.training.trainer" in graph["odinpaint.cli"]  # imported inside cmd_train


def test_the_package_keeps_its_layers(graph):
    assert breaches(graph) == []


def test_the_package_has_no_import_cycle(graph):
    assert find_cycle(graph) is None


@pytest.mark.parametrize("bad", [
    {"odinpaint.models.inputs": {"odinpaint.training.config"}},
    {"odinpaint.models.inputs": {"odinpaint.classical"}, "odinpaint.classical": {"odinpaint.report"}},
    {"odinpaint.fill": {"odinpaint.inpainter"}, "odinpaint.inpainter": {"odinpaint.training.plots"}},
    {"odinpaint.server": {"odinpaint.training.trainer"}},
    {"odinpaint.report": {"odinpaint.training.plots"}},
    {"odinpaint.photo_eval": {"odinpaint.training.config"}},
])
def test_each_layer_rule_flags_a_graph_that_breaks_it(bad):
    graph = {m: set() for targets in bad.values() for m in targets} | bad
    assert breaches(graph)


def test_allowed_imports_are_not_flagged():
    graph = {"odinpaint.training.trainer": {"odinpaint.models", "odinpaint.evaluate"},
             "odinpaint.experiment": {"odinpaint.training.trainer", "odinpaint.report"},
             "odinpaint.report": {"odinpaint.evaluate"}, "odinpaint.models": set(), "odinpaint.evaluate": set()}
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

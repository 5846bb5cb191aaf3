"""MkDocs hook: the package's modules, each with the first paragraph of its docstring.

A page that holds the placeholder ``<!-- odinpaint-modules -->`` gets, in its place, one table
per package of ``src/odinpaint`` (the top level, then each subpackage), listing every module
with what its docstring says it is. The docstrings are read with ``ast``; nothing is
imported. The list is made from the source at every build, so a module added, moved or
removed shows here without anyone editing the page.
"""

from __future__ import annotations

import ast
from pathlib import Path

PLACEHOLDER = "<!-- odinpaint-modules -->"


def _summary(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = doc.strip().split("\n\n")[0]
    return " ".join(first.split()).replace("|", "\\|")


def render(package: Path) -> str:
    groups: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent)
        parts = rel.with_suffix("").parts
        pkg = ".".join(parts[:-1])
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        groups.setdefault(pkg, []).append((name, _summary(path)))
    out = []
    for pkg in sorted(groups, key=lambda p: (p.count("."), p)):
        title = "the top level: the core, the command line" if pkg == package.name else f"`{pkg}`"
        out.append(f"### {title}\n")
        out.append("| module | what it is |\n|---|---|")
        out.extend(f"| `{name}` | {summary} |" for name, summary in groups[pkg])
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if PLACEHOLDER not in markdown:
        return markdown
    package = Path(config["config_file_path"]).parent / "src" / "odinpaint"
    return markdown.replace(PLACEHOLDER, render(package))

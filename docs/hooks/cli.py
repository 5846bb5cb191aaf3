"""MkDocs hook: the command-line reference, rendered from ``odinpaint.cli.build_parser()``.

A page that holds the placeholder ``<!-- odinpaint-cli -->`` gets, in its place, the help of
``odinpaint`` and of every subcommand (nested ones such as ``data prepare`` included), exactly
as ``odinpaint ... --help`` prints it. The reference is built from the parsers at every build,
so it cannot drift from the code.

The checkout's own ``src/`` comes first on the import path, so the docs describe the code
they are built from. ``build_parser()`` imports the training config (and with it torch) to
generate the ``train`` options, so the build needs the package's dependencies installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PLACEHOLDER = "<!-- odinpaint-cli -->"
WIDTH = 100  # columns of the rendered help, whatever the terminal that runs the build


def _import_cli(config_dir: Path):
    src = str(config_dir / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    from odinpaint import cli

    return cli


def _fixed_width(parser: argparse.ArgumentParser) -> None:
    cls = parser.formatter_class
    parser.formatter_class = lambda prog, cls=cls: cls(prog, width=WIDTH, max_help_position=32)


def _commands(parser: argparse.ArgumentParser, prefix: str):
    """(name, summary, parser) for the parser and every subcommand below it, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                full = f"{prefix} {name}"
                yield full, summaries.get(name, ""), sub
                yield from _commands(sub, full)


def render(parser: argparse.ArgumentParser) -> str:
    def block(p):
        _fixed_width(p)
        return "```text\n" + p.format_help().rstrip() + "\n```\n"

    parts = ["## odinpaint\n", block(parser)]
    for name, summary, sub in _commands(parser, parser.prog):
        level = "#" * min(2 + name.count(" ") - 1, 4)
        parts.append(f"{level}# {name}\n")
        if summary:
            parts.append(summary[0].upper() + summary[1:] + ".\n")
        parts.append(block(sub))
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if PLACEHOLDER not in markdown:
        return markdown
    cli = _import_cli(Path(config["config_file_path"]).parent)
    return markdown.replace(PLACEHOLDER, render(cli.build_parser()))

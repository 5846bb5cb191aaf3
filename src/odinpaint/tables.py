"""Markdown tables: the one renderer behind every table odinpaint writes (evaluation, bench,
whole-photo evaluation, the experiment report).

    >>> from odinpaint.tables import markdown_table
    >>> print(markdown_table(["method", "dB"], [["telea", "29.07"], ["ns", "28.80"]], bold={(0, 1)}))
    | method | dB |
    |---|---|
    | telea | **29.07** |
    | ns | 28.80 |
"""

from __future__ import annotations


def markdown_table(headers, rows, bold=frozenset()) -> str:
    """``headers`` and ``rows`` (cells of any type, shown with ``str``) as a Markdown table;
    ``bold`` holds the (row, column) cells to emphasise."""
    lines = [_row(headers), "|" + "---|" * len(headers)]
    lines += [_row(f"**{v}**" if (i, j) in bold else v for j, v in enumerate(row)) for i, row in enumerate(rows)]
    return "\n".join(lines)


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"

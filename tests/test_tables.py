"""The one Markdown table renderer."""

from odinpaint.tables import markdown_table


def test_markdown_table_rows_bold_cells_and_non_text_cells():
    text = markdown_table(["method", "dB", "n"], [["telea", "29.07", 4], ["ns", 28.8, None]], bold={(0, 1), (1, 0)})
    assert text.splitlines() == ["| method | dB | n |", "|---|---|---|", "| telea | **29.07** | 4 |",
                                 "| **ns** | 28.8 | None |"]


def test_markdown_table_without_rows_is_its_header():
    assert markdown_table(["a"], []) == "| a |\n|---|"

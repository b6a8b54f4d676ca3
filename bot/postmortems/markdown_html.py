"""Postmortem Markdown as HTML: markdown-it, with a table rule of our own.

markdown-it reads CommonMark with tables and raw HTML off, so any HTML a person
typed stays text. Its table rule is too slow for a long incident's timeline, so
`MARKDOWN` writes tables with the rule below, to the same HTML.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, mdTrim
from markdown_it.renderer import RendererHTML, RendererProtocol
from markdown_it.rules_block import StateBlock
from markdown_it.rules_block.table import MAX_AUTOCOMPLETED_CELLS
from markdown_it.rules_block.table import table as markdown_it_table
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from bot.postmortems.markdown_text import ESCAPED_PUNCTUATION

# A long incident's timeline is a table of thousands of rows, and markdown-it makes five
# tokens and an inline parse per cell. `_table` stands in for its table rule: markdown-it
# still decides which lines are a table (its own rule checks the header and delimiter
# rows; the body ends where its rule would end it, by the same tests), but the table's
# HTML is written here, as markdown-it's renderer would write it. A cell with no
# character inline Markdown could act on is its text, escaped as markdown-it escapes
# text; one whose only such characters are backslash escapes of punctuation is that text
# unescaped. Any other cell is parsed and rendered by markdown-it, as an `inline` token
# would be, when the page is rendered. tests/postmortems/test_postmortem.py checks
# the result against markdown-it's own table rule.

_TABLE_HTML = "table_html"  # a run of a table's HTML, written here
_TABLE_CELL = "table_cell"  # a cell's inline Markdown, for markdown-it to render
_TABLE_TERMINATED_BY = ["paragraph", "reference"]  # markdown-it's `alt` for its table rule
# The first characters of the blocks that can end a table (fence, quote, rule, list, HTML,
# heading): their rules look for one first, so a line starting otherwise (`|`) ends none.
_BLOCK_MARKERS = frozenset("`~>*-_+<#0123456789")
# What inline rules start at (`\n` cannot be in a cell) or, for `>`, `]` and `~`, could
# if more rules were on; text without them is only text to markdown-it.
_INLINE_MARKUP = re.compile(r"[\\`*_&<>\[\]!~\n]")
_CELL_BAR = re.compile(r"(?<!\\)\|")  # markdown-it's `escapedSplit`: `\|` splits no cells


def _cell_html(content: str) -> str | None:
    """The HTML of a cell's content as markdown-it renders it, or None if it needs parsing."""
    if _INLINE_MARKUP.search(content) is None:
        return escapeHtml(content)
    if "\\" in content and _INLINE_MARKUP.search(ESCAPED_PUNCTUATION.sub("", content)) is None:
        return escapeHtml(ESCAPED_PUNCTUATION.sub(r"\1", content))
    return None


def _row_cells(text: str) -> list[str]:
    """A trimmed table line split into cells, as markdown-it splits it (untrimmed cells)."""
    cells = [cell.replace("\\|", "|") for cell in _CELL_BAR.split(text)]
    if cells and cells[0] == "":
        cells.pop(0)
    if cells and cells[-1] == "":
        cells.pop()
    return cells


def _line(state: StateBlock, line: int) -> str:
    return state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]]


def _alignment(delimiter: str) -> str:
    if delimiter.endswith(":"):
        return "center" if delimiter.startswith(":") else "right"
    return "left" if delimiter.startswith(":") else ""


def _table(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """markdown-it's GFM table rule (rules_block/table.py), writing the table's HTML."""
    if not markdown_it_table(state, start_line, end_line, True):
        return False
    if silent:
        return True
    aligns = [
        _alignment(delimiter)
        for delimiter in map(mdTrim, _line(state, start_line + 1).split("|"))
        if delimiter
    ]
    header = [mdTrim(cell) for cell in _row_cells(mdTrim(_line(state, start_line)))]
    count = len(header)
    styles = ["" if align == "" else f' style="text-align:{align}"' for align in aligns]
    pieces = ["<table>\n<thead>\n<tr>\n"]

    def flush() -> None:
        token = state.push(_TABLE_HTML, "", 0)
        token.content = "".join(pieces)
        token.info = "open" if pieces[0].startswith("<table>") else ""
        pieces.clear()

    def cell(tag: str, style: str, content: str, line: int) -> None:
        html = _cell_html(content)
        if html is not None:
            pieces.append(f"<{tag}{style}>{html}</{tag}>\n")
            return
        pieces.append(f"<{tag}{style}>")
        flush()
        token = state.push(_TABLE_CELL, "", 0)
        token.map = [line, line + 1]
        token.content = content
        pieces.append(f"</{tag}>\n")

    for index, content in enumerate(header):
        cell("th", styles[index], content, start_line)
    pieces.append("</tr>\n</thead>\n")

    old_parent_type = state.parentType
    state.parentType = "table"
    terminators = state.md.block.ruler.getRules("blockquote")
    autocompleted = 0
    body = False
    line = start_line + 2
    while line < end_line:
        if state.sCount[line] < state.blkIndent:
            break
        text = _line(state, line)
        if text[:1] in _BLOCK_MARKERS and any(
            terminator(state, line, end_line, True) for terminator in terminators
        ):
            break
        text = mdTrim(text)
        if not text or state.is_code_block(line):
            break
        cells = _row_cells(text)
        autocompleted += count - len(cells)
        if autocompleted > MAX_AUTOCOMPLETED_CELLS:
            break
        if not body:
            pieces.append("<tbody>\n")
            body = True
        pieces.append("<tr>\n")
        cells = [mdTrim(content) for content in cells[:count]] + [""] * (count - len(cells))
        if _INLINE_MARKUP.search(text.replace("\\|", "")) is None:  # then in no cell either
            pieces += [
                f"<td{style}>{escapeHtml(content)}</td>\n"
                for style, content in zip(styles, cells, strict=True)
            ]
        else:
            for style, content in zip(styles, cells, strict=True):
                cell("td", style, content, line)
        pieces.append("</tr>\n")
        line += 1
    pieces.append("</tbody>\n</table>\n" if body else "</table>\n")
    flush()
    state.parentType = old_parent_type
    state.line = line
    return True


def _table_html(
    self: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """A run of a table's HTML; markdown-it puts a line break before a table after a hidden
    paragraph (a tight list item's), as before any block tag."""
    token = tokens[idx]
    if token.info == "open" and idx and tokens[idx - 1].hidden:
        return "\n" + token.content
    return token.content


def _markdown() -> MarkdownIt:
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    markdown.block.ruler.at("table", _table, {"alt": _TABLE_TERMINATED_BY})
    markdown.add_render_rule(_TABLE_HTML, _table_html)
    core = markdown.core.ruler
    after_block = core.getRules("")[core.get_active_rules().index("block") + 1 :]

    def table_cell(
        self: RendererHTML,
        tokens: Sequence[Token],
        idx: int,
        options: OptionsDict,
        env: EnvType,
    ) -> str:
        """A cell's inline Markdown as markdown-it does an `inline` token: the core rules
        after the block parser (`inline`, `text_join`), then the renderer. Done here, one
        cell at a time, the tokens of thousands of cells are never all alive at once."""
        cell = Token("inline", "", 0, content=tokens[idx].content, children=[])
        state = StateCore(cell.content, markdown, env, [cell])
        for rule in after_block:
            rule(state)
        return self.renderInline(cell.children or [], options, env)

    markdown.add_render_rule(_TABLE_CELL, table_cell)
    return markdown


MARKDOWN = _markdown()

"""Postmortem drafts from Jinja2 templates, in GitHub-flavoured Markdown and in HTML.

Templates are `<name>.md.j2` files in the project's `templates/` folder and in
the folder named by `POSTMORTEM_TEMPLATES_DIR`, whose files win over built-in
ones of the same name. Every piece of user text goes through the `md` filter,
which escapes what Markdown would otherwise act on. HTML is the same Markdown
converted by markdown-it (CommonMark with tables, raw HTML off, so any HTML a
person typed stays text), inside `templates/page.html.j2`; tables, which can hold
thousands of rows, are written by a rule of ours, to the same HTML.

After the Markdown is rendered, the blameless linter reads the draft and the
incident's notes, and its review is appended (in both formats).
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, mdTrim
from markdown_it.renderer import RendererHTML, RendererProtocol
from markdown_it.rules_block import StateBlock
from markdown_it.rules_block.table import MAX_AUTOCOMPLETED_CELLS
from markdown_it.rules_block.table import table as markdown_it_table
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

from bot import resources
from bot.errors import UsageError
from bot.postmortems import blameless

BUILTIN_TEMPLATES = resources.templates()
SUFFIX = ".md.j2"
PAGE_TEMPLATE = "page.html.j2"
FORMATS = ("md", "html")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

# -- the md filter ---------------------------------------------------------------------

# Characters that mean something to CommonMark or GitHub anywhere in a line.
_ALWAYS_ESCAPED = frozenset("\\`*[]<>|~$")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_LINE_BREAKS = re.compile(r"\s*[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")
# What would start a block (heading, list, quote, setext underline) at the start of a line.
_BLOCK_START = re.compile(r"^(?:(#{1,6})(?=\s|$)|([-+=])|(\d{1,9})([.)]))")

_MAYBE_ESCAPED = re.compile("[" + re.escape("".join(sorted(_ALWAYS_ESCAPED))) + "&_]")


def _escape(found: re.Match[str]) -> str:
    """The escaped form of one character `_MAYBE_ESCAPED` found in `md`'s text."""
    char = found.group()
    if char in _ALWAYS_ESCAPED:
        return "\\" + char
    text, index = found.string, found.start()
    if char == "&":
        # Only an entity (`&amp;`, `&#38;`) would be read as something else.
        return "\\&" if _ENTITY.match(text, index) else "&"
    # `_`: between letters or digits (snake_case) it can never be emphasis.
    before = text[index - 1] if index else " "
    after = text[index + 1] if index + 1 < len(text) else " "
    return "_" if before.isalnum() and after.isalnum() else "\\_"


def md(value: object) -> str:
    """Text as it must be written in Markdown to show exactly as typed, on one line.

    Safe inline, at the start of a line and in a table cell: line breaks become
    spaces, `|` cannot end a cell, `<b>` shows as typed, `*x*` is not emphasis.
    """
    if value is None:
        return ""
    text = _LINE_BREAKS.sub(" ", str(value)).strip()
    escaped = _MAYBE_ESCAPED.sub(_escape, text)
    start = _BLOCK_START.match(escaped)
    if start is not None:
        if start.group(3) is not None:  # "1." -> "1\."
            cut = len(start.group(3))
            escaped = escaped[:cut] + "\\" + escaped[cut:]
        else:
            escaped = "\\" + escaped
    return escaped


def md_block(value: object) -> str:
    """Multi-line text as Markdown paragraphs: each line escaped, line breaks kept."""
    if value is None:
        return ""
    paragraphs = re.split(r"\n\s*\n", str(value).replace("\r\n", "\n").replace("\r", "\n"))
    rendered = []
    for paragraph in paragraphs:
        lines = [md(line) for line in paragraph.split("\n") if line.strip()]
        if lines:
            rendered.append("\\\n".join(lines))
    return "\n\n".join(rendered)


def md_link(url: object, text: str = "link") -> str:
    """A Markdown link to an http(s) URL, or nothing for anything else."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return ""
    target = quote(url, safe=":/?#[]@!$&'*+,;=%~")
    return f"[{md(text)}]({target})"


def plural(count: int, singular: str, many: str | None = None) -> str:
    """`1 bad minute`, `2 bad minutes`."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


# -- environments ------------------------------------------------------------------------


def _shown_path(filename: str | None) -> str:
    """A template's file name as people know it: `templates/x.md.j2` for built-in ones."""
    if not filename:
        return "<template>"
    path = Path(filename)
    try:
        return (Path("templates") / path.resolve().relative_to(BUILTIN_TEMPLATES)).as_posix()
    except ValueError:
        return filename


@lru_cache(maxsize=16)
def _environment(templates_dir: str | None) -> Environment:
    folders = [templates_dir] if templates_dir else []
    folders.append(str(BUILTIN_TEMPLATES))
    environment = Environment(
        loader=ChoiceLoader([FileSystemLoader(folder) for folder in folders]),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=lambda value: "" if value is None else value,
    )
    environment.filters.update(md=md, md_block=md_block, md_link=md_link, plural=plural)
    return environment


def _check_folder(templates_dir: str | os.PathLike[str] | None) -> str | None:
    if not templates_dir:
        return None
    folder = os.fspath(templates_dir)
    if not os.path.isdir(folder):
        raise UsageError(f"POSTMORTEM_TEMPLATES_DIR `{folder}` is not a folder.")
    return folder


def available_templates(templates_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The names of the templates that can be rendered, built-in and from the user folder."""
    folders = [BUILTIN_TEMPLATES]
    folder = _check_folder(templates_dir)
    if folder:
        folders.append(Path(folder))
    return sorted(
        {path.name[: -len(SUFFIX)] for base in folders for path in base.glob(f"*{SUFFIX}")}
    )


def _template_error(problem: Exception) -> UsageError:
    """`templates/foo.md.j2:12: unexpected '}'` for any failure inside a template."""
    if isinstance(problem, TemplateSyntaxError):
        where = f"{_shown_path(problem.filename or problem.name)}:{problem.lineno}"
        return UsageError(f"{where}: {problem.message}")
    where = "<template>"
    for frame in reversed(traceback.extract_tb(problem.__traceback__)):
        if frame.filename.endswith(".j2"):
            where = f"{_shown_path(frame.filename)}:{frame.lineno}"
            break
    if isinstance(problem, TemplateNotFound):
        message = f"there is no template `{problem.name}`"
    elif isinstance(problem, TemplateError):
        message = problem.message or ""
    else:
        message = str(problem)
    return UsageError(f"{where}: {message or type(problem).__name__}")


# Template code can fail like any Python expression (`{{ 1 + "a" }}`); say where.
_TEMPLATE_FAILURES = (TemplateError, ArithmeticError, LookupError, TypeError, ValueError)


def _render_template(environment: Environment, name: str, variables: dict[str, Any]) -> str:
    try:
        return environment.get_template(name).render(variables)
    except _TEMPLATE_FAILURES as problem:
        raise _template_error(problem) from None


# -- rendering ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    content: str
    findings: tuple[blameless.Finding, ...]


# A Markdown backslash escape: `\` before ASCII punctuation (`\` before anything else is text).
_ESCAPED_PUNCTUATION = re.compile(r"\\([!-/:-@\[-`{-~])")

# -- tables in HTML ----------------------------------------------------------------------
#
# A long incident's timeline is a table of thousands of rows, and markdown-it makes five
# tokens and an inline parse per cell. `_table` stands in for its table rule: markdown-it
# still decides which lines are a table (its own rule checks the header and delimiter
# rows; the body ends where its rule would end it, by the same tests), but the table's
# HTML is written here, as markdown-it's renderer would write it. A cell with no
# character inline Markdown could act on is its text, escaped as markdown-it escapes
# text; one whose only such characters are backslash escapes of punctuation is that text
# unescaped. Any other cell is parsed and rendered by markdown-it, as an `inline` token
# would be, when the page is rendered. tests/test_postmortem.py checks the result
# against markdown-it's own table rule.

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
    if "\\" in content and _INLINE_MARKUP.search(_ESCAPED_PUNCTUATION.sub("", content)) is None:
        return escapeHtml(_ESCAPED_PUNCTUATION.sub(r"\1", content))
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


_MARKDOWN = _markdown()


def _lint(body: str) -> list[blameless.Finding]:
    """Blameless findings in the draft, read as people will read it.

    The draft writes notes escaped for Markdown, and the escapes could hide a
    phrase from the linter (`\\<@U123\\>` is no longer a mention), so the linter
    reads each line without its escapes and columns are mapped back.
    """
    lines = body.split("\n")
    plain_lines, removed = zip(*(_unescaped(line) for line in lines), strict=True)
    findings = blameless.lint("\n".join(plain_lines))
    return [
        replace(f, column=f.column + sum(1 for at in removed[f.line - 1] if at <= f.column))
        for f in findings
    ]


def _unescaped(line: str) -> tuple[str, list[int]]:
    """`line` without Markdown backslash escapes, and the 1-based columns they stood at."""
    if "\\" not in line:
        return line, []
    # The n-th escape (from 0) found at index i stands at column i - n + 1 once unescaped.
    removed = [
        found.start() - count + 1 for count, found in enumerate(_ESCAPED_PUNCTUATION.finditer(line))
    ]
    return _ESCAPED_PUNCTUATION.sub(r"\1", line), removed


def _without_markers(review: str) -> str:
    return review.replace(blameless.START_MARKER, "").replace(blameless.END_MARKER, "").strip()


def render_draft(
    context: dict[str, Any],
    *,
    template: str = "postmortem",
    fmt: str = "md",
    templates_dir: str | os.PathLike[str] | None = None,
) -> Rendered:
    """Render `context` (from `bot.postmortems.context.build_context`) with the blameless review."""
    if fmt not in FORMATS:
        raise UsageError(f"Unknown format `{fmt}`; use md or html.")
    folder = _check_folder(templates_dir)
    names = available_templates(folder)
    if not _TEMPLATE_NAME.match(template) or template not in names:
        raise UsageError(f"Unknown template `{template}`. Templates: {', '.join(names)}.")
    environment = _environment(folder)
    body = _render_template(environment, template + SUFFIX, context).rstrip("\n") + "\n"
    findings = _lint(body)
    review = blameless.review_section(findings).strip()
    if fmt == "md":
        content = body + ("\n" + review + "\n" if review else "")
        return Rendered(content=content, findings=tuple(findings))
    incident = context.get("incident", {})
    kind = {"executive": "executive summary"}.get(template, "postmortem")
    title = f"{incident.get('reference', '')}: {incident.get('title', '')} ({kind})"
    page = _render_template(
        environment,
        PAGE_TEMPLATE,
        {
            "title": title,
            "body": Markup(_MARKDOWN.render(body).strip()),
            "review": Markup(_MARKDOWN.render(_without_markers(review)).strip()) if review else "",
            "context": context,
        },
    )
    return Rendered(content=page, findings=tuple(findings))


def render(
    context: dict[str, Any],
    *,
    template: str = "postmortem",
    fmt: str = "md",
    templates_dir: str | os.PathLike[str] | None = None,
) -> str:
    """The draft as Markdown (`fmt="md"`) or as a standalone HTML page (`fmt="html"`)."""
    return render_draft(context, template=template, fmt=fmt, templates_dir=templates_dir).content

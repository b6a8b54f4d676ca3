"""Postmortem drafts from Jinja2 templates, in GitHub-flavoured Markdown and in HTML.

Templates are `<name>.md.j2` files in the project's `templates/` folder and in
the folder named by `POSTMORTEM_TEMPLATES_DIR`, whose files win over built-in
ones of the same name. Every piece of user text goes through the `md` filter,
which escapes what Markdown would otherwise act on. HTML is the same Markdown
converted by markdown-it (CommonMark with tables, raw HTML off, so any HTML a
person typed stays text), inside `templates/page.html.j2`.

After the Markdown is rendered, the blameless linter reads the draft and the
incident's notes, and its review is appended (in both formats).
"""

from __future__ import annotations

import os
import re
import traceback
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
from markupsafe import Markup

from bot import blameless
from bot.errors import UsageError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUILTIN_TEMPLATES = PROJECT_ROOT / "templates"
SUFFIX = ".md.j2"
PAGE_TEMPLATE = "page.html.j2"
FORMATS = ("md", "html")
REVIEW_START = "<!-- blameless-review:start -->"
REVIEW_END = "<!-- blameless-review:end -->"
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

# -- the md filter ---------------------------------------------------------------------

# Characters that mean something to CommonMark or GitHub anywhere in a line.
_ALWAYS_ESCAPED = frozenset("\\`*[]<>|~$")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_LINE_BREAKS = re.compile(r"\s*[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")
# What would start a block (heading, list, quote, setext underline) at the start of a line.
_BLOCK_START = re.compile(r"^(?:(#{1,6})(?=\s|$)|([-+=])|(\d{1,9})([.)]))")


def md(value: object) -> str:
    """Text as it must be written in Markdown to show exactly as typed, on one line.

    Safe inline, at the start of a line and in a table cell: line breaks become
    spaces, `|` cannot end a cell, `<b>` shows as typed, `*x*` is not emphasis.
    """
    if value is None:
        return ""
    text = _LINE_BREAKS.sub(" ", str(value)).strip()
    out: list[str] = []
    for index, char in enumerate(text):
        if char in _ALWAYS_ESCAPED:
            out.append("\\" + char)
        elif char == "&":
            # Only an entity (`&amp;`, `&#38;`) would be read as something else.
            out.append("\\&" if _ENTITY.match(text, index) else "&")
        elif char == "_":
            # Between letters or digits (snake_case) `_` can never be emphasis.
            before = text[index - 1] if index else " "
            after = text[index + 1] if index + 1 < len(text) else " "
            out.append("_" if before.isalnum() and after.isalnum() else "\\_")
        else:
            out.append(char)
    escaped = "".join(out)
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


_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


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
    out: list[str] = []
    removed: list[int] = []
    index = 0
    while index < len(line):
        if line[index] == "\\" and index + 1 < len(line) and line[index + 1] in _PUNCTUATION:
            removed.append(len(out) + 1)
            index += 1
        out.append(line[index])
        index += 1
    return "".join(out), removed


def _without_markers(review: str) -> str:
    return review.replace(REVIEW_START, "").replace(REVIEW_END, "").strip()


def render_draft(
    context: dict[str, Any],
    *,
    template: str = "postmortem",
    fmt: str = "md",
    templates_dir: str | os.PathLike[str] | None = None,
) -> Rendered:
    """Render `context` (from `bot.postmortem.build_context`) with the blameless review."""
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

"""Postmortem drafts from Jinja2 templates, in GitHub-flavoured Markdown and in HTML.

Templates are `<name>.md.j2` files in the project's `templates/` folder and in
the folder named by `POSTMORTEM_TEMPLATES_DIR`, whose files win over built-in
ones of the same name. Every piece of user text goes through the `md` filter
(`bot.postmortems.markdown_text`), which escapes what Markdown would otherwise
act on. HTML is the same Markdown converted by `bot.postmortems.markdown_html`,
inside `templates/page.html.j2`.

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
from markupsafe import Markup

from bot import resources
from bot.errors import UsageError
from bot.postmortems import blameless
from bot.postmortems.markdown_html import MARKDOWN
from bot.postmortems.markdown_text import ESCAPED_PUNCTUATION, md, md_block, md_link, plural

BUILTIN_TEMPLATES = resources.templates()
SUFFIX = ".md.j2"
PAGE_TEMPLATE = "page.html.j2"
FORMATS = ("md", "html")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

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
        found.start() - count + 1 for count, found in enumerate(ESCAPED_PUNCTUATION.finditer(line))
    ]
    return ESCAPED_PUNCTUATION.sub(r"\1", line), removed


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
            "body": Markup(MARKDOWN.render(body).strip()),
            "review": Markup(MARKDOWN.render(_without_markers(review)).strip()) if review else "",
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

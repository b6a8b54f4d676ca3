"""User text written into Markdown: the filters the postmortem templates use.

A note or a title is shown exactly as typed only if what Markdown would act on
in it (`*`, `|`, `<b>`, `# ` at a line's start) is escaped; `md` and `md_block`
do that, `md_link` writes only http(s) links and `plural` counts. They need
nothing from Jinja2 or markdown-it, so they live apart from both;
`ESCAPED_PUNCTUATION` is the escape they write, for the code that reads a draft back.
"""

from __future__ import annotations

import re
from urllib.parse import quote

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


# A Markdown backslash escape: `\` before ASCII punctuation (`\` before anything else is text).
ESCAPED_PUNCTUATION = re.compile(r"\\([!-/:-@\[-`{-~])")

"""Blameless review: flag blaming and hindsight language in postmortems, suggest rewrites.

The phrases are data: one rules file per language in `bot/postmortems/blameless_rules/` (`en.toml`,
or `<language>.json`), read by `bot.postmortems.rulesets`. Markdown is read just enough to
skip code, URLs and the review section this module writes itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.errors import ConfigError, UsageError
from bot.postmortems.rulesets import RULE_SUFFIXES, Rule, RuleSet, load_rules, rules_root

START_MARKER = "<!-- blameless-review:start -->"
END_MARKER = "<!-- blameless-review:end -->"

_MASK = "\x1a"  # stands in for hidden text: neither a word character nor a space
_FENCE = re.compile(r"^\s*(?:>\s?)*\s*(`{3,}|~{3,})(.*)$")
_QUOTE = re.compile(r"^\s*(?:>\s?)*\s*")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_PSEUDO_HEADING = re.compile(r"^(?:(\*\*|__)([^*_]+?)\1\s*:?|([A-Za-z][\w ()/-]{0,60}):)\s*$")
_PSEUDO_LEVEL = 7  # below every `#` heading: a bold "Action items:" line ends at any heading
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,9}[.)])\s+(?:\[[ xX]\]\s+)?")
_TABLE_DELIMITER = re.compile(r"^\|?(?:\s*:?-+:?\s*\|)+\s*:?-*:?\s*$")
_HIDDEN = (
    re.compile(r"<!--.*?(?:-->|$)"),  # HTML comments on one line
    re.compile(r"\]\([^)\s]*(?:\s+\"[^\"]*\")?\)"),  # Markdown link targets
    re.compile(r"\b(?:https?|ftp)://[^\s<>|]+|\bwww\.[^\s<>|]+", re.IGNORECASE),  # URLs
)
_CODE_RUN = re.compile(r"`+")
_CELL_BAR = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True)
class Finding:
    """One phrase that reads as blame or hindsight, with a blameless alternative."""

    line: int
    column: int
    phrase: str
    rule: str
    why: str
    suggestion: str


@dataclass(frozen=True)
class _Segment:
    """A stretch of one line to match in: a line, a list item's text, or a table cell."""

    line: int
    offset: int
    text: str
    masked: str
    action_item: bool


# Public API


def lint(text: str, *, language: str = "en", rules_dir: str | Path | None = None) -> list[Finding]:
    """Every blaming or hindsight phrase in `text`, sorted by line and column."""
    ruleset = _ruleset(language, None if rules_dir is None else str(Path(rules_dir).resolve()))
    shortcut = ruleset.shortcut
    findings = [
        finding
        for segment in _segments(text, ruleset.action_headings, shortcut)
        if shortcut is None or shortcut.search(segment.masked.casefold())
        for finding in _segment_findings(segment, ruleset)
    ]
    return sorted(findings, key=lambda f: (f.line, f.column, f.rule, f.phrase))


def available_languages(rules_dir: str | Path | None = None) -> list[str]:
    """The languages that have a rules file, sorted."""
    root = rules_root(rules_dir)
    if not root.is_dir():
        return []
    return sorted(
        {
            entry.name.rsplit(".", 1)[0]
            for entry in root.iterdir()
            if entry.is_file() and entry.name.endswith(RULE_SUFFIXES)
        }
    )


def format_findings(findings: Iterable[Finding]) -> str:
    """One line per finding: `L12:5 "human error" — why — try: suggestion`."""
    return "\n".join(
        f'L{f.line}:{f.column} "{f.phrase}" — {f.why} — try: {f.suggestion}' for f in findings
    )


def review_section(findings: Sequence[Finding]) -> str:
    """A Markdown section listing the findings, between markers `strip_review` removes."""
    lines = [START_MARKER, "## Blameless review", ""]
    if not findings:
        lines.append("The blameless review found nothing to flag.")
    else:
        count = f"{len(findings)} phrase{'s' if len(findings) != 1 else ''}"
        lines += [f"The blameless review flagged {count}. Each is a prompt, not a verdict.", ""]
        lines += [_review_item(finding) for finding in findings]
    lines.append(END_MARKER)
    return "\n".join(lines) + "\n"


def strip_review(markdown: str) -> str:
    """The Markdown without any review section, nor the blank lines that set it apart."""
    lines = markdown.split("\n")
    hidden = _review_lines(lines)
    kept: list[str] = []
    at_top = False
    for index, line in enumerate(lines):
        if index in hidden:
            while kept and not kept[-1].strip():
                kept.pop()  # the blank lines before the section belonged to it
            at_top = not kept
        elif not (at_top and not line.strip()):
            at_top = False
            kept.append(line)
    return "\n".join(kept)


# Rules files


@cache
def _ruleset(language: str, rules_dir: str | None) -> RuleSet:
    """The compiled rules of one language, read once per folder."""
    languages = available_languages(rules_dir)
    if language not in languages:
        shown = ", ".join(languages) or "none"
        raise UsageError(
            f"No blameless review rules for language {language!r}; available: {shown}."
        )
    root = rules_root(rules_dir)
    files = [root / f"{language}{suffix}" for suffix in RULE_SUFFIXES]
    present = [entry for entry in files if entry.is_file()]
    if len(present) > 1:
        raise ConfigError(f"Two rules files for language {language!r}: keep one of them.")
    return load_rules(present[0])


# Reading Markdown


def _segments(
    text: str, action_headings: re.Pattern[str], shortcut: re.Pattern[str] | None = None
) -> Iterator[_Segment]:
    """The stretches of text worth linting, outside code blocks and the review section.

    With `shortcut` (every rule's keywords), a line in which it finds nothing yields no
    segment: its segments are parts of it, with some text masked, so none of them could
    hold a keyword either. Its heading still counts, for the action items below it.
    """
    if shortcut is not None and _MASK in shortcut.pattern:
        shortcut = None  # a keyword holding the mask character could appear once masked
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    hidden = _review_lines(lines)
    fence: str | None = None
    action_level: int | None = None
    for index, line in enumerate(lines):
        if index in hidden:
            continue
        fence_match = _FENCE.match(line)
        if fence is not None:
            if fence_match and _closes(fence, fence_match):
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            continue
        no_keyword = shortcut is not None and not shortcut.search(line.casefold())
        if no_keyword and line[_quote_end(line) :].startswith("|"):
            # A table row, which is no heading (masking starts at no space, `>` or `|`,
            # so the masked line starts the same): nothing more to read in it.
            continue
        masked = _mask(line)
        heading = _heading(masked)
        if heading is not None:
            level, title = heading
            if action_level is not None and level <= action_level:
                action_level = None
            if action_headings.search(title):
                action_level = level
        if not no_keyword:
            yield from _split(index + 1, line, masked, in_action_items=action_level is not None)


def _review_lines(lines: Sequence[str]) -> set[int]:
    """The indexes of lines inside a complete review section, markers included."""
    hidden: set[int] = set()
    start: int | None = None
    for index, line in enumerate(lines):
        if line.strip() == START_MARKER and start is None:
            start = index
        elif line.strip() == END_MARKER and start is not None:
            hidden.update(range(start, index + 1))
            start = None
    return hidden


def _closes(fence: str, match: re.Match[str]) -> bool:
    """Whether a fence line ends the code block `fence` opened."""
    return (
        match.group(1)[0] == fence[0]
        and len(match.group(1)) >= len(fence)
        and not (match.group(2).strip())
    )


def _mask(line: str) -> str:
    """The line with code spans, URLs, link targets and comments blanked out, same length."""
    spans = list(_code_spans(line)) if "`" in line else []
    spans += [match.span() for pattern in _HIDDEN for match in pattern.finditer(line)]
    if not spans:
        return line
    chars = list(line)
    for start, end in spans:
        chars[start:end] = _MASK * (end - start)
    return "".join(chars)


def _code_spans(line: str) -> Iterator[tuple[int, int]]:
    """Inline code spans: a backtick run up to the next run of the same length."""
    runs = [match.span() for match in _CODE_RUN.finditer(line)]
    index = 0
    while index < len(runs):
        start, end = runs[index]
        width = end - start
        closing = next(
            (j for j in range(index + 1, len(runs)) if runs[j][1] - runs[j][0] == width), None
        )
        if closing is None:
            index += 1
            continue
        yield start, runs[closing][1]
        index = closing + 1


def _heading(masked: str) -> tuple[int, str] | None:
    """The level and title of a heading line (`#`, or a bold or colon-ended label)."""
    body = masked[_quote_end(masked) :]
    atx = _HEADING.match(body)
    if atx:
        return len(atx.group(1)), atx.group(2)
    pseudo = _PSEUDO_HEADING.match(body)
    if pseudo:
        return _PSEUDO_LEVEL, pseudo.group(2) or pseudo.group(3)
    return None


def _quote_end(text: str) -> int:
    """Where a line's text starts, after indentation and blockquote markers."""
    match = _QUOTE.match(text)
    return match.end() if match else 0


def _split(number: int, line: str, masked: str, *, in_action_items: bool) -> Iterator[_Segment]:
    """The segments of one line: its table cells, its list item text, or the line."""
    start = _quote_end(masked)
    body = masked[start:]
    if body.startswith("|"):
        if not _TABLE_DELIMITER.match(body.strip()):
            yield from _cells(number, line, masked, start, action_item=in_action_items)
        return
    item = _LIST_ITEM.match(body)
    if item:
        yield _segment(number, line, masked, start + item.end(), len(line), in_action_items)
        return
    heading = re.match(r"#{1,6}\s+", body)
    yield _segment(number, line, masked, start + (heading.end() if heading else 0), len(line))


def _cells(
    number: int, line: str, masked: str, start: int, *, action_item: bool
) -> Iterator[_Segment]:
    """One segment per cell of a table row."""
    # `start` holds the row's first `|`; then every `|` not escaped by a backslash.
    bounds = [start, *(match.start() for match in _CELL_BAR.finditer(masked, start + 1))]
    for left, right in zip(bounds, [*bounds[1:], len(masked)], strict=True):
        if masked[left + 1 : right].strip():
            yield _segment(number, line, masked, left + 1, right, action_item)


def _segment(
    number: int, line: str, masked: str, start: int, end: int, action_item: bool = False
) -> _Segment:
    """A segment of `line` from `start` to `end`, leading blanks skipped."""
    while start < end and masked[start].isspace():
        start += 1
    return _Segment(number, start, line[start:end], masked[start:end], action_item)


# Matching


def _segment_findings(segment: _Segment, ruleset: RuleSet) -> Iterator[Finding]:
    """The findings in one segment: where matches overlap, the earliest and longest wins."""
    folded = segment.masked.casefold()
    present = frozenset(word for word in ruleset.keywords if word in folded)
    ascii_text = segment.masked.isascii()
    candidates = sorted(
        (start, -(end - start), order, end)
        for order, rule in enumerate(ruleset.rules)
        if _may_match(rule, segment.masked, present, ascii_text)
        for start, end in _rule_hits(rule, segment, ruleset.not_people)
    )
    taken_until = 0
    for start, _, order, end in candidates:
        if start < taken_until:
            continue
        taken_until = end
        rule = ruleset.rules[order]
        yield Finding(
            line=segment.line,
            column=segment.offset + start + 1,
            phrase=segment.text[start:end],
            rule=rule.id,
            why=rule.why,
            suggestion=rule.suggestion,
        )


def _may_match(rule: Rule, masked: str, present: frozenset[str], ascii_text: bool) -> bool:
    """Whether the segment holds one of the rule's keywords, which every match contains.

    The shortcut asks this for all rules at once; a segment that passes it is worth
    matching only for the rules whose own keywords it holds (`present`, casefolded), or,
    beyond ASCII, holds as the patterns would match them (case-insensitively). Rules
    files promise that every match holds a keyword of its rule
    (tests/postmortems/test_postmortem.py checks the built-in rules); a rule without
    keywords is always matched.
    """
    if rule.keyword_search is None or not present.isdisjoint(rule.keywords):
        return True
    if ascii_text and rule.ascii_keywords:
        return False  # in ASCII, matching case-insensitively is comparing casefolded
    return rule.keyword_search.search(masked) is not None


def _rule_hits(
    rule: Rule, segment: _Segment, not_people: frozenset[str]
) -> Iterator[tuple[int, int]]:
    """The spans one rule flags in a segment."""
    for pattern in rule.patterns:
        for match in pattern.finditer(segment.masked):
            start, end = _hit(match)
            if start == end or _names_no_person(match, not_people):
                continue
            if rule.action_items_only and not segment.action_item and start != 0:
                continue
            if _excepted(rule, segment.masked, start, end):
                continue
            yield start, end


def _hit(match: re.Match[str]) -> tuple[int, int]:
    """The span to report: the `hit` group when the pattern has one, else the match."""
    if "hit" in match.re.groupindex and match.group("hit") is not None:
        return match.span("hit")
    return match.span()


def _names_no_person(match: re.Match[str], not_people: frozenset[str]) -> bool:
    """Whether the match's `subject` is a word that names a system, not a person."""
    if "subject" not in match.re.groupindex or match.group("subject") is None:
        return False
    return match.group("subject").lstrip("@").casefold() in not_people


def _excepted(rule: Rule, masked: str, start: int, end: int) -> bool:
    """Whether one of the rule's exceptions covers the span."""
    return any(
        found.start() <= start and end <= found.end()
        for exception in rule.exceptions
        for found in exception.finditer(masked)
    )


# Writing the review


def _review_item(finding: Finding) -> str:
    """One list item of the review section."""
    return (
        f"- Line {finding.line}, column {finding.column}: {_code(finding.phrase)} "
        f"({finding.rule}). {finding.why} Try: {finding.suggestion}"
    )


def _code(text: str) -> str:
    """Text as a Markdown code span, whatever backticks it holds."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"

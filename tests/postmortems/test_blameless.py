"""The blameless review linter: true positives per rule, no noise on a blameless draft."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.errors import ConfigError, UsageError
from bot.postmortems.blameless import (
    END_MARKER,
    START_MARKER,
    Finding,
    available_languages,
    format_findings,
    lint,
    review_section,
    strip_review,
)

BLAMELESS_POSTMORTEM = """\
# Postmortem: checkout errors after release 4.12

**Status:** final · **Severity:** SEV2 · **Incident commander:** @dana

## Summary

On 25 November between 14:02 and 14:41 UTC about 8% of checkout requests failed with
HTTP 500. Release 4.12 raised the connection pool size, the primary database ran out of
connections, and Postgres failed over to the replica. Checkout recovered after the
rollback. No data was lost. This could have been much worse had the failover not worked.

This review is blameless: it describes what people saw and did and why it made sense at
the time. The team agreed not to blame individuals; we change the system, not the people.

## Timeline (UTC)

- 14:00 Release 4.12 started rolling out through the deploy pipeline.
- 14:02 The deploy failed health checks on two hosts and was rolled back there.
- 14:04 Deploy failed health checks on a third host; the other hosts kept serving.
- 14:05 The alert fired at 14:05 and @alice acknowledged it.
- 14:09 @alice paged @bob, who owns the checkout service.
- 14:12 Postgres failed over to the replica.
- 14:15 The API broke for clients that cached the address of the old primary.
- 14:18 Kafka missed two heartbeats while the network was saturated.
- 14:20 @bob rolled back release 4.12 on every host.
- 14:31 The migration deleted rows from the staging copy only, as designed.
- 14:41 Error rates returned to normal and <@U024BE7LH> resolved the incident.

## What happened

The new pool size was reviewed and tested in staging, where traffic is a tenth of
production, so nothing in staging reached the connection limit of the primary. We did
not have an alert on queue depth, so the backlog of checkout jobs was not visible until
the error rate alert fired. Retries failed to drain the queue once the primary recovered.

When the alert fired, the dashboard showed normal database latency and the runbook
pointed at the load balancer first. Following the runbook was the reasonable choice with
what was on screen. The `max_connections` setting, for example `git blame` shows it, lives
in another repository than the pool size. Graphs: https://grafana.example.com/d/checkout

## Contributing factors

- Staging does not reproduce the production connection count.
- The runbook for checkout errors does not mention the database connection limit.
- The deploy pipeline checks health per host, not connections on the primary.
- Every service should have an alert on queue depth; checkout had none.

## What went well

- Paging worked: @alice acknowledged within a minute and @bob joined the call.
- The rollback took four minutes from decision to completion.

## Action items

| Action | Owner | Due |
|---|---|---|
| Add an alert on queue depth | @carol | 2026-12-05 |
| Load test pool size changes against a production-sized database | @bob | 2026-12-12 |

- [ ] Add a check to the deploy pipeline that compares pool size with `max_connections`.
- [ ] Add a step to the checkout runbook that checks the database connection count.
- [ ] Make the config schema reject a pool size larger than the database limit.
- [ ] Add a CI step to double-check the rendered config against the schema.
- [ ] Clearly label the primary and replica panels on the database dashboard.
"""


def test_a_blameless_postmortem_has_no_findings():
    assert len(BLAMELESS_POSTMORTEM.splitlines()) >= 40
    assert lint(BLAMELESS_POSTMORTEM) == []


@pytest.mark.parametrize(
    ("text", "line", "column", "phrase", "rule"),
    [
        ("The root cause was human error.", 1, 20, "human error", "human-error"),
        ("# Review\n\nIt was operator error.", 3, 8, "operator error", "human-error"),
        ("Bob caused the outage by restarting the primary.", 1, 1, "Bob caused", "person-caused"),
        ("The outage was caused by @alice.", 1, 16, "caused by @alice", "person-caused"),
        ("It was Carol's mistake.", 1, 8, "Carol's mistake", "person-caused"),
        (
            "14:03 <@U024BE7LH> deleted the index.",
            1,
            7,
            "<@U024BE7LH> deleted",
            "person-as-subject",
        ),
        ("- 14:05 Dave missed the page.", 1, 9, "Dave missed", "person-as-subject"),
        ("Then @erin.lee broke the build.", 1, 6, "@erin.lee broke", "person-as-subject"),
        ("Frank failed to follow the runbook.", 1, 1, "Frank failed", "person-as-subject"),
        ("Grace forgot the flag.", 1, 1, "Grace forgot", "person-as-subject"),
        ("Heidi ignored the warning.", 1, 1, "Heidi ignored", "person-as-subject"),
        ("In hindsight we should have rolled back.", 1, 17, "should have", "should-have"),
        ("We shouldn't have deployed on Friday.", 1, 4, "shouldn't have", "should-have"),
        ("The reviewer could've spotted the typo.", 1, 14, "could've", "could-have"),
        ("We could have noticed it earlier.", 1, 4, "could have", "could-have"),
        ("The on-call engineer failed to escalate.", 1, 22, "failed to", "failed-to"),
        ("We failed to notice the disk filling up.", 1, 4, "failed to", "failed-to"),
        ("Someone forgot to renew the certificate.", 1, 9, "forgot to", "forgot-to"),
        ("It was a careless change.", 1, 10, "careless", "careless"),
        ("The review was negligent.", 1, 16, "negligent", "negligent"),
        ("An engineer fat-fingered the replica count.", 1, 13, "fat-fingered", "fat-finger"),
        ("A fat finger set the limit to 0.", 1, 3, "fat finger", "fat-finger"),
        ("The on-call ignored the disk alerts.", 1, 13, "ignored the disk alerts", "ignored-alert"),
        ("The page was ignored for an hour.", 1, 5, "page was ignored", "ignored-alert"),
        ("Obviously the disk was full.", 1, 1, "Obviously", "hindsight-obvious"),
        ("The logs clearly showed the pool was full.", 1, 10, "clearly", "hindsight-obvious"),
        ("The team at fault has been told.", 1, 10, "at fault", "at-fault"),
        ("It was nobody's fault but their fault.", 1, 27, "their fault", "at-fault"),
        ("We blame the release process.", 1, 4, "blame", "blame"),
        (
            "## Action items\n\n- Be more careful with production deploys",
            3,
            3,
            "Be more careful",
            "be-more-careful",
        ),
        (
            "## Follow-ups\n\n| Action | Owner |\n|---|---|\n"
            "| Engineers should pay more attention | @bob |",
            5,
            20,
            "pay more attention",
            "be-more-careful",
        ),
        (
            "### Action Items\n\n1. [ ] @bob to double-check configs",
            3,
            16,
            "double-check",
            "be-more-careful",
        ),
        (
            "## Action items\n\n- Everyone to take more care with configs",
            3,
            15,
            "take more care",
            "be-more-careful",
        ),
        ("Double-check the config before deploying.", 1, 1, "Double-check", "be-more-careful"),
    ],
)
def test_each_rule_flags_its_phrase(text: str, line: int, column: int, phrase: str, rule: str):
    findings = lint(text)
    assert [(f.line, f.column, f.phrase, f.rule) for f in findings] == [
        (line, column, phrase, rule)
    ]
    assert findings[0].why.endswith(".")
    assert findings[0].suggestion


@pytest.mark.parametrize(
    "text",
    [
        "The deploy failed.",
        "The API broke.",
        "Postgres failed over.",
        "The migration deleted rows.",
        "Deploy failed health checks.",
        "The Postgres primary failed at 14:02.",
        "@alice failed over the database by hand.",
        "Monday's deploy caused the errors.",
        "The error rate alert fired and Grafana missed two scrapes.",
        "The health check failed to detect the full pool.",
        "Every service should have a runbook.",
        "Engineers should be more careful.",  # not an action item
        "## Lessons\n\n- Engineers should double-check configs",
        "This could have been worse.",
        "The review assigns no blame.",
        "Email alice@example.com deleted nothing.",
    ],
)
def test_conservative_about_systems_and_context(text: str):
    assert lint(text) == []


def test_action_items_end_at_the_next_heading():
    text = "## Action items\n\n- Add an alert\n\n## Lessons\n\n- Everyone should double-check"
    assert lint(text) == []
    assert lint(text.replace("## Lessons", "### Short term"))[0].phrase == "double-check"


def test_overlapping_rules_give_one_finding():
    findings = lint("Ivan forgot to restart the worker.")
    assert [(f.rule, f.phrase) for f in findings] == [("person-as-subject", "Ivan forgot")]


def test_findings_are_sorted_and_deterministic():
    text = "Clearly human error.\nWe should have known; careless."
    findings = lint(text)
    assert [(f.line, f.column) for f in findings] == [(1, 1), (1, 9), (2, 4), (2, 23)]
    assert lint(text) == findings


def test_code_blocks_inline_code_and_urls_are_ignored():
    text = "\n".join(
        [
            "```",
            "# human error: Bob broke it",
            "```",
            "~~~~ text",
            "We should have known.",
            "```",
            "~~~~",
            "Run `Bob broke` or ``human error``, see https://example.com/human-error",
            "and [the notes](notes/should-have-known.md). <!-- careless -->",
            "Then Bob broke it.",
        ]
    )
    findings = lint(text)
    assert [(f.line, f.column, f.phrase) for f in findings] == [(10, 6, "Bob broke")]


def test_format_findings_gives_one_line_each():
    findings = lint("Intro.\n\nThe root cause was human error. Obviously.")
    lines = format_findings(findings).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith('L3:20 "human error" — "Human error" names a person')
    assert " — try: " in lines[0]
    assert format_findings([]) == ""


def test_review_section_round_trip():
    draft = "# Postmortem\n\nThe root cause was human error.\n"
    findings = lint(draft)
    section = review_section(findings)
    assert section.splitlines()[0] == START_MARKER
    assert section.splitlines()[-1] == END_MARKER
    assert "human-error" in section
    combined = draft + "\n" + section
    assert lint(combined) == findings  # the section's own quotes are not findings
    assert strip_review(combined) == draft
    middle = draft + "\n" + section + "\n## Timeline\n"
    assert strip_review(middle) == draft + "\n## Timeline\n"
    assert strip_review(section + "\n" + draft) == draft


def test_review_section_without_findings_says_so():
    section = review_section([])
    assert "found nothing" in section
    assert strip_review("Draft.\n\n" + section) == "Draft.\n"


def test_an_unterminated_marker_is_not_a_section():
    text = f"{START_MARKER}\nThe root cause was human error.\n"
    assert strip_review(text) == text
    assert [f.rule for f in lint(text)] == ["human-error"]


def _german_rules(folder: Path) -> Path:
    rules = {
        "not_people": ["Der"],
        "rules": [
            {
                "id": "menschliches-versagen",
                "patterns": [r"\bmenschliches\s+versagen\b"],
                "why": "Es nennt einen Menschen als Ursache.",
                "suggestion": "Beschreibe, was das System zugelassen hat.",
            }
        ],
    }
    (folder / "de.json").write_text(json.dumps(rules), encoding="utf-8")
    return folder


def test_a_second_language_is_a_file(tmp_path: Path):
    rules_dir = _german_rules(tmp_path)
    assert available_languages(rules_dir) == ["de"]
    findings = lint("Ursache: Menschliches Versagen.", language="de", rules_dir=rules_dir)
    assert findings == [
        Finding(
            line=1,
            column=10,
            phrase="Menschliches Versagen",
            rule="menschliches-versagen",
            why="Es nennt einen Menschen als Ursache.",
            suggestion="Beschreibe, was das System zugelassen hat.",
        )
    ]
    with pytest.raises(UsageError, match=r"'en'; available: de\."):
        lint("text", language="en", rules_dir=rules_dir)


def test_unknown_language_names_the_available_ones():
    assert "en" in available_languages()
    with pytest.raises(UsageError, match=r"language 'xx'; available: .*\ben\b"):
        lint("text", language="xx")


def test_a_broken_rules_file_is_a_config_error(tmp_path: Path):
    rule = {"id": "x", "patterns": ["(unclosed"], "why": "w.", "suggestion": "s"}
    (tmp_path / "xx.json").write_text(json.dumps({"rules": [rule]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"xx.json, rule 'x': bad pattern"):
        lint("text", language="xx", rules_dir=tmp_path)


def test_cli_lint_reports_findings_and_exits_1(tmp_path: Path):
    draft = tmp_path / "postmortem.md"
    draft.write_text("# Review\n\nThe root cause was human error.\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["postmortem", "lint", str(draft)])
    assert result.exit_code == 1
    assert result.stdout.startswith('L3:20 "human error" — ')


def test_cli_lint_exits_0_on_a_clean_draft(tmp_path: Path):
    draft = tmp_path / "postmortem.md"
    draft.write_text(BLAMELESS_POSTMORTEM, encoding="utf-8")
    result = CliRunner().invoke(main, ["postmortem", "lint", str(draft), "--language", "en"])
    assert result.exit_code == 0
    assert "No blaming or hindsight language found." in result.stdout


def test_cli_lint_reads_undecodable_bytes(tmp_path: Path):
    draft = tmp_path / "postmortem.md"
    draft.write_bytes(b"Caf\xe9 notes: human error.\n")
    result = CliRunner().invoke(main, ["postmortem", "lint", str(draft)])
    assert result.exit_code == 1
    assert '"human error"' in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.md"], "error: cannot read missing.md: No such file or directory"),
        (["draft.md", "--language", "xx"], "error: No blameless review rules for language 'xx'"),
    ],
)
def test_cli_lint_errors_exit_2_with_one_line(tmp_path: Path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "draft.md").write_text("Clean.\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["postmortem", "lint", *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output

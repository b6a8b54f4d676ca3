"""Runbook files: read with `ast` and never run, every problem with its line, arguments."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import Settings, load_settings
from bot.errors import UsageError
from bot.runbooks import sdk
from bot.runbooks.discovery import discover, read_source
from bot.runbooks.params import parse_arguments, redacted
from bot.runbooks.redaction import MASK
from bot.runbooks.spec import (
    ApprovalSpec,
    ParamSpec,
    Problem,
    RetrySpec,
    RunbookSpec,
    StepSpec,
    TriggerSpec,
    parse_duration,
)
from tests.support.paths import repo_root

DEFAULTS = Settings()

GOOD = '''
from bot.runbooks.sdk import Approval, Param, Retry, on_declare, on_failure, runbook, step


@runbook(
    name="restart-api",
    summary="Rolling restart of an API deployment",
    params={
        "service": Param(str, choices=["api", "worker"], help="Which deployment"),
        "replicas": Param(int, default=3, min=1, max=20),
        "ratio": Param(float, default=0.5),
        "dry_run": Param(bool, default=False),
        "token": Param(str, secret=True, required=False),
    },
    triggers=[
        on_declare(severity=["SEV1", "sev2"], service="api", mode="start"),
        on_declare(),
    ],
    allowed=["role:commander", "role:operations"],
    timeout="20m",
)
class RestartApi:
    """Restarts the pods one by one."""

    @step(timeout="30s")
    def check_health(self, ctx):
        """Is the service healthy enough to restart?"""

    @step(approval=Approval(roles=["commander"], not_requester=True, ttl="10m"), idempotent=True)
    def restart(self, ctx): ...

    @step(retry=Retry(attempts=5, delay="10s", backoff=2.0))
    def wait_ready(self, ctx): ...

    @step(manual=True, prompt="Confirm the error rate is back to baseline")
    def verify(self, ctx): ...

    @step(when="params.replicas > 1")
    def scale(self, ctx): ...

    @step
    def report(self, ctx): ...

    def helper(self):
        return "not a step"

    @on_failure
    def rollback(self, ctx, failed_step, error): ...
'''

OTHER = """
from bot.runbooks import sdk


@sdk.runbook(name="flush-cache", summary="Flush the CDN cache", allowed="anyone")
class FlushCache:
    @sdk.step
    def flush(self, ctx): ...
"""


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def good_spec(tmp_path: Path) -> RunbookSpec:
    return discover([tmp_path]).runbooks["restart-api"]


# -- a good runbook -------------------------------------------------------------------


def test_a_good_runbook_is_read_completely(tmp_path: Path):
    path = write(tmp_path, "restart.py", GOOD)
    catalog = discover([tmp_path])

    assert catalog.problems == []
    assert list(catalog.runbooks) == ["restart-api"]
    assert catalog.runbooks["restart-api"] == RunbookSpec(
        name="restart-api",
        summary="Rolling restart of an API deployment",
        path=path,
        line=line_of(path, "class RestartApi"),
        class_name="RestartApi",
        params=(
            ParamSpec("service", "str", choices=("api", "worker"), help="Which deployment"),
            ParamSpec("replicas", "int", default=3, required=False, min=1, max=20),
            ParamSpec("ratio", "float", default=0.5, required=False),
            ParamSpec("dry_run", "bool", default=False, required=False),
            ParamSpec("token", "str", required=False, secret=True),
        ),
        triggers=(
            TriggerSpec(severities=("SEV1", "SEV2"), services=("api",), mode="start"),
            TriggerSpec(severities=(), services=(), mode="offer"),
        ),
        allowed=("role:commander", "role:operations"),
        timeout_seconds=1200.0,
        steps=(
            StepSpec(
                "check_health",
                line_of(path, "def check_health"),
                timeout_seconds=30.0,
                description="Is the service healthy enough to restart?",
            ),
            StepSpec(
                "restart",
                line_of(path, "def restart"),
                approval=ApprovalSpec(roles=("commander",), not_requester=True, ttl_seconds=600),
                idempotent=True,
            ),
            StepSpec(
                "wait_ready",
                line_of(path, "def wait_ready"),
                retry=RetrySpec(attempts=5, delay_seconds=10.0, backoff=2.0),
            ),
            StepSpec(
                "verify",
                line_of(path, "def verify"),
                manual=True,
                prompt="Confirm the error rate is back to baseline",
            ),
            StepSpec("scale", line_of(path, "def scale"), when="params.replicas > 1"),
            StepSpec("report", line_of(path, "def report")),
        ),
        on_failure="rollback",
        description="Restarts the pods one by one.",
    )


def test_defaults_and_sdk_module_attribute_form(tmp_path: Path):
    write(tmp_path, "flush.py", OTHER)
    spec = discover([tmp_path]).runbooks["flush-cache"]
    assert spec.params == ()
    assert spec.triggers == ()
    assert spec.allowed == ("anyone",)
    assert spec.timeout_seconds == 3600.0
    assert spec.on_failure is None
    assert [step.name for step in spec.steps] == ["flush"]


def test_sdk_names_imported_under_another_name_are_recognised(tmp_path: Path):
    write(
        tmp_path,
        "alias.py",
        """
        from bot.runbooks.sdk import Param as P, runbook as rb, step as st

        @rb(name="aliased", summary="s", params={"n": P(int, default=1)})
        class Aliased:
            @st
            def one(self, ctx): ...
        """,
    )
    catalog = discover([tmp_path])
    assert catalog.problems == []
    assert catalog.runbooks["aliased"].params == (ParamSpec("n", "int", default=1, required=False),)


def test_discovery_runs_no_module_code(tmp_path: Path):
    marker = tmp_path / "marker"
    write(
        tmp_path / "books",
        "evil.py",
        f"""
        from pathlib import Path
        from bot.runbooks.sdk import runbook, step

        Path({str(marker)!r}).write_text("module code ran")

        @runbook(name="evil", summary="Would run code on import")
        class Evil:
            Path({str(marker)!r}).write_text("class body ran")

            @step
            def one(self, ctx):
                Path({str(marker)!r}).write_text("a step ran")

        raise SystemExit("imported")
        """,
    )
    catalog = discover([tmp_path / "books"])
    assert catalog.problems == []
    assert list(catalog.runbooks) == ["evil"]
    assert not marker.exists()
    assert "evil" not in sys.modules


CHECKED = """
import pathlib
from pathlib import Path

from bot.runbooks.sdk import Param, runbook, step


@runbook(
    name="collect",
    summary="Checks on what may be passed on",
    params={
        "unit": Param(
            str, pattern=r"[a-z]+\\.service", listed_in="RUNBOOK_SYSTEMD_UNITS", help="A unit"
        ),
        "logs": Param(Path, inside="RUNBOOK_LOG_DIRS", many=True),
        "one": Param(pathlib.Path, inside="RUNBOOK_LOG_DIRS", required=False),
    },
)
class Collect:
    @step
    def go(self, ctx): ...
"""


def test_the_checks_of_a_parameter_are_read(tmp_path: Path):
    write(tmp_path, "collect.py", CHECKED)
    catalog = discover([tmp_path])
    assert catalog.problems == []
    spec = catalog.runbooks["collect"]
    assert spec.params == (
        ParamSpec(
            "unit",
            "str",
            pattern=r"[a-z]+\.service",
            listed_in="RUNBOOK_SYSTEMD_UNITS",
            help="A unit",
        ),
        ParamSpec("logs", "path", inside="RUNBOOK_LOG_DIRS", many=True),
        ParamSpec("one", "path", required=False, inside="RUNBOOK_LOG_DIRS"),
    )
    assert spec.usage() == (
        "runbook run collect unit=<str, listed in RUNBOOK_SYSTEMD_UNITS> "
        "logs=<paths, comma-separated, in RUNBOOK_LOG_DIRS> [one=<path in RUNBOOK_LOG_DIRS>]"
    )
    assert [param.describe() for param in spec.params] == [
        "unit: str (listed in RUNBOOK_SYSTEMD_UNITS)",
        "logs: path (in RUNBOOK_LOG_DIRS, several, comma-separated)",
        "one: path (optional, in RUNBOOK_LOG_DIRS)",
    ]


def test_every_setting_a_parameter_may_name_exists():
    from bot.config import SETTINGS
    from bot.runbooks.spec import FOLDER_SETTINGS, LIST_SETTINGS

    kinds = {setting.env: type(setting.parse(setting.default)) for setting in SETTINGS.values()}
    assert all(kinds.get(name) is tuple for name in (*FOLDER_SETTINGS, *LIST_SETTINGS))


# -- problems -------------------------------------------------------------------------

# Each source has exactly one problem, on the line marked `# <-`.
PROBLEMS = {
    "syntax error": (
        """
        @runbook(name="x", summary="y")
        class X:
            @step
            def one(self, ctx)  # <-
                ...
        """,
        "syntax error",
    ),
    "no steps": (
        """
        @runbook(name="x", summary="y")
        class X:  # <-
            def helper(self, ctx): ...
        """,
        "has no steps",
    ),
    "missing name": (
        """
        @runbook(summary="y")  # <-
        class X:
            @step
            def one(self, ctx): ...
        """,
        "needs a name",
    ),
    "missing summary": (
        """
        @runbook(name="x")  # <-
        class X:
            @step
            def one(self, ctx): ...
        """,
        "needs a summary",
    ),
    "empty summary": (
        """
        @runbook(name="x", summary="  ")  # <-
        class X:
            @step
            def one(self, ctx): ...
        """,
        "summary must not be empty",
    ),
    "invalid name": (
        """
        @runbook(
            name="Restart API",  # <-
            summary="y",
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "runbook name 'Restart API' is not valid",
    ),
    "non-literal argument": (
        """
        import os
        @runbook(
            name="x",
            summary=os.environ["SUMMARY"],  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "metadata must be written as plain values: `os.environ['SUMMARY']`",
    ),
    "non-literal inside Param": (
        """
        DEFAULT = 3
        @runbook(
            name="x",
            summary="y",
            params={"n": Param(int, default=DEFAULT)},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "metadata must be written as plain values: `DEFAULT`",
    ),
    "unknown runbook argument": (
        """
        @runbook(
            name="x",
            summary="y",
            owner="sre",  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "unknown argument `owner` for @runbook; accepted: name, summary, params, triggers, "
        "allowed, timeout",
    ),
    "unknown step argument": (
        """
        @runbook(name="x", summary="y")
        class X:
            @step(retries=3)  # <-
            def one(self, ctx): ...
        """,
        "unknown argument `retries` for @step of `one`; accepted: timeout, approval, retry",
    ),
    "unknown Param argument": (
        """
        @runbook(
            name="x",
            summary="y",
            params={"n": Param(int, minimum=1)},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "unknown argument `minimum` for Param; accepted: type, default, required",
    ),
    "unknown parameter type": (
        """
        @runbook(
            name="x",
            summary="y",
            params={"n": Param(list)},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "unknown parameter type `list` for `n`: use str, int, float, bool or Path",
    ),
    "default of the wrong type": (
        """
        @runbook(
            name="x",
            summary="y",
            params={"n": Param(int, default="three")},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "parameter `n`: default 'three' is not a whole number",
    ),
    "default not among the choices": (
        """
        @runbook(
            name="x",
            summary="y",
            params={"s": Param(str, choices=["api", "worker"], default="db")},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "default 'db' is not one of the choices (api, worker)",
    ),
    "default below min": (
        """
        @runbook(
            name="x",
            summary="y",
            params={"n": Param(int, default=0, min=1)},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "default 0 is below min 1",
    ),
    "default above max": (
        """
        @runbook(
            name="x",
            summary="y",
            params={"n": Param(float, default=2.5, max=1)},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "default 2.5 is above max 1.0",
    ),
    "invalid runbook timeout": (
        """
        @runbook(
            name="x",
            summary="y",
            timeout="20 minutes",  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "invalid duration for timeout: '20 minutes'",
    ),
    "invalid step timeout": (
        """
        @runbook(name="x", summary="y")
        class X:
            @step(timeout="soon")  # <-
            def one(self, ctx): ...
        """,
        "invalid duration for step `one` timeout: 'soon'",
    ),
    "invalid approval ttl": (
        """
        @runbook(name="x", summary="y")
        class X:
            @step(approval=Approval(roles=["commander"], ttl="-5m"))  # <-
            def one(self, ctx): ...
        """,
        "invalid duration for approval ttl",
    ),
    "invalid trigger mode": (
        """
        @runbook(
            name="x",
            summary="y",
            triggers=[on_declare(severity="SEV1", mode="auto")],  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "invalid trigger mode 'auto': use start or offer",
    ),
    "duplicate step names": (
        """
        @runbook(name="x", summary="y")
        class X:
            @step
            def one(self, ctx): ...

            @step
            def one(self, ctx): ...  # <-
        """,
        "step `one` is defined twice (first at line",
    ),
    "empty approval roles": (
        """
        @runbook(name="x", summary="y")
        class X:
            @step(approval=Approval(roles=[]))  # <-
            def one(self, ctx): ...
        """,
        "approval roles are empty",
    ),
    "on_failure with the wrong arguments": (
        """
        @runbook(name="x", summary="y")
        class X:
            @step
            def one(self, ctx): ...

            @on_failure
            def undo(self, ctx, error): ...  # <-
        """,
        "on_failure method `undo` must take (self, ctx, failed_step, error), not "
        "(self, ctx, error)",
    ),
    "step with the wrong arguments": (
        """
        @runbook(name="x", summary="y")
        class X:
            @step
            def one(self): ...  # <-
        """,
        "step `one` must take (self, ctx), not (self)",
    ),
    "manual step without a prompt": (
        """
        @runbook(name="x", summary="y")
        class X:
            @step(manual=True)  # <-
            def one(self, ctx): ...
        """,
        "manual step `one` needs a prompt",
    ),
    "condition on an unknown parameter": (
        """
        @runbook(name="x", summary="y", params={"n": Param(int)})
        class X:
            @step(when="params.count > 1")  # <-
            def one(self, ctx): ...
        """,
        "uses params.count, which is not a parameter",
    ),
    "condition that calls something": (
        """
        @runbook(name="x", summary="y", params={"n": Param(int)})
        class X:
            @step(when="__import__('os').system('true')")  # <-
            def one(self, ctx): ...
        """,
        "condition of step `one` may only compare params.<name> with values",
    ),
    "a pattern that is not a regular expression": (
        """
        @runbook(
            name="x",
            summary="y",
            params={"unit": Param(str, pattern="[a-z")},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "parameter `unit`: pattern '[a-z' is not a valid regular expression: unterminated "
        "character set at position 0",
    ),
    "a pattern on a number": (
        """
        @runbook(
            name="x",
            summary="y",
            params={"n": Param(int, pattern="[0-9]+")},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "parameter `n`: pattern only applies to str parameters",
    ),
    "a default that does not match the pattern": (
        """
        @runbook(
            name="x",
            summary="y",
            params={"unit": Param(str, default="api", pattern=r"[a-z]+\\.service")},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "parameter `unit`: default 'api' does not match the pattern",
    ),
    "a choice that does not match the pattern": (
        """
        @runbook(
            name="x",
            summary="y",
            params={"unit": Param(str, choices=["a.service", "b"], pattern=r".+\\.service")},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "parameter `unit`: choice 'b' does not match the pattern",
    ),
    "an unknown list setting": (
        """
        @runbook(
            name="x",
            summary="y",
            params={"unit": Param(str, listed_in="RUNBOOK_UNITS")},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "parameter `unit`: listed_in names 'RUNBOOK_UNITS', which is not a list setting: use "
        "RUNBOOK_SYSTEMD_UNITS",
    ),
    "a list setting for a number": (
        """
        @runbook(
            name="x",
            summary="y",
            params={"n": Param(int, listed_in="RUNBOOK_SYSTEMD_UNITS")},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "parameter `n`: listed_in only applies to str parameters",
    ),
    "a path without its folders": (
        """
        from pathlib import Path
        @runbook(
            name="x",
            summary="y",
            params={"log": Param(Path)},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        'parameter `log`: a Path parameter needs inside="<setting>", the setting naming the '
        "folders its files must be in: RUNBOOK_LOG_DIRS",
    ),
    "an unknown folder setting": (
        """
        from pathlib import Path
        @runbook(
            name="x",
            summary="y",
            params={"log": Param(Path, inside="RUNBOOK_DIRS")},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "parameter `log`: inside names 'RUNBOOK_DIRS', which is not a folder setting: use "
        "RUNBOOK_LOG_DIRS",
    ),
    "a path with a default": (
        """
        from pathlib import Path
        @runbook(
            name="x",
            summary="y",
            params={"log": Param(Path, inside="RUNBOOK_LOG_DIRS", default="/var/log/syslog")},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "parameter `log`: default does not apply to a Path parameter",
    ),
    "folders for a string": (
        """
        @runbook(
            name="x",
            summary="y",
            params={"log": Param(str, inside="RUNBOOK_LOG_DIRS")},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "parameter `log`: inside only applies to Path parameters",
    ),
    "a secret path": (
        """
        from pathlib import Path
        @runbook(
            name="x",
            summary="y",
            params={"log": Param(Path, inside="RUNBOOK_LOG_DIRS", secret=True)},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "parameter `log`: a Path parameter cannot be secret (refusals show the path)",
    ),
    "many that is not a flag": (
        """
        from pathlib import Path
        @runbook(
            name="x",
            summary="y",
            params={"logs": Param(Path, inside="RUNBOOK_LOG_DIRS", many="yes")},  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "parameter `logs`: many must be True or False",
    ),
    "invalid allowed entry": (
        """
        @runbook(
            name="x",
            summary="y",
            allowed=["commander"],  # <-
        )
        class X:
            @step
            def one(self, ctx): ...
        """,
        "allowed entry 'commander' is not valid: use role:<name>, declarer or anyone",
    ),
}

HEADER = (
    "from bot.runbooks.sdk import Approval, Param, Retry, on_declare, on_failure, runbook, step\n"
)


@pytest.mark.parametrize(("source", "message"), PROBLEMS.values(), ids=PROBLEMS.keys())
def test_each_problem_is_reported_with_its_line(tmp_path: Path, source: str, message: str):
    path = write(tmp_path, "book.py", HEADER + textwrap.dedent(source))
    catalog = discover([tmp_path])
    assert catalog.runbooks == {}
    assert len(catalog.problems) == 1, catalog.problems
    problem = catalog.problems[0]
    assert (problem.path, problem.line) == (path, line_of(path, "# <-"))
    assert message in problem.message
    assert str(problem) == f"{path}:{problem.line}: {problem.message}"


def test_a_problem_shows_as_path_line_message():
    assert str(Problem(Path("books/x.py"), 7, "bad")) == "books/x.py:7: bad"
    assert str(Problem(Path("books"), 0, "runbook folder does not exist")) == (
        "books: runbook folder does not exist"
    )


def test_several_problems_in_one_runbook_are_all_reported():
    source = HEADER + textwrap.dedent(
        """
        @runbook(name="x", summary="y", timeout="later", params={"n": Param(dict)})
        class X:
            @step(approval=Approval(roles=[]))
            def one(self, ctx): ...
        """
    )
    specs, problems = read_source(source, Path("book.py"))
    assert specs == []
    assert [problem.line for problem in problems] == [3, 3, 5]


def test_an_approval_is_by_someone_other_than_the_requester_unless_it_says_otherwise():
    source = HEADER + textwrap.dedent(
        """
        @runbook(name="x", summary="y")
        class X:
            @step(approval=Approval(roles=["commander"]))
            def guarded(self, ctx): ...

            @step(approval=Approval(roles=["commander"], not_requester=False))
            def alone(self, ctx): ...
        """
    )
    (spec,), problems = read_source(source, Path("book.py"))
    assert problems == []
    approvals = {step.name: step.approval for step in spec.steps}
    assert approvals["guarded"] is not None and approvals["guarded"].not_requester is True
    assert approvals["alone"] is not None and approvals["alone"].not_requester is False
    assert sdk.Approval(roles=["commander"]).not_requester is True


def test_one_broken_file_does_not_stop_the_others(tmp_path: Path):
    write(tmp_path, "a_restart.py", GOOD)
    write(tmp_path, "b_broken.py", "def oops(:\n")
    write(tmp_path, "nested/flush.py", OTHER)
    write(tmp_path, "_helpers.py", "this is not python\n")
    write(tmp_path, "nested/__pycache__/cached.py", "this is not python either\n")
    (tmp_path / "notes.txt").write_text("not a runbook")

    catalog = discover([tmp_path])

    assert sorted(catalog.runbooks) == ["flush-cache", "restart-api"]
    assert [str(problem) for problem in catalog.problems] == [
        f"{tmp_path / 'b_broken.py'}:1: syntax error: invalid syntax"
    ]


def test_a_good_runbook_next_to_a_broken_one_in_the_same_file_loads():
    source = textwrap.dedent(OTHER) + textwrap.dedent(
        """
        @sdk.runbook(name="broken", summary="s")
        class Broken:
            pass
        """
    )
    specs, problems = read_source(source, Path("two.py"))
    assert [spec.name for spec in specs] == ["flush-cache"]
    assert [problem.message for problem in problems] == [
        "runbook `Broken` has no steps: mark its methods with @step"
    ]


def test_duplicate_names_across_files_report_both_places_and_keep_the_first(tmp_path: Path):
    first = write(tmp_path / "one", "restart.py", GOOD)
    second = write(tmp_path / "two", "restart_copy.py", GOOD)
    line = line_of(first, "class RestartApi")

    catalog = discover([tmp_path / "one", tmp_path / "two"])

    assert catalog.runbooks["restart-api"].path == first
    assert sorted(str(problem) for problem in catalog.problems) == sorted(
        [
            f"{first}:{line}: runbook name `restart-api` is used again at {second}:{line}",
            f"{second}:{line}: runbook name `restart-api` is already used at "
            f"{first}:{line}; this one is not loaded",
        ]
    )


def test_a_missing_folder_is_a_problem_and_the_same_folder_twice_is_read_once(tmp_path: Path):
    write(tmp_path, "flush.py", OTHER)
    catalog = discover([tmp_path, tmp_path, tmp_path / "missing"])
    assert list(catalog.runbooks) == ["flush-cache"]
    assert [str(problem) for problem in catalog.problems] == [
        f"{tmp_path / 'missing'}: runbook folder does not exist"
    ]


# -- durations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30.0),
        ("10m", 600.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1h30m15s", 5415.0),
        ("1.5m", 90.0),
        (" 45 ", 45.0),
        ("0", 0.0),
        (90, 90.0),
        (2.5, 2.5),
    ],
)
def test_parse_duration(value: str | int | float, seconds: float):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["", "s", "10x", "30m1h", "1 h", "-5s", "-5", "ten minutes", -1, True, "nan", "inf"]
)
def test_parse_duration_rejects_anything_else(value: str | int | float):
    with pytest.raises(ValueError):
        parse_duration(value)


# -- arguments ------------------------------------------------------------------------


def test_arguments_are_converted_and_defaults_applied(tmp_path: Path):
    write(tmp_path, "restart.py", GOOD)
    spec = good_spec(tmp_path)

    values = parse_arguments(
        spec, ["service=worker", "replicas=5", "dry_run=yes", "ratio=0.25"], DEFAULTS
    )
    assert values == {
        "service": "worker",
        "replicas": 5,
        "ratio": 0.25,
        "dry_run": True,
        "token": None,
    }
    assert parse_arguments(spec, ["service=api"], DEFAULTS) == {
        "service": "api",
        "replicas": 3,
        "ratio": 0.5,
        "dry_run": False,
        "token": None,
    }
    for word, flag in [("true", True), ("1", True), ("No", False), ("0", False), ("false", False)]:
        assert (
            parse_arguments(spec, ["service=api", f"dry_run={word}"], DEFAULTS)["dry_run"] is flag
        )


def test_usage_lists_every_parameter_with_a_hint(tmp_path: Path):
    write(tmp_path, "restart.py", GOOD)
    assert good_spec(tmp_path).usage() == (
        "runbook run restart-api service=api|worker [replicas=<int, 1 to 20, default 3>] "
        "[ratio=<float, default 0.5>] [dry_run=<bool, default false>] [token=<str, secret>]"
    )


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        (["service"], "`service` is not key=value."),
        (["=api"], "`=api` is not key=value."),
        (["service=api", "colour=red"], "`colour` is not a parameter of restart-api. Its "),
        (["service=api", "service=worker"], "`service` is given twice."),
        (["replicas=2"], "Missing service=api|worker."),
        (["service=db"], "service must be one of api, worker, not `db`."),
        (["service="], "service needs a value."),
        (["service=api", "replicas=three"], "replicas must be a whole number, not `three`."),
        (["service=api", "replicas=2.5"], "replicas must be a whole number, not `2.5`."),
        (["service=api", "replicas=0"], "replicas must be at least 1, not `0`."),
        (["service=api", "replicas=21"], "replicas must be at most 20, not `21`."),
        (["service=api", "ratio=half"], "ratio must be a number, not `half`."),
        (["service=api", "dry_run=maybe"], "dry_run must be true or false"),
    ],
)
def test_argument_errors_say_what_was_wrong_and_show_the_usage(
    tmp_path: Path, words: list[str], problem: str
):
    write(tmp_path, "restart.py", GOOD)
    spec = good_spec(tmp_path)
    with pytest.raises(UsageError) as raised:
        parse_arguments(spec, words, DEFAULTS)
    message = str(raised.value)
    assert message.startswith(problem)
    assert message.endswith(f"Usage: `{spec.usage()}`")


def test_a_bad_secret_value_is_not_echoed():
    spec = RunbookSpec(
        name="x",
        summary="s",
        path=Path("x.py"),
        line=1,
        class_name="X",
        params=(ParamSpec("pin", "int", secret=True),),
        triggers=(),
        allowed=("anyone",),
        timeout_seconds=60.0,
        steps=(StepSpec("one", 2),),
    )
    with pytest.raises(UsageError) as raised:
        parse_arguments(spec, ["pin=hunter2"], DEFAULTS)
    assert "hunter2" not in str(raised.value)
    assert parse_arguments(spec, ["pin=1234"], DEFAULTS) == {"pin": 1234}


def test_redacted_hides_secret_values_only(tmp_path: Path):
    write(tmp_path, "restart.py", GOOD)
    spec = good_spec(tmp_path)
    values = parse_arguments(spec, ["service=api", "token=s3cr3t"], DEFAULTS)
    shown = redacted(spec, values)
    assert shown["token"] == MASK == "••••••"
    assert shown["service"] == "api"
    assert values["token"] == "s3cr3t"
    assert redacted(spec, parse_arguments(spec, ["service=api"], DEFAULTS))["token"] is None


def checked_spec(tmp_path: Path) -> RunbookSpec:
    write(tmp_path / "books", "collect.py", CHECKED)
    return discover([tmp_path / "books"]).runbooks["collect"]


def refusal(spec: RunbookSpec, words: list[str], settings: Settings) -> str:
    with pytest.raises(UsageError) as raised:
        parse_arguments(spec, words, settings)
    message = str(raised.value)
    assert message.endswith(f" Usage: `{spec.usage()}`")
    return message.removesuffix(f" Usage: `{spec.usage()}`")


def test_a_value_must_match_the_pattern_and_be_listed_in_the_setting(tmp_path: Path):
    spec = checked_spec(tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    settings = Settings(runbook_systemd_units=("api.service", "db-*"), runbook_log_dirs=(logs,))
    log = f"logs={logs}/a.log"
    assert parse_arguments(spec, ["unit=api.service", log], settings)["unit"] == "api.service"
    assert refusal(spec, ["unit=--now", log], settings) == (
        "unit must match `[a-z]+\\.service`, not `--now` (A unit)."
    )
    assert refusal(spec, ["unit=web.service", log], settings) == (
        "unit `web.service` is not allowed: RUNBOOK_SYSTEMD_UNITS lists api.service, db-*."
    )
    assert refusal(spec, ["unit=api.service", log], DEFAULTS) == (
        "unit `api.service` is not allowed: RUNBOOK_SYSTEMD_UNITS is empty, so no unit is "
        "(an administrator lists the allowed ones there)."
    )


def test_a_path_resolves_inside_the_folders_of_its_setting(tmp_path: Path):
    spec = checked_spec(tmp_path)
    logs, elsewhere = tmp_path / "logs", tmp_path / "elsewhere"
    (logs / "app").mkdir(parents=True)
    elsewhere.mkdir()
    (logs / "app" / "app.log").write_text("x\n", encoding="utf-8")
    (logs / "current.log").symlink_to(logs / "app" / "app.log")  # inside: fine
    (logs / "out.log").symlink_to(elsewhere / "secret")
    settings = Settings(runbook_systemd_units=("api.service",), runbook_log_dirs=(logs,))
    unit = "unit=api.service"

    values = parse_arguments(
        spec,
        [unit, f"logs={logs}/current.log, {logs}/not-yet.log,", f"one={logs}/app/app.log"],
        settings,
    )
    assert values["logs"] == [str(logs / "app" / "app.log"), str(logs / "not-yet.log")]
    assert values["one"] == str(logs / "app" / "app.log")
    inside = f"is not inside the folders runbooks may read (RUNBOOK_LOG_DIRS: {logs})."
    assert refusal(spec, [unit, f"logs={logs}/out.log"], settings) == (
        f"logs: `{logs}/out.log` {inside}"
    )
    assert refusal(spec, [unit, f"logs={elsewhere}/secret"], settings) == (
        f"logs: `{elsewhere}/secret` {inside}"
    )
    assert refusal(spec, [unit, f"logs={logs}/app/../app/app.log"], settings) == (
        f"logs: `{logs}/app/../app/app.log` goes up a folder with `..`; give the path without it."
    )
    assert refusal(spec, [unit, "logs=app/app.log"], settings) == (
        "logs: `app/app.log` is not an absolute path (such as /var/log/syslog)."
    )
    assert refusal(spec, [unit, f"logs={logs}/app"], settings) == (
        f"logs: `{logs}/app` is not a regular file."
    )
    assert refusal(spec, [unit, "logs= , "], settings) == "logs needs a value."


def test_proc_sys_and_dev_are_never_read_whatever_the_setting(tmp_path: Path):
    spec = checked_spec(tmp_path)
    everything = Settings(runbook_systemd_units=("api.service",), runbook_log_dirs=(Path("/"),))
    for path in ("/proc/self/environ", "/proc/1/cmdline", "/sys/kernel/notes", "/dev/zero"):
        message = refusal(spec, ["unit=api.service", f"logs={path}"], everything)
        assert message == (
            f"logs: `{path}` is not inside the folders runbooks may read (RUNBOOK_LOG_DIRS: /)."
        )
    assert parse_arguments(spec, ["unit=api.service", "logs=/etc/hostname"], everything)


# -- the SDK at run time --------------------------------------------------------------


def test_the_sdk_at_run_time_agrees_with_discovery(tmp_path: Path):
    path = write(tmp_path, "restart.py", GOOD)
    spec = good_spec(tmp_path)

    module_spec = importlib.util.spec_from_file_location("runbook_under_test", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    cls = getattr(module, spec.class_name)

    assert cls.__runbook__["name"] == spec.name
    assert [name for name, _ in declared_steps(cls)] == [step.name for step in spec.steps]
    assert failure_handler(cls) == spec.on_failure == "rollback"
    options = dict(declared_steps(cls))
    assert options["check_health"].timeout == "30s"
    assert options["restart"].approval == sdk.Approval(
        roles=["commander"], not_requester=True, ttl="10m"
    )
    assert options["report"] == sdk.StepOptions()
    assert cls().helper() == "not a step"


def test_importing_the_sdk_and_discovery_stays_light():
    code = (
        "import sys, bot.runbooks.sdk, bot.runbooks.discovery, bot.runbooks.params\n"
        "heavy = [m for m in ('sqlalchemy', 'slack_sdk', 'slack_bolt', 'click', 'rich')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root())


# -- settings and the command line ----------------------------------------------------


def test_runbook_dirs_setting(tmp_path: Path):
    assert load_settings({}, env_file=None).runbook_dirs == (Path("runbooks"),)
    settings = load_settings({"RUNBOOK_DIRS": "ops/runbooks: /srv/books :"}, env_file=None)
    assert settings.runbook_dirs == (Path("ops/runbooks"), Path("/srv/books"))


def test_cli_list_shows_the_runbooks_and_counts_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    restart = write(tmp_path / "books", "restart.py", GOOD)
    write(tmp_path / "books", "flush.py", OTHER)
    write(tmp_path / "books", "broken.py", "def oops(:\n")
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["runbooks", "list", "--dir", "books"])

    assert result.exit_code == 0, result.output
    for text in [
        "restart-api",
        "Rolling restart of an API deployment",
        "replicas: int = 3",
        "token: str (optional, secret)",
        "start on SEV1/SEV2 for api",
        "flush-cache",
        f"books/restart.py:{line_of(restart, 'class RestartApi')}",
    ]:
        assert text in result.output
    assert "1 problem in runbook files: `incident-bot runbooks check` lists them." in result.output


def test_cli_check_lists_problems_and_fails(tmp_path: Path):
    write(tmp_path / "good", "restart.py", GOOD)
    broken = write(tmp_path / "bad", "broken.py", "def oops(:\n")

    runner = CliRunner()
    result = runner.invoke(
        main, ["runbooks", "check", "--dir", str(tmp_path / "good"), "--dir", str(tmp_path / "bad")]
    )
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{broken}:1: syntax error: invalid syntax",
        "1 runbook OK, 1 problem",
    ]

    result = runner.invoke(main, ["runbooks", "check", "--dir", str(tmp_path / "good")])
    assert result.exit_code == 0
    assert result.output == "1 runbook OK, 0 problems\n"


def test_cli_check_reports_bad_checks_with_file_and_line(tmp_path: Path):
    path = write(
        tmp_path / "books",
        "checks.py",
        """
        from pathlib import Path
        from bot.runbooks.sdk import Param, runbook, step

        @runbook(
            name="checks",
            summary="Checks that cannot work",
            params={
                "unit": Param(str, pattern="(unclosed"),
                "logs": Param(Path, inside="LOG_FILE"),
            },
        )
        class Checks:
            @step
            def go(self, ctx): ...
        """,
    )
    result = CliRunner().invoke(main, ["runbooks", "check", "--dir", str(tmp_path / "books")])

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{path}:{line_of(path, 'pattern=')}: parameter `unit`: pattern '(unclosed' is not a "
        "valid regular expression: missing ), unterminated subpattern at position 0",
        f"{path}:{line_of(path, 'inside=')}: parameter `logs`: inside names 'LOG_FILE', which is "
        "not a folder setting: use RUNBOOK_LOG_DIRS",
        "0 runbooks OK, 2 problems",
    ]


def test_cli_reads_the_folders_from_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write(tmp_path / "books", "flush.py", OTHER)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNBOOK_DIRS", "books")

    result = CliRunner().invoke(main, ["runbooks", "check"])

    assert result.exit_code == 0
    assert result.output == "1 runbook OK, 0 problems\n"


def declared_steps(cls: type) -> list[tuple[str, sdk.StepOptions]]:
    """The steps the decorators marked on a runbook class at run time, in source order."""
    return [
        (name, getattr(member, sdk.STEP_ATTRIBUTE))
        for name, member in vars(cls).items()
        if callable(member) and hasattr(member, sdk.STEP_ATTRIBUTE)
    ]


def failure_handler(cls: type) -> str | None:
    """The name of the method `@on_failure` marked, if any."""
    marked = (
        name
        for name, member in vars(cls).items()
        if callable(member) and getattr(member, sdk.ON_FAILURE_ATTRIBUTE, False)
    )
    return next(marked, None)

"""What a runbook's methods declare: `@step(...)` (approval, retry, condition), `@on_failure`.

Read from the class's AST like the rest of a runbook's metadata
(`bot.runbooks.declarations`); a step with any problem is reported and left out.
"""

from __future__ import annotations

import ast
import re

from bot.runbooks.literals import LiteralReader, Reported
from bot.runbooks.spec import ApprovalSpec, RetrySpec, StepSpec

STEP_ARGUMENTS = ("timeout", "approval", "retry", "manual", "prompt", "idempotent", "when")
APPROVAL_ARGUMENTS = ("roles", "not_requester", "ttl")
RETRY_ARGUMENTS = ("attempts", "delay", "backoff")

DEFAULT_APPROVAL_TTL_SECONDS = 900
STEP_SIGNATURE = ("self", "ctx")
ON_FAILURE_SIGNATURE = ("self", "ctx", "failed_step", "error")

ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def read_steps(
    reader: LiteralReader, cls: ast.ClassDef, param_names: set[str]
) -> tuple[tuple[StepSpec, ...], str | None]:
    """The steps of `cls` in order, and the name of its on_failure method (None without one)."""
    steps: list[StepSpec] = []
    on_failure: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    defined: dict[str, int] = {}
    for node in cls.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        step_marks = [d for d in node.decorator_list if reader.sdk_name(d) == "step"]
        failure_marks = [d for d in node.decorator_list if reader.sdk_name(d) == "on_failure"]
        if not step_marks and not failure_marks:
            continue
        if node.name in defined:
            reader.problem(
                node,
                f"step `{node.name}` is defined twice (first at line {defined[node.name]})",
            )
        defined.setdefault(node.name, node.lineno)
        if isinstance(node, ast.AsyncFunctionDef):
            reader.problem(node, f"`{node.name}` must be a plain def, not async def")
        if step_marks and failure_marks:
            reader.problem(node, f"`{node.name}` cannot be both a @step and @on_failure")
        elif failure_marks:
            if on_failure is not None:
                reader.problem(
                    node,
                    f"only one @on_failure method is allowed; `{on_failure.name}` "
                    f"at line {on_failure.lineno} is one already",
                )
            on_failure = on_failure or node
            _failure_handler(reader, node, failure_marks[0])
        else:
            for extra in step_marks[1:]:
                reader.problem(extra, f"step `{node.name}` has @step more than once")
            step = reader.attempt(None, _step, reader, node, step_marks[0], param_names)
            if step is not None:
                steps.append(step)
    return tuple(steps), None if on_failure is None else on_failure.name


def _failure_handler(
    reader: LiteralReader, node: ast.FunctionDef | ast.AsyncFunctionDef, mark: ast.expr
) -> None:
    if isinstance(mark, ast.Call):
        reader.problem(mark, "write @on_failure without arguments")
    if not _takes(node, len(ON_FAILURE_SIGNATURE)):
        reader.problem(
            node,
            f"on_failure method `{node.name}` must take "
            f"({', '.join(ON_FAILURE_SIGNATURE)}), not ({_signature(node)})",
        )


def _step(
    reader: LiteralReader,
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    mark: ast.expr,
    param_names: set[str],
) -> StepSpec:
    start = len(reader.problems)
    if not _takes(node, len(STEP_SIGNATURE)):
        reader.problem(
            node,
            f"step `{node.name}` must take ({', '.join(STEP_SIGNATURE)}), not ({_signature(node)})",
        )
    given = (
        reader.arguments(mark, f"@step of `{node.name}`", STEP_ARGUMENTS)
        if isinstance(mark, ast.Call)
        else {}
    )
    what = f"step `{node.name}`"
    read = reader.attempt
    timeout: float | None = None
    if "timeout" in given:
        timeout = read(None, reader.duration, given["timeout"], f"{what} timeout")
    approval = read(None, _approval, reader, given["approval"]) if "approval" in given else None
    retry = read(None, _retry, reader, given["retry"]) if "retry" in given else None
    flags = {
        option: read(False, reader.flag, given[option], option)
        for option in ("manual", "idempotent")
        if option in given
    }
    prompt = read("", reader.text, given["prompt"], "prompt") if "prompt" in given else ""
    description = ast.get_docstring(node) or ""
    manual = flags.get("manual", False)
    if manual and not prompt.strip():
        prompt = description.strip().splitlines()[0] if description.strip() else ""
        if not prompt:
            reader.problem(
                mark,
                f'manual {what} needs a prompt: @step(manual=True, prompt="what to check")',
            )
    when: str | None = None
    if "when" in given:
        when = read(None, _condition, reader, given["when"], what, param_names)
    if len(reader.problems) > start:
        raise Reported()
    return StepSpec(
        name=node.name,
        line=node.lineno,
        timeout_seconds=timeout,
        approval=approval,
        retry=retry,
        manual=manual,
        prompt=prompt,
        idempotent=flags.get("idempotent", False),
        when=when,
        description=description,
    )


def _approval(reader: LiteralReader, node: ast.expr) -> ApprovalSpec:
    if not isinstance(node, ast.Call) or reader.sdk_name(node) != "Approval":
        raise reader.fail(node, "approval must be Approval(roles=[...], ...)")
    given = reader.arguments(node, "Approval", APPROVAL_ARGUMENTS, positional=("roles",))
    if "roles" not in given:
        raise reader.fail(node, 'Approval needs roles: Approval(roles=["commander"])')
    roles = reader.words(given["roles"], "approval roles")
    if not roles:
        raise reader.fail(given["roles"], "approval roles are empty: name at least one role")
    for role in roles:
        if not ROLE_NAME.fullmatch(role):
            raise reader.fail(
                given["roles"], f"approval role {role!r} is not a role name such as commander"
            )
    not_requester = (
        reader.flag(given["not_requester"], "not_requester") if "not_requester" in given else True
    )
    ttl = DEFAULT_APPROVAL_TTL_SECONDS
    if "ttl" in given:
        ttl = max(1, round(reader.duration(given["ttl"], "approval ttl")))
    return ApprovalSpec(roles=roles, not_requester=not_requester, ttl_seconds=ttl)


def _retry(reader: LiteralReader, node: ast.expr) -> RetrySpec:
    if not isinstance(node, ast.Call) or reader.sdk_name(node) != "Retry":
        raise reader.fail(node, "retry must be Retry(attempts=..., delay=..., backoff=...)")
    given = reader.arguments(node, "Retry", RETRY_ARGUMENTS, positional=("attempts",))
    spec = RetrySpec()
    attempts, delay, backoff = spec.attempts, spec.delay_seconds, spec.backoff
    if "attempts" in given:
        value = reader.plain(given["attempts"])
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise reader.fail(
                given["attempts"], "retry attempts must be a whole number of at least 1"
            )
        attempts = value
    if "delay" in given:
        delay = reader.duration(given["delay"], "retry delay", positive=False)
    if "backoff" in given:
        backoff = float(reader.number(given["backoff"], "retry backoff"))
        if backoff < 1:
            raise reader.fail(given["backoff"], "retry backoff must be at least 1.0")
    return RetrySpec(attempts=attempts, delay_seconds=delay, backoff=backoff)


def _condition(reader: LiteralReader, node: ast.expr, what: str, param_names: set[str]) -> str:
    """A `when` condition: kept as written, checked to be a tiny expression over params."""
    text = reader.text(node, "when", empty=False).strip()
    try:
        expression = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise reader.fail(node, f"condition of {what} is not valid: {error.msg}") from None
    for part in ast.walk(expression):
        if isinstance(part, ast.Call | ast.Lambda | ast.NamedExpr | ast.Subscript):
            raise reader.fail(
                node, f"condition of {what} may only compare params.<name> with values"
            )
        if isinstance(part, ast.Attribute) and (
            not isinstance(part.value, ast.Name) or part.value.id != "params"
        ):
            raise reader.fail(node, f"condition of {what} may only read params.<name>")
        if isinstance(part, ast.Name) and part.id != "params":
            raise reader.fail(
                node, f"condition of {what} uses `{part.id}`: only params.<name> is known"
            )
        if isinstance(part, ast.Attribute) and part.attr not in param_names:
            raise reader.fail(
                node, f"condition of {what} uses params.{part.attr}, which is not a parameter"
            )
    return text


def _takes(node: ast.FunctionDef | ast.AsyncFunctionDef, count: int) -> bool:
    positional = len(node.args.posonlyargs) + len(node.args.args)
    if node.args.vararg is not None:
        return positional <= count
    return positional == count


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    return ast.unparse(node.args)

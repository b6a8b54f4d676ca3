"""Layers point one way: nothing outside the Slack adapter imports Slack."""

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"
SLACK_PACKAGES = ("slack_bolt", "slack_sdk")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_slack_adapter_imports_slack():
    offenders = [
        str(path.relative_to(BOT))
        for path in BOT.rglob("*.py")
        if "slack" not in path.relative_to(BOT).parts[:2]
        and any(name.split(".")[0] in SLACK_PACKAGES for name in _imports(path))
    ]
    assert offenders == []


def test_the_domain_does_not_import_chat_adapters():
    domain = ["incidents.py", "roles.py", "timeline.py", "actions.py", "models.py", "when.py"]
    for module in domain:
        imported = _imports(BOT / module)
        assert not any(
            name.startswith(("bot.chat", "bot.dispatch", "bot.cli")) for name in imported
        ), module

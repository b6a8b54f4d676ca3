"""Settings: defaults, the environment, `.env`, and one clear line for a bad value."""

from pathlib import Path

import pytest

from bot.config import SETTINGS, load_settings
from bot.errors import ConfigError


def test_defaults_need_no_configuration(tmp_path: Path):
    settings = load_settings({}, env_file=tmp_path / "missing.env")
    assert settings.database_url == "sqlite:///incident-bot.db"
    assert settings.severity_names == ("SEV1", "SEV2", "SEV3", "SEV4")
    assert settings.default_severity == "SEV3"
    assert settings.roles == ("commander", "communications", "scribe", "operations")
    assert str(settings.timezone) == "UTC"


def test_env_file_applies_and_the_environment_wins(tmp_path: Path):
    env_file = tmp_path / ".env"
    env_file.write_text("INCIDENT_TIMEZONE=Asia/Seoul\nINCIDENT_ROLES=lead, scribe\n")
    settings = load_settings({"INCIDENT_ROLES": "commander,comms"}, env_file=env_file)
    assert str(settings.timezone) == "Asia/Seoul"
    assert settings.roles == ("commander", "comms")


def test_custom_severities_and_default(tmp_path: Path):
    settings = load_settings(
        {"INCIDENT_SEVERITIES": "P1=Everything is down;P2=Partial outage"},
        env_file=None,
    )
    assert settings.severity_names == ("P1", "P2")
    assert settings.default_severity == "P2"
    assert settings.severities[0].description == "Everything is down"


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("INCIDENT_TIMEZONE", "Mars/Base", "IANA time zone"),
        ("INCIDENT_SEVERITIES", "SEV1 Critical", "NAME=description"),
        ("INCIDENT_SEVERITIES", "S1=a;S1=b", "names unique"),
        ("INCIDENT_ROLES", "commander,commander", "comma-separated"),
        ("INCIDENT_TITLE_MAX_LENGTH", "0", "whole number"),
        ("INCIDENT_TITLE_MAX_LENGTH", "lots", "whole number"),
        ("LOG_LEVEL", "LOUD", "DEBUG, INFO"),
        ("DATABASE_URL", "mysql://root@localhost/x", "postgresql://"),
        ("INCIDENT_DEFAULT_SEVERITY", "SEV9", "SEV1, SEV2, SEV3, SEV4"),
        ("INCIDENT_LINKS", "Dashboard=ftp://grafana", "Title=https://"),
    ],
)
def test_invalid_values_name_the_variable_and_what_is_accepted(variable, value, accepted):
    with pytest.raises(ConfigError) as raised:
        load_settings({variable: value}, env_file=None)
    message = str(raised.value)
    assert message.startswith(f"{variable}=")
    assert accepted in message
    assert "\n" not in message


def test_secret_values_are_not_echoed_in_errors():
    with pytest.raises(ConfigError) as raised:
        load_settings({"DATABASE_URL": "mysql://root:hunter2@db/x"}, env_file=None)
    assert "hunter2" not in str(raised.value)


def test_every_setting_is_documented_in_the_readme():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [s.env for s in SETTINGS.values() if f"`{s.env}`" not in readme]
    assert missing == []


def test_every_command_is_in_the_readme_reference():
    from bot.commands.grammar import Grammar

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    grammar = Grammar()
    missing = [
        name
        for name in grammar.specs
        if f"`{grammar.usage(name)}`" not in readme.replace("\\|", "|")
    ]
    assert missing == []


def test_the_readme_runbook_example_is_a_valid_runbook(tmp_path):
    from bot.runbooks.discovery import discover

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Runbooks") :]
    example = section[section.index("```python") + len("```python") : section.index("```\n", 10)]
    (tmp_path / "example.py").write_text(example, encoding="utf-8")
    catalog = discover([tmp_path])
    assert [str(problem) for problem in catalog.problems] == []
    assert list(catalog.runbooks) == ["restart-api"]

"""The pinned summary offers what can be done next, so nobody has to remember commands."""

from bot.chat.messages import incident_summary
from bot.incidents.lifecycle import get_incident


def labels(message):
    return [action.label for action in message.actions]


def summary_of(session_factory, settings):
    with session_factory() as session:
        return incident_summary(get_incident(session, "INC-1"), settings, lambda u: f"@{u}")


def test_an_open_incident_offers_its_next_steps(alice, session_factory, settings):
    alice.says("declare sev2 Checkout API returns 500s")
    summary = summary_of(session_factory, settings)
    assert labels(summary) == [
        "Take commander",
        "Identified",
        "Monitoring",
        "Change severity",
        "Add note…",
        "Assign role…",
        "Resolve…",
    ]
    commands = {action.label: action.command for action in summary.actions}
    assert commands["Take commander"] == "role INC-1 commander @me"
    severities = next(a for a in summary.actions if a.choices).choices
    assert [c.command for c in severities] == ["sev INC-1 SEV1", "sev INC-1 SEV3", "sev INC-1 SEV4"]


def test_a_commanded_incident_no_longer_offers_the_role(alice, session_factory, settings):
    alice.says("declare sev2 Checkout API returns 500s")
    alice.says("role commander @me")
    alice.says("status identified")
    assert labels(summary_of(session_factory, settings))[:2] == [
        "Investigating",
        "Monitoring",
    ]


def test_resolved_offers_reopen_and_close_and_closed_offers_nothing(
    alice, session_factory, settings
):
    alice.says("declare sev2 Checkout API returns 500s")
    alice.says("role commander @me")  # closing takes the commander
    alice.says("resolve Rolled back")
    assert labels(summary_of(session_factory, settings)) == ["Reopen", "Close"]
    alice.says("close")
    assert summary_of(session_factory, settings).actions == ()


def test_every_offered_button_runs_as_a_command(alice, session_factory, settings, handler):
    alice.says("declare sev2 Checkout API returns 500s")
    buttons = [
        action.command
        for action in summary_of(session_factory, settings).actions
        if action.command and action.asks == "nothing"
    ]
    assert buttons
    for command in buttons:
        assert type(handler.grammar.parse(command)).__name__ in {"AssignRole", "SetStatus"}


def test_outside_its_channel_the_hint_names_the_incident_and_its_channel(alice, bob):
    alice.says("declare sev2 Checkout API returns 500s")

    reply = bob.says("note rolled back")

    assert reply.message.text == (
        "This is not an incident channel, so name the incident: "
        "`/incident note INC-1 rolled back`. Or type it in #inc-1-checkout-api-returns-500s."
    )


def test_the_summary_shows_the_last_update(alice, session_factory, settings):
    alice.says("declare sev2 Checkout API returns 500s")
    alice.says("status identified")
    fields = dict(summary_of(session_factory, settings).fields)
    assert fields["Last update"] == (
        "2026-11-25 14:00 Status changed from investigating to identified"
    )

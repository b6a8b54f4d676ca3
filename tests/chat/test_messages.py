"""The pinned summary offers what can be done next, so nobody has to remember commands, and
the figures the postmortem gives."""

from datetime import UTC, datetime

from bot.chat.messages import incident_summary
from bot.incidents.lifecycle import get_incident
from bot.postmortems.context import build_context

FIGURES = (
    "Time to detect",
    "Time to declare",
    "Time to acknowledge",
    "Time to mitigate",
    "Time to resolve",
    "Impact duration",
    "Incident duration",
    "Bad minutes",
)


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


def record(session_factory, **fields):
    """Set fields of INC-1 as the commands that record them would."""
    with session_factory() as session:
        incident = get_incident(session, "INC-1")
        for name, value in fields.items():
            setattr(incident, name, value)
        session.commit()


def at(hour, minute):
    return datetime(2026, 11, 25, hour, minute, tzinfo=UTC)


def test_show_gives_every_figure_known_with_what_it_falls_back_to(alice, session_factory, settings):
    alice.says("declare sev2 Checkout API returns 500s")  # 14:00
    record(
        session_factory,
        started_at=at(13, 40),
        detected_at=at(13, 52),
        acknowledged_at=at(13, 50),
        mitigated_at=at(14, 35),
        resolved_at=at(14, 55),
        impact_fraction=0.25,
    )

    fields = dict(summary_of(session_factory, settings).fields)

    assert {label: fields.get(label) for label in FIGURES} == {
        "Time to detect": "12m",
        "Time to declare": "20m",
        "Time to acknowledge": "acknowledged 2m before detection",
        "Time to mitigate": "55m",
        "Time to resolve": "1h 15m",
        "Impact duration": "55m (until mitigated: the end of impact is not recorded)",
        "Incident duration": "55m",
        "Bad minutes": "13.8 (55m at 25%)",
    }
    assert (fields["Impact started"], fields["Share affected"]) == ("2026-11-25 13:40", "25%")
    assert "Impact ended" not in fields


def test_show_leaves_out_figures_whose_ends_are_not_recorded(alice, session_factory, settings):
    alice.says("declare sev2 Checkout API returns 500s")
    record(session_factory, acknowledged_at=at(14, 3), resolved_at=at(14, 20))

    fields = dict(summary_of(session_factory, settings).fields)

    assert [label for label in FIGURES if label in fields] == [
        "Time to acknowledge",
        "Incident duration",
    ]
    assert fields["Time to acknowledge"] == "3m (from the declaration: detection is not recorded)"
    assert fields["Incident duration"] == "20m"


def test_show_and_the_postmortem_give_the_same_figures(alice, session_factory, settings):
    alice.says("declare sev2 Checkout API returns 500s")
    record(
        session_factory,
        started_at=at(13, 40),
        detected_at=at(13, 52),
        acknowledged_at=at(14, 2),
        mitigated_at=at(14, 35),
        impact_ended_at=at(14, 50),
        resolved_at=at(14, 55),
    )

    fields = dict(summary_of(session_factory, settings).fields)
    with session_factory() as session:
        drafted = build_context(session, get_incident(session, "INC-1"), settings)

    from_the_draft = {m["label"]: m["value"] for m in drafted["measures"]}
    assert from_the_draft == {label: fields[label] for label in from_the_draft}
    assert from_the_draft["Impact duration"] == "1h 10m"
    assert fields["Impact ended"] == "2026-11-25 14:50"

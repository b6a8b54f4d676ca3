"""Forms, buttons and the text they carry, checked like typed commands, through real Bolt.

Each hostile submission or click sits beside the genuine one that still works; the
checks read the database and what the Slack double was asked to post.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.chat.slack.submissions import NOT_A_TIME
from bot.config import Settings
from bot.incidents.lifecycle import SUMMARY_MAX_LENGTH
from bot.incidents.timeline import NOTE_MAX_LENGTH
from bot.storage.models import Incident, RunbookRun, TimelineEvent
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_harness import (
    BotServer,
    domain_snapshot,
    set_up,
    unhandled_requests,
)
from tests.support.slack_users import ALICE, BOB
from tests.support.waiting import eventually


@pytest.fixture
def bot(
    settings: Settings,
    session_factory: sessionmaker[Session],
    double: SlackApiDouble,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[BotServer]:
    caplog.set_level(logging.INFO)
    with BotServer(settings, session_factory, double) as server:
        yield server
    assert_no_traceback(caplog)


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert "Traceback" not in caplog.text


def incident(session_factory: sessionmaker[Session], number: int = 1) -> Incident | None:
    with session_factory() as session:
        query = (
            select(Incident)
            .where(Incident.number == number)
            .options(selectinload(Incident.events), selectinload(Incident.roles))
        )
        return session.scalar(query)


def notes(session_factory: sessionmaker[Session]) -> list[str]:
    with session_factory() as session:
        query = select(TimelineEvent.text).where(TimelineEvent.kind == "note")
        return list(session.scalars(query.order_by(TimelineEvent.id)))


def declare(bot: BotServer, room: str, text: str, *, number: int = 1) -> Incident:
    """Declare through the slash command and wait until its channel is set up."""
    bot.slash(f"declare {text}", user=ALICE, channel=room, response_url=f"declare-{number}")
    eventually(lambda: bot.double.responses_to(f"declare-{number}"))
    eventually(lambda: set_up(bot.handler.session_factory, number), timeout=10)
    found = incident(bot.handler.session_factory, number)
    assert found is not None
    return found


def summary_controls(double: SlackApiDouble, found: Incident) -> dict[str, dict[str, Any]]:
    """The buttons and menus of the pinned summary, by label."""
    message = next(
        m for m in double.messages_in(found.channel_id) if m["ts"] == found.summary_message_ref
    )
    elements = next(b for b in message["blocks"] if b["type"] == "actions")["elements"]
    return {(e.get("text") or e.get("placeholder"))["text"]: e for e in elements}


def open_form(bot: BotServer, found: Incident, label: str) -> dict[str, Any]:
    """Click a summary button that asks for text (or a person) and return the form opened."""
    before = len(bot.double.calls_to("views.open"))
    control = summary_controls(bot.double, found)[label]
    bot.block_action(control, user=ALICE, channel=found.channel_id)
    eventually(lambda: len(bot.double.calls_to("views.open")) > before)
    return bot.double.calls_to("views.open")[-1].args["view"]


def text_value(text: str | None) -> dict[str, dict[str, Any]]:
    return {"text": {"type": "plain_text_input", "value": text}}


def declare_values(**changes: Any) -> dict[str, dict[str, Any]]:
    """A declare form filled in; a change of None leaves that field's state out."""
    values: dict[str, dict[str, Any]] = {
        "title": {"type": "plain_text_input", "value": "Payments delayed"},
        "severity": {"type": "static_select", "selected_option": {"value": "SEV2"}},
        "service": {"type": "plain_text_input", "value": "payments"},
        "description": {"type": "plain_text_input", "value": None},
        "started": {"type": "datetimepicker", "selected_date_time": None},
        "declared": {"type": "datetimepicker", "selected_date_time": None},
    }
    for block, state in changes.items():
        if state is None:
            del values[block]
        else:
            values[block] = {**values[block], **state}
    return values


def declare_form(bot: BotServer, room: str) -> dict[str, Any]:
    bot.slash("", user=ALICE, channel=room)
    eventually(lambda: bot.double.calls_to("views.open"))
    return bot.double.calls_to("views.open")[-1].args["view"]


def errors_of(answer: Any) -> dict[str, str]:
    assert answer.status == 200
    assert answer.json()["response_action"] == "errors"
    return dict(answer.json()["errors"])


# --------------------------------------------------------------------------- forms


def test_a_started_time_that_is_not_a_time_is_an_inline_error(
    bot: BotServer, room: str, session_factory
):
    view = declare_form(bot, room)
    before = domain_snapshot(session_factory)
    for hostile in ("abc", 10**30, True, {"at": 1}):
        values = declare_values(started={"selected_date_time": hostile})
        assert errors_of(bot.view_submission(view, values, user=ALICE)) == {"started": NOT_A_TIME}
    bot.settle()
    assert domain_snapshot(session_factory) == before
    assert unhandled_requests(session_factory) == []

    started = int((datetime.now(UTC) - timedelta(minutes=5)).timestamp())
    values = declare_values(started={"selected_date_time": started})
    accepted = bot.view_submission(view, values, user=ALICE)
    assert (accepted.status, accepted.body) == (200, b"")
    found = eventually(lambda: incident(session_factory))
    assert found.started_at == datetime.fromtimestamp(started, UTC)


def test_an_incident_recorded_after_the_fact_is_declared_when_the_form_says(
    bot: BotServer, room: str, session_factory
):
    view = declare_form(bot, room)
    pickers = [b["block_id"] for b in view["blocks"] if b["element"]["type"] == "datetimepicker"]
    assert pickers == ["started", "declared"]
    assert next(b for b in view["blocks"] if b["block_id"] == "declared")["optional"] is True
    before = domain_snapshot(session_factory)
    tomorrow = int((datetime.now(UTC) + timedelta(days=1)).timestamp())
    for hostile, error in (("abc", NOT_A_TIME), (tomorrow, "declared in the future")):
        values = declare_values(declared={"selected_date_time": hostile})
        assert error in errors_of(bot.view_submission(view, values, user=ALICE))["declared"]
    bot.settle()
    assert domain_snapshot(session_factory) == before

    day_before = int((datetime.now(UTC) - timedelta(days=1)).timestamp())
    started = day_before - 6 * 60
    values = declare_values(
        declared={"selected_date_time": day_before}, started={"selected_date_time": started}
    )
    accepted = bot.view_submission(view, values, user=ALICE)
    assert (accepted.status, accepted.body) == (200, b"")
    found = eventually(lambda: incident(session_factory))
    assert found.declared_at == datetime.fromtimestamp(day_before, UTC)
    assert found.started_at == datetime.fromtimestamp(started, UTC)
    (declared,) = found.events
    assert declared.occurred_at == found.declared_at
    assert declared.recorded_at - found.declared_at > timedelta(hours=23)


def test_fields_without_their_value_are_inline_errors_not_failures(
    bot: BotServer, room: str, session_factory
):
    view = declare_form(bot, room)
    before = domain_snapshot(session_factory)
    # The title's element state has no value; the severity has no state at all.
    values = declare_values(title={"value": None}, severity=None)
    errors = errors_of(bot.view_submission(view, values, user=ALICE))
    assert set(errors) == {"title", "severity"}
    assert errors["severity"] == "Choose a severity."
    # A block whose element is not there at all, and a view with no state.
    missing = {**declare_values(), "title": {}}
    payload = {"values": {block: {"value": v} for block, v in missing.items()}}
    payload["values"]["title"] = {"elsewhere": {"value": "x"}}
    answer = bot.interaction(submission(bot, {**view, "state": payload}))
    assert set(errors_of(answer)) == {"title"}
    answer = bot.interaction(submission(bot, {**view, "state": "garbled"}))
    assert set(errors_of(answer)) == {"title", "severity"}
    bot.settle()
    assert domain_snapshot(session_factory) == before
    assert unhandled_requests(session_factory) == []

    accepted = bot.view_submission(view, declare_values(), user=ALICE)
    assert (accepted.status, accepted.body) == (200, b"")
    assert eventually(lambda: incident(session_factory)).title == "Payments delayed"


def submission(bot: BotServer, view: dict[str, Any]) -> dict[str, Any]:
    """A view_submission payload carrying `view` exactly as given."""
    return {
        "type": "view_submission",
        "team": {"id": bot.team_id},
        "user": {"id": ALICE, "team_id": bot.team_id},
        "api_app_id": "A0APP",
        "trigger_id": bot.trigger_id(),
        "view": view,
    }


def test_the_person_form_needs_a_role_and_a_person(bot: BotServer, room: str, session_factory):
    found = declare(bot, room, "sev2 Checkout down")
    view = open_form(bot, found, "Assign role…")
    before = domain_snapshot(session_factory)
    person = {"type": "users_select", "selected_user": BOB}
    nobody = {"type": "users_select"}
    no_role = {"type": "static_select", "selected_option": None}
    bad_role = {"type": "static_select", "selected_option": {"value": "janitor"}}
    answer = bot.view_submission(view, {"role": no_role, "person": nobody}, user=ALICE)
    assert errors_of(answer) == {"role": "Choose a role.", "person": "Choose a person."}
    answer = bot.view_submission(view, {"role": bad_role, "person": person}, user=ALICE)
    assert "Unknown role `janitor`" in errors_of(answer)["role"]
    garbled = {**view, "private_metadata": "{not json"}
    scribe = {"type": "static_select", "selected_option": {"value": "scribe"}}
    answer = bot.view_submission(garbled, {"role": scribe, "person": person}, user=ALICE)
    assert errors_of(answer)["role"].startswith("This form is out of date")
    bot.settle()
    assert domain_snapshot(session_factory) == before
    assert unhandled_requests(session_factory) == []

    assert bot.view_submission(view, {"role": scribe, "person": person}, user=ALICE).body == b""
    eventually(lambda: incident(session_factory).current_roles() == {"scribe": BOB})


def test_oversized_titles_notes_and_summaries_in_forms_are_inline_errors_naming_the_limit(
    bot: BotServer, room: str, session_factory
):
    view = declare_form(bot, room)
    long_title = declare_values(title={"value": "t" * (bot.settings.title_max_length + 1)})
    errors = errors_of(bot.view_submission(view, long_title, user=ALICE))
    assert f"the limit is {bot.settings.title_max_length}" in errors["title"]

    found = declare(bot, room, "sev2 Checkout down")
    note_form = open_form(bot, found, "Add note…")
    assert note_form["blocks"][0]["element"]["max_length"] == NOTE_MAX_LENGTH
    before = domain_snapshot(session_factory)
    too_long = text_value("n" * (NOTE_MAX_LENGTH + 1))
    errors = errors_of(bot.view_submission(note_form, too_long, user=ALICE))
    assert f"the limit is {NOTE_MAX_LENGTH}" in errors["text"]
    resolve_form = open_form(bot, found, "Resolve…")
    too_long = text_value("s" * (SUMMARY_MAX_LENGTH + 1))
    errors = errors_of(bot.view_submission(resolve_form, too_long, user=ALICE))
    assert f"the limit is {SUMMARY_MAX_LENGTH}" in errors["text"]
    assert errors_of(bot.view_submission(note_form, text_value(None), user=ALICE)) == {
        "text": "Write something first."
    }
    bot.settle()
    assert domain_snapshot(session_factory) == before
    assert unhandled_requests(session_factory) == []

    at_the_limit = "n" * NOTE_MAX_LENGTH
    assert bot.view_submission(note_form, text_value(at_the_limit), user=ALICE).body == b""
    eventually(lambda: notes(session_factory) == [at_the_limit])


def test_notes_and_summaries_have_a_limit_typed_commands_are_told(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    found = declare(bot, room, "sev2 Checkout down")
    channel = found.channel_id
    before = domain_snapshot(session_factory)

    # Under the body cap (a 10 MB note is refused by the front), the domain's limit answers.
    bot.slash(f"note {'n' * 500_000}", user=ALICE, channel=channel, response_url="big-note")
    refusal = eventually(lambda: double.responses_to("big-note"))[0]["text"]
    assert f"The note is 500000 characters long; the limit is {NOTE_MAX_LENGTH}." in refusal
    summary = "s" * (SUMMARY_MAX_LENGTH + 1)
    bot.slash(f"resolve {summary}", user=ALICE, channel=channel, response_url="big-summary")
    refusal = eventually(lambda: double.responses_to("big-summary"))[0]["text"]
    assert f"the limit is {SUMMARY_MAX_LENGTH}" in refusal
    bot.settle()
    assert domain_snapshot(session_factory) == before
    assert unhandled_requests(session_factory) == []

    at_the_limit = "n" * NOTE_MAX_LENGTH
    bot.slash(f"note {at_the_limit}", user=ALICE, channel=channel, response_url="note")
    shown = eventually(lambda: double.responses_to("note"))[0]
    assert at_the_limit in shown["text"]  # recorded, and Slack took the reply
    assert notes(session_factory) == [at_the_limit]
    note_id = next(e.id for e in incident(session_factory).events if e.kind == "note")
    longer = "e" * (NOTE_MAX_LENGTH + 1)
    bot.slash(f"note edit {note_id} {longer}", user=ALICE, channel=channel, response_url="edit")
    assert (
        f"the limit is {NOTE_MAX_LENGTH}"
        in eventually(lambda: double.responses_to("edit"))[0]["text"]
    )
    assert notes(session_factory) == [at_the_limit]
    bot.slash(f"resolve {'s' * SUMMARY_MAX_LENGTH}", user=ALICE, channel=channel)
    eventually(lambda: incident(session_factory).summary == "s" * SUMMARY_MAX_LENGTH)


# --------------------------------------------------------------------------- buttons


def test_buttons_without_a_value_or_with_a_foreign_one_are_refused_privately(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    first = declare(bot, room, "sev2 Checkout down")
    second = declare(bot, room, "sev3 Search slow", number=2)
    controls = summary_controls(double, first)
    identified = controls["Identified"]
    run = RunbookRun(
        incident_id=second.id,
        runbook="api-first-response",
        requested_by=BOB,
        params={},
        created_at=datetime.now(UTC),
    )
    with session_factory() as session:
        session.add(run)
        session.commit()
        run_id = run.id
    double.reset_calls()
    before = domain_snapshot(session_factory)

    hostile = {
        "no-value": {key: v for key, v in identified.items() if key != "value"},
        "not-text": {**identified, "value": ["status", "INC-1"]},
        "other-incident": {**identified, "value": "status INC-2 resolved"},
        "not-a-button-command": {**identified, "value": "declare sev1 Fake outage"},
        "with-arguments": {
            **identified,
            "value": "runbook run INC-1 api-first-response unit=reboot.target confirm=true",
        },
        "garbled-run": {**identified, "value": "runbook cancel 12abc"},
        "other-incidents-run": {**identified, "value": f"runbook cancel {run_id}"},
        "menu-without-choice": {**controls["Change severity"], "selected_option": None},
        "form-for-other-incident": {**controls["Add note…"], "value": "note INC-2"},
        "form-garbled": {**controls["Assign role…"], "value": "role INC-1; declare"},
    }
    for name, action in hostile.items():
        bot.block_action(action, user=ALICE, channel=first.channel_id, response_url=name)
        answer = eventually(lambda name=name: double.responses_to(name), message=name)[0]
        assert answer["response_type"] == "ephemeral", name
        assert answer["replace_original"] is False, name
        assert answer["text"].startswith("That button does not work here"), name
    bot.settle()
    assert domain_snapshot(session_factory) == before
    assert unhandled_requests(session_factory) == []
    assert double.calls_to("views.open") == []
    assert [c.method for c in double.calls if c.method != "response_url"] == []

    # The genuine button works, and so does one for INC-2 on a private reply in INC-1.
    bot.block_action(identified, user=ALICE, channel=first.channel_id)
    eventually(lambda: incident(session_factory, 1).status == "identified")
    other = summary_controls(double, second)["Monitoring"]
    bot.block_action(other, user=ALICE, channel=first.channel_id, ephemeral=True)
    eventually(lambda: incident(session_factory, 2).status == "monitoring")


# --------------------------------------------------------------------------- escaping


def test_mentions_and_links_typed_in_a_title_reach_slack_as_text(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    title = "Checkout down <@U123> <!channel> <!here> <https://evil.example|status page>"
    found = declare(bot, room, f"sev2 {title}")
    assert found.title == title  # stored as typed
    summary = "Fixed by <@U123|carol> <!subteam^S0ONCALL|@oncall> <!everyone>"
    bot.slash(f"resolve {summary}", user=ALICE, channel=found.channel_id)
    eventually(lambda: incident(session_factory).status == "resolved")
    assert incident(session_factory).summary == summary
    eventually(lambda: len(double.calls_to("conversations.setTopic")) == 2)
    bot.settle()

    sent = {
        method: [json.dumps(c.args) for c in double.calls_to(method)]
        for method in ("chat.postMessage", "chat.update", "conversations.setTopic")
    }
    sent["conversations.setPurpose"] = [
        json.dumps(c.args) for c in double.calls_to("conversations.setPurpose")
    ]
    everything = [text for texts in sent.values() for text in texts]
    assert all(texts for texts in sent.values()), sent
    for raw in ("<@U123", "<!channel>", "<!here>", "<!everyone>", "<!subteam", "<https://"):
        assert not any(raw in text for text in everything), raw
    topic = double.calls_to("conversations.setTopic")[0].args["topic"]
    assert "&lt;@U123&gt; &lt;!channel&gt;" in topic
    purpose = double.calls_to("conversations.setPurpose")[0].args["purpose"]
    assert purpose == (
        "INC-1: Checkout down &lt;@U123&gt; &lt;!channel&gt; &lt;!here&gt; "
        "&lt;https://evil.example|status page&gt;"
    )
    announcement = double.messages_in("incidents")[0]["text"]
    assert announcement.startswith(f"<@{ALICE}> declared INC-1")  # the bot's own mention works
    assert "&lt;!channel&gt;" in announcement
    assert any("&lt;!everyone&gt;" in text for text in sent["chat.postMessage"])


def test_link_templates_encode_what_they_fill_in(
    settings: Settings, session_factory, double: SlackApiDouble, room: str
):
    links = (("Dashboard", "https://grafana.example/d/{service}?incident={reference}"),)
    with BotServer(
        dataclasses.replace(settings, incident_links=links), session_factory, double
    ) as bot:
        view = declare_form(bot, room)
        values = declare_values(service={"value": "a b/../x?y#z&q=1"})
        assert bot.view_submission(view, values, user=ALICE).body == b""
        bookmark = eventually(lambda: double.calls_to("bookmarks.add"))[0].args
    assert bookmark["link"] == (
        "https://grafana.example/d/a%20b%2F..%2Fx%3Fy%23z%26q%3D1?incident=INC-1"
    )
    assert incident(session_factory).service == "a b/../x?y#z&q=1"


def test_a_10_mb_note_typed_in_any_chat_is_refused_naming_the_limit(alice, session_factory):
    alice.says("declare sev2 Checkout down")
    reply = alice.says("note " + "n" * (10 * 1024 * 1024))
    assert reply.message.text == (
        f"The note is {10 * 1024 * 1024} characters long; the limit is {NOTE_MAX_LENGTH}. "
        "Split it into several notes."
    )
    assert notes(session_factory) == []
    alice.says("note " + "n" * NOTE_MAX_LENGTH)
    assert notes(session_factory) == ["n" * NOTE_MAX_LENGTH]

"""The Slack app over real HTTP: signed requests in through Bolt, Web API calls out to the double.

Every scenario starts the app as `run` builds it (waitress, `SlackRequestHandler`), sends
what Slack sends, and checks the database and the calls the Slack double recorded.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.chat.slack.capture_events import posted_at
from bot.config import Settings
from bot.storage.models import Incident, OutboxItem, TimelineEvent
from tests.support.db_reads import snapshot
from tests.support.signing import slack_signature
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_harness import SIGNING_SECRET, BotServer, set_up
from tests.support.slack_users import ALICE, BOB, CAROL
from tests.support.waiting import eventually

OUTAGE_WAIT = 15  # the client's own retries (3, with backoff and jitter) come first
SET_UP_WAIT = 10  # a channel is set up in the background, after the declare is answered


# --------------------------------------------------------------------------- helpers


def incident(session_factory: sessionmaker[Session], number: int = 1) -> Incident | None:
    with session_factory() as session:
        query = (
            select(Incident)
            .where(Incident.number == number)
            .options(selectinload(Incident.events), selectinload(Incident.roles))
        )
        return session.scalar(query)


def events(session_factory: sessionmaker[Session], kind: str) -> list[TimelineEvent]:
    with session_factory() as session:
        query = select(TimelineEvent).where(TimelineEvent.kind == kind).order_by(TimelineEvent.id)
        return list(session.scalars(query))


def outbox(session_factory: sessionmaker[Session]) -> list[OutboxItem]:
    with session_factory() as session:
        return list(session.scalars(select(OutboxItem).order_by(OutboxItem.id)))


def count(session_factory: sessionmaker[Session], model: Any) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def declare(
    bot: BotServer, room: str, text: str, *, number: int = 1, user: str = ALICE
) -> Incident:
    """Declare through the slash command and wait until its channel is set up."""
    answer = bot.slash(f"declare {text}", user=user, channel=room, response_url=f"declare-{number}")
    assert answer.status == 200
    eventually(lambda: bot.double.responses_to(f"declare-{number}"))
    eventually(lambda: set_up(bot.handler.session_factory, number), SET_UP_WAIT)
    found = incident(bot.handler.session_factory, number)
    assert found is not None
    return found


def summary_message(double: SlackApiDouble, found: Incident) -> dict[str, Any]:
    assert found.channel_id is not None
    messages = double.messages_in(found.channel_id)
    return next(m for m in messages if m["ts"] == found.summary_message_ref)


def summary_controls(double: SlackApiDouble, found: Incident) -> dict[str, dict[str, Any]]:
    """The buttons and menus of the pinned summary, by label."""
    blocks = summary_message(double, found)["blocks"]
    elements = next(b for b in blocks if b["type"] == "actions")["elements"]
    return {(e.get("text") or e.get("placeholder"))["text"]: e for e in elements}


def summary_control(double: SlackApiDouble, found: Incident, label: str) -> dict[str, Any]:
    controls = summary_controls(double, found)
    assert label in controls, f"no {label!r} among {list(controls)}"
    return controls[label]


def api_calls(double: SlackApiDouble) -> list[str]:
    """Web API methods called and answered (not injected failures), in order."""
    skip = {"auth.test", "response_url"}
    return [c.method for c in double.calls if not c.injected and c.method not in skip]


# --------------------------------------------------------------------------- declaring


def test_declare_acks_at_once_answers_then_sets_up_the_channel(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    # Slack answers the first call slowly, so the work is still running when the ack arrives,
    # and when the person is answered.
    double.fail_next("conversations.create", delay=1.0)
    answer = bot.slash(
        "declare sev2 Checkout API returns 500s", user=ALICE, channel=room, response_url="d"
    )
    assert answer.status == 200
    assert answer.body == b""
    assert double.calls_to("conversations.create") == []  # acked before the work was done

    reply = eventually(lambda: double.responses_to("d"))
    assert reply[0]["text"] == (
        "Declared INC-1 (SEV2): Checkout API returns 500s. "
        "Its channel is being opened; you will be invited."
    )
    found = eventually(lambda: set_up(session_factory), SET_UP_WAIT)
    assert (found.reference, found.severity, found.title) == (
        "INC-1",
        "SEV2",
        "Checkout API returns 500s",
    )
    assert found.declared_by == ALICE
    assert found.channel_name == "inc-1-checkout-api-returns-500s"
    channel = found.channel_id
    assert [c.args["name"] for c in double.calls_to("conversations.create")] == [
        "inc-1-checkout-api-returns-500s"
    ]
    assert [
        (c.args["channel"], c.args["users"]) for c in double.calls_to("conversations.invite")
    ] == [(channel, ALICE)]
    topic = double.calls_to("conversations.setTopic")[0].args
    assert topic["channel"] == channel
    assert "SEV2" in topic["topic"] and "investigating" in topic["topic"]
    purpose = double.calls_to("conversations.setPurpose")[0].args
    assert purpose == {"channel": channel, "purpose": "INC-1: Checkout API returns 500s"}

    summary = summary_message(double, found)
    assert any(block["type"] == "actions" for block in summary["blocks"])
    assert double.channel(channel).pins == [found.summary_message_ref]
    assert ALICE in double.channel(channel).members
    announcement = double.messages_in("incidents")
    assert len(announcement) == 1
    assert "INC-1" in announcement[0]["text"]
    assert "#inc-1-checkout-api-returns-500s" in announcement[0]["text"]
    assert_set_up_calls(api_calls(double))

    assert reply[0]["response_type"] == "ephemeral"
    assert len(reply) == 1
    assert all(item.delivered_at is not None for item in outbox(session_factory))


def assert_set_up_calls(calls: list[str]) -> None:
    """A channel's set-up: created; then invited, topic, purpose, summary and announcement
    at once (in any order); then the summary pinned."""
    assert calls[0] == "conversations.create", calls
    assert calls[-1] == "pins.add", calls
    assert sorted(calls[1:-1]) == [
        "chat.postMessage",
        "chat.postMessage",
        "conversations.invite",
        "conversations.setPurpose",
        "conversations.setTopic",
    ], calls


def test_channel_names_for_other_scripts_and_taken_names(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    first = declare(bot, room, "결제 서비스 장애")
    assert first.channel_name == "inc-1"
    assert double.channel(first.channel_id).name == "inc-1"

    double.add_channel("inc-2-checkout-down")  # someone made it by hand
    second = declare(bot, room, "Checkout down", number=2)
    assert second.channel_name == "inc-2-checkout-down-2"
    assert [c.args["name"] for c in double.calls_to("conversations.create")] == [
        "inc-1",
        "inc-2-checkout-down",
        "inc-2-checkout-down-2",
    ]
    assert double.calls_to("conversations.create")[1].response["error"] == "name_taken"


# --------------------------------------------------------------------------- commands


def test_commands_in_the_incident_channel_update_it(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    found = declare(bot, room, "sev2 Checkout API returns 500s")
    channel = found.channel_id
    assert channel is not None
    double.reset_calls()

    assert bot.slash("status identified", user=ALICE, channel=channel).status == 200
    eventually(lambda: incident(session_factory).status == "identified")
    eventually(lambda: double.calls_to("conversations.setTopic"))
    assert any("identified" in m["text"] for m in double.messages_in(channel)[1:])
    update = double.calls_to("chat.update")[-1].args
    assert (update["channel"], update["ts"]) == (channel, found.summary_message_ref)
    assert "identified" in double.calls_to("conversations.setTopic")[-1].args["topic"]
    assert "identified" in summary_message(double, found)["text"]

    double.reset_calls()
    assert bot.slash("role commander <@U123|carol>", user=ALICE, channel=channel).status == 200
    eventually(lambda: incident(session_factory).current_roles() == {"commander": CAROL})
    eventually(lambda: double.calls_to("conversations.setTopic"))
    assert [c.args["users"] for c in double.calls_to("conversations.invite")] == [CAROL]
    assert CAROL in double.channel(channel).members
    announced = [m["text"] for m in double.messages_in(channel)[2:]]
    assert any(CAROL in text and "commander" in text for text in announced), announced
    assert double.calls_to("chat.update")[-1].args["ts"] == found.summary_message_ref
    assert f"IC: <@{CAROL}>" in double.calls_to("conversations.setTopic")[-1].args["topic"]

    # A note is recorded and confirmed to its author; it is not announced to the channel.
    posted = len(double.messages_in(channel))
    bot.slash("note Rolled back deploy 4711", user=BOB, channel=channel, response_url="note")
    reply = eventually(lambda: double.responses_to("note"))
    assert "Rolled back deploy 4711" in reply[0]["text"]
    assert reply[0]["response_type"] == "ephemeral"
    assert [e.text for e in events(session_factory, "note")] == ["Rolled back deploy 4711"]
    assert events(session_factory, "note")[0].actor == BOB
    assert len(double.messages_in(channel)) == posted


def test_command_outside_an_incident_channel_gets_a_hint_with_the_exact_command(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    bot.slash("status identified", user=BOB, channel=room, response_url="none-open")
    hint = eventually(lambda: double.responses_to("none-open"))[0]
    assert "`/incident status INC-<n> identified`" in html.unescape(hint["text"])
    assert hint["response_type"] == "ephemeral"

    declare(bot, room, "sev2 Checkout API returns 500s")
    bot.slash("status identified", user=BOB, channel=room, response_url="one-open")
    hint = eventually(lambda: double.responses_to("one-open"))[0]
    assert "`/incident status INC-1 identified`" in hint["text"]
    assert incident(session_factory).status == "investigating"


# --------------------------------------------------------------------------- verification


def test_unsigned_stale_or_forged_requests_are_refused_and_secrets_stay_out_of_logs(
    settings: Settings,
    double: SlackApiDouble,
    room: str,
    session_factory,
    caplog: pytest.LogCaptureFixture,
):
    # Bolt fixes its loggers' level when the app is built: raise it first.
    caplog.set_level(logging.DEBUG)
    with BotServer(settings, session_factory, double) as bot:
        check_refusals_and_logs(bot, double, room, session_factory, caplog)


def check_refusals_and_logs(
    bot: BotServer,
    double: SlackApiDouble,
    room: str,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fields = {
        "command": "/incident",
        "text": "declare sev1 Forged",
        "user_id": ALICE,
        "channel_id": room,
        "team_id": double.team_id,
        "trigger_id": "1.2.3",
        "response_url": double.response_url("forged"),
    }
    body = urlencode(fields).encode()
    form = "application/x-www-form-urlencoded"
    now = str(int(time.time()))
    wrong = slack_signature("not-the-secret", now, body)
    stale = str(int(time.time()) - 6 * 60)

    assert bot.post(body, form, signature=wrong).status == 401
    assert bot.post(body, form, signed=False).status == 401
    timestamp_only = {"X-Slack-Request-Timestamp": now}
    assert bot.post(body, form, headers=timestamp_only, signed=False).status == 401
    assert bot.post(body, form, timestamp=stale).status == 401
    tampered = bot.post(
        body + b"x", form, timestamp=now, signature=slack_signature(SIGNING_SECRET, now, body)
    )
    assert tampered.status == 401
    assert bot.post_json({"type": "event_callback"}, signature="v0=" + "0" * 64).status == 401

    # A properly signed request works, so the secret and token were in use while logging.
    declare(bot, room, "sev2 Checkout API returns 500s")
    bot.settle()
    assert count(session_factory, Incident) == 1  # only the signed one
    assert incident(session_factory).title == "Checkout API returns 500s"
    assert double.responses_to("forged") == []
    loggers = {record.name.split(".")[0] for record in caplog.records}
    assert {"slack_bolt", "slack_sdk"} <= loggers, loggers
    refusals = [r for r in caplog.records if r.name == "bot.chat.slack.http_front"]
    assert len(refusals) == 6  # one line for each refused request
    assert SIGNING_SECRET not in caplog.text
    assert double.token not in caplog.text


def test_url_verification_challenge_is_answered(bot: BotServer):
    answer = bot.post_json(
        {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY"}
    )
    assert answer.status == 200
    assert answer.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY"}


def test_nothing_reaches_the_database_without_a_valid_signature(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    before = snapshot(session_factory)
    stale = str(int(time.time()) - 301)
    forged = "v0=" + "ab" * 32
    assert (
        bot.slash("declare sev1 Forged", user=ALICE, channel=room, signature=forged).status == 401
    )
    assert bot.slash("declare sev1 Replayed", user=ALICE, channel=room, timestamp=stale).status == (
        401
    )
    mention = {"type": "app_mention", "user": ALICE, "channel": room, "text": "declare X"}
    assert bot.event(mention, signed=False).status == 401
    bot.settle()
    assert snapshot(session_factory) == before
    assert double.calls == []


# --------------------------------------------------------------------------- buttons and forms


def test_summary_buttons_menus_and_forms_run_commands(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    found = declare(bot, room, "sev2 Checkout API returns 500s")
    channel = found.channel_id

    identified = summary_control(double, found, "Identified")
    assert identified["action_id"].startswith("run:")
    answer = bot.block_action(identified, user=ALICE, channel=channel)
    assert (answer.status, answer.body) == (200, b"")
    eventually(lambda: incident(session_factory).status == "identified")

    menu = summary_control(double, found, "Change severity")
    assert menu["action_id"].startswith("choose:")
    sev1 = next(o for o in menu["options"] if o["value"].endswith("SEV1"))
    bot.block_action({**menu, "selected_option": sev1}, user=ALICE, channel=channel)
    eventually(lambda: incident(session_factory).severity == "SEV1")
    eventually(lambda: "SEV1" in summary_message(double, found)["text"])

    add_note = summary_control(double, found, "Add note…")
    assert add_note["action_id"].startswith("ask_text:")
    bot.block_action(add_note, user=BOB, channel=channel)
    opened = eventually(lambda: double.calls_to("views.open"))
    view = next(iter(double.views.values()))
    assert view["callback_id"] == "ask_text"
    assert opened[0].args["trigger_id"]

    empty = bot.view_submission(
        view, {"text": {"type": "plain_text_input", "value": " "}}, user=BOB
    )
    assert empty.status == 200
    assert empty.json()["response_action"] == "errors"
    assert "text" in empty.json()["errors"]

    text = {"text": {"type": "plain_text_input", "value": "Cache flushed on all nodes"}}
    answer = bot.view_submission(view, text, user=BOB)
    assert (answer.status, answer.body) == (200, b"")
    eventually(
        lambda: [e.text for e in events(session_factory, "note")] == ["Cache flushed on all nodes"]
    )
    assert events(session_factory, "note")[0].actor == BOB
    # Bob is not in the incident channel, so the confirmation comes as a direct message.
    direct = eventually(
        lambda: [c for c in double.calls_to("chat.postMessage") if c.args["channel"] == BOB]
    )
    assert "Cache flushed" in direct[0].args["text"]

    resolve = summary_control(double, found, "Resolve…")
    bot.block_action(resolve, user=ALICE, channel=channel)
    eventually(lambda: len(double.views) == 2)
    view = next(v for v in double.views.values() if "resolve" in v["private_metadata"])
    done = {"text": {"type": "plain_text_input", "value": "Rolled back the bad deploy"}}
    bot.view_submission(view, done, user=ALICE)
    eventually(lambda: incident(session_factory).status == "resolved")
    assert incident(session_factory).summary == "Rolled back the bad deploy"
    # Alice sees the announcement in the channel itself; nobody is told twice.
    eventually(lambda: any("Rolled back the bad" in m["text"] for m in double.messages_in(channel)))
    eventually(lambda: summary_control(double, found, "Reopen"))


def test_role_buttons_assign_the_clicker_or_the_person_chosen(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    found = declare(bot, room, "sev2 Checkout API returns 500s")
    channel = found.channel_id

    take = summary_control(double, found, "Take commander")
    bot.block_action(take, user=ALICE, channel=channel)
    eventually(lambda: incident(session_factory).current_roles() == {"commander": ALICE})
    # The refreshed summary no longer offers it.
    eventually(lambda: "Take commander" not in summary_controls(double, found))

    assign = summary_control(double, found, "Assign role…")
    assert assign["action_id"].startswith("ask_person:")
    bot.block_action(assign, user=ALICE, channel=channel)
    view = eventually(lambda: next(iter(double.views.values()), None))
    assert view["callback_id"] == "ask_person"
    scribe = {"type": "static_select", "selected_option": {"value": "scribe"}}
    person = {"type": "users_select", "selected_user": BOB}
    answer = bot.view_submission(view, {"role": scribe, "person": person}, user=ALICE)
    assert (answer.status, answer.body) == (200, b"")
    eventually(
        lambda: incident(session_factory).current_roles() == {"commander": ALICE, "scribe": BOB}
    )
    eventually(lambda: BOB in double.channel(channel).members)


def test_empty_slash_command_opens_the_declare_form(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    assert bot.slash("", user=ALICE, channel=room).status == 200
    eventually(lambda: double.calls_to("views.open"))
    view = next(iter(double.views.values()))
    assert view["callback_id"] == "declare"
    assert [b["block_id"] for b in view["blocks"]] == [
        "title",
        "severity",
        "service",
        "description",
        "started",
        "declared",
    ]

    def values(title: str | None, started: int | None = None) -> dict[str, dict[str, Any]]:
        return {
            "title": {"type": "plain_text_input", "value": title},
            "severity": {
                "type": "static_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": "SEV1"},
                    "value": "SEV1",
                },
            },
            "service": {"type": "plain_text_input", "value": "payments"},
            "description": {
                "type": "plain_text_input",
                "value": "Card payments wait in a queue for minutes.",
            },
            "started": {"type": "datetimepicker", "selected_date_time": started},
        }

    refused = bot.view_submission(view, values(None), user=ALICE)
    assert refused.status == 200
    assert refused.json()["response_action"] == "errors"
    assert set(refused.json()["errors"]) == {"title"}

    future = int(time.time()) + 3600
    refused = bot.view_submission(view, values("Payments delayed", future), user=ALICE)
    assert set(refused.json()["errors"]) == {"started"}
    bot.settle()
    assert count(session_factory, Incident) == 0

    started = int((datetime.now(UTC) - timedelta(minutes=20)).timestamp())
    accepted = bot.view_submission(view, values("Payments delayed", started), user=ALICE)
    assert (accepted.status, accepted.body) == (200, b"")
    found = eventually(lambda: incident(session_factory))
    assert found.title == "Payments delayed"
    assert found.severity == "SEV1"
    assert found.service == "payments"
    assert found.description == "Card payments wait in a queue for minutes."
    assert found.started_at == datetime.fromtimestamp(started, UTC)
    eventually(lambda: double.calls_to("pins.add"))
    # The answer goes to the person in the channel the form was opened from.
    told = eventually(lambda: double.ephemerals_in(room))
    assert told[0]["to_user"] == ALICE and "INC-1" in told[0]["text"]


# --------------------------------------------------------------------------- the timeline


def reaction(kind: str, channel: str, ts: str, *, user: str = ALICE) -> dict[str, Any]:
    return {
        "type": kind,
        "user": user,
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "item_user": BOB,
    }


def test_pinned_messages_go_on_the_timeline_once_and_follow_edits_and_unpinning(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    found = declare(bot, room, "sev2 Checkout API returns 500s")
    channel = found.channel_id
    ts = double.add_message(channel, "p99 latency is back under 300 ms", user=BOB)

    added = reaction("reaction_added", channel, ts)
    assert bot.event(added, event_id="Ev-pin").status == 200
    captured = eventually(lambda: events(session_factory, "chat_message"))
    entry = captured[0]
    assert entry.text == "p99 latency is back under 300 ms"
    assert entry.actor == ALICE
    assert entry.data["author"] == BOB
    assert entry.occurred_at == posted_at(ts)
    assert entry.data["permalink"].startswith(
        f"https://incident-double.slack.com/archives/{channel}/"
    )
    confirmation = eventually(
        lambda: [
            m for m in double.messages_in(channel) if m.get("thread_ts") == ts and m["ts"] != ts
        ]
    )
    assert "INC-1" in confirmation[0]["text"]

    # Slack delivers the same event again: nothing changes.
    assert bot.event(added, event_id="Ev-pin", retry_num=1).status == 200
    bot.settle()
    assert len(events(session_factory, "chat_message")) == 1
    replies = [m for m in double.messages_in(channel) if m.get("thread_ts") == ts and m["ts"] != ts]
    assert len(replies) == 1

    edited = {
        "type": "message",
        "subtype": "message_changed",
        "channel": channel,
        "hidden": True,
        "ts": str(time.time()),
        "message": {
            "type": "message",
            "user": BOB,
            "text": "p99 latency is back under 250 ms",
            "ts": ts,
            "edited": {"user": BOB, "ts": str(time.time())},
        },
        "previous_message": {"type": "message", "user": BOB, "text": entry.text, "ts": ts},
    }
    bot.event(edited, event_id="Ev-edit")
    eventually(lambda: events(session_factory, "note_edited"))
    assert events(session_factory, "chat_message")[0].text == "p99 latency is back under 250 ms"
    assert events(session_factory, "note_edited")[0].data["old_text"] == entry.text

    bot.event(reaction("reaction_removed", channel, ts), event_id="Ev-unpin")
    deleted = eventually(lambda: events(session_factory, "note_deleted"))
    assert deleted[0].data["note_id"] == entry.id
    assert events(session_factory, "chat_message")[0].deleted_at is not None


def test_a_pinned_reply_in_a_thread_keeps_its_text(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    found = declare(bot, room, "sev2 Checkout API returns 500s")
    channel = found.channel_id
    parent = double.add_message(channel, "what do the pool metrics say?", user=ALICE)
    reply = double.add_message(channel, "pool is exhausted at 14:02", user=BOB, thread_ts=parent)

    bot.event(reaction("reaction_added", channel, reply), event_id="Ev-thread-pin")

    captured = eventually(lambda: events(session_factory, "chat_message"))
    assert captured[0].text == "pool is exhausted at 14:02"
    assert captured[0].data["author"] == BOB
    assert captured[0].occurred_at == posted_at(reply)


def test_only_the_timeline_reaction_on_messages_counts(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    found = declare(bot, room, "sev2 Checkout API returns 500s")
    ts = double.add_message(found.channel_id, "looking", user=BOB)
    other = {**reaction("reaction_added", found.channel_id, ts), "reaction": "eyes"}
    bot.event(other)
    outside = double.add_message(room, "unrelated", user=BOB)
    bot.event(reaction("reaction_added", room, outside))
    bot.settle()
    assert events(session_factory, "chat_message") == []


def test_pinning_the_bots_own_messages_adds_nothing(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    found = declare(bot, room, "sev2 Checkout API returns 500s")
    summary = found.summary_message_ref
    pin = {**reaction("reaction_added", found.channel_id, summary), "item_user": double.bot_user_id}
    bot.event(pin)
    bot.settle()
    assert events(session_factory, "chat_message") == []
    assert not [m for m in double.messages_in(found.channel_id) if m.get("thread_ts") == summary]


def test_with_capture_all_the_bots_own_messages_are_ignored(
    settings: Settings, session_factory, double: SlackApiDouble, room: str
):
    every_message = dataclasses.replace(settings, capture_all_messages=True)
    with BotServer(every_message, session_factory, double) as bot:
        found = declare(bot, room, "sev2 Checkout API returns 500s")
        channel = found.channel_id
        own = {
            "type": "message",
            "channel": channel,
            "user": double.bot_user_id,
            "bot_id": "B0BOT",
            "text": "INC-1: status identified",
            "ts": "1764000000.000100",
        }
        bot.event(own)
        changed_own = {
            "type": "message",
            "subtype": "message_changed",
            "channel": channel,
            "message": {**own, "text": "edited by the bot"},
        }
        bot.event(changed_own)
        bot.settle()
        assert events(session_factory, "chat_message") == []

        human = {
            "type": "message",
            "channel": channel,
            "user": BOB,
            "text": "rolling back now",
            "ts": "1764000001.000200",
        }
        bot.event(human)
        entry = eventually(lambda: events(session_factory, "chat_message"))[0]
        assert (entry.text, entry.data["author"]) == ("rolling back now", BOB)


# --------------------------------------------------------------------------- Slack failing


def test_slack_outage_loses_nothing_and_delivers_in_order_when_back(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    double.outage = True
    answer = bot.slash("declare sev1 Checkout API returns 500s", user=ALICE, channel=room)
    assert (answer.status, answer.body) == (200, b"")
    found = eventually(lambda: incident(session_factory))
    assert [e.kind for e in found.events] == ["declared"]
    assert [i.kind for i in outbox(session_factory)] == ["open_channel", "announce_declared"]
    # The delivery pool tried to open the channel, and gave up for now.
    eventually(lambda: outbox(session_factory)[0].attempts, OUTAGE_WAIT)
    waiting = outbox(session_factory)
    assert [i.delivered_at for i in waiting] == [None, None]
    assert waiting[0].attempts == 1 and "service_unavailable" in (waiting[0].last_error or "")
    assert all(c.injected for c in double.calls)

    double.outage = False
    double.reset_calls()
    assert bot.application.deliverer.deliver_pending() == 0
    found = incident(session_factory)
    assert found.channel_name == "inc-1-checkout-api-returns-500s"
    # Work tried before looks first for what it may have done (a channel, a post).
    lookups = {"conversations.list", "conversations.history"}
    assert_set_up_calls([call for call in api_calls(double) if call not in lookups])
    assert double.channel(found.channel_id).pins == [found.summary_message_ref]
    assert "INC-1" in double.messages_in("incidents")[0]["text"]
    assert all(i.delivered_at is not None for i in outbox(session_factory))


def test_a_restarted_bot_delivers_what_waited(
    settings: Settings, session_factory, double: SlackApiDouble, room: str
):
    double.outage = "reset"  # Slack not even answering: connections are cut
    with BotServer(settings, session_factory, double) as before:
        before.slash("declare sev1 Checkout API returns 500s", user=ALICE, channel=room)
        eventually(lambda: incident(session_factory))
        before.settle(timeout=OUTAGE_WAIT)
    assert incident(session_factory).channel_id is None
    assert [i.delivered_at for i in outbox(session_factory)] == [None, None]

    double.outage = False
    with BotServer(settings, session_factory, double):  # its delivery pool starts, as in `run`
        eventually(lambda: set_up(session_factory), OUTAGE_WAIT)
    found = incident(session_factory)
    assert found.channel_name == "inc-1-checkout-api-returns-500s"
    assert double.channel(found.channel_id).pins == [found.summary_message_ref]
    assert all(i.delivered_at is not None for i in outbox(session_factory))


def test_rate_limited_post_is_retried_after_retry_after(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    double.fail_next("chat.postMessage", status=429, retry_after=1)
    found = declare(bot, room, "sev2 Checkout API returns 500s")
    limited, *others = double.calls_to("chat.postMessage")
    assert (limited.http_status, limited.injected) == (429, True)
    again = [c for c in others if c.args["channel"] == limited.args["channel"]]
    assert [(c.http_status, c.injected) for c in again] == [(200, False)]
    assert summary_message(double, found)["ts"] == found.summary_message_ref
    assert double.channel(found.channel_id).pins == [found.summary_message_ref]
    assert all(i.delivered_at is not None and i.last_error is None for i in outbox(session_factory))

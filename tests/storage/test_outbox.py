"""Chat work survives a chat outage and a restart, and is delivered in order."""

from sqlalchemy import select

from bot.app import Application
from bot.storage.models import OutboxItem
from tests.support.people import Person

DECLARE = "declare sev2 Checkout API returns 500s"


def outbox_items(session_factory):
    with session_factory() as session:
        return session.scalars(select(OutboxItem).order_by(OutboxItem.id)).all()


def test_work_waits_while_the_chat_is_down_and_goes_out_in_order(
    alice, application, chat, session_factory
):
    chat.down = True
    alice.says(DECLARE)
    alice.says("status INC-1 identified")
    waiting = outbox_items(session_factory)
    assert [item.kind for item in waiting] == [
        "open_channel",
        "announce_declared",
        "announce_event",
        "refresh_summary",
    ]
    assert all(item.delivered_at is None for item in waiting)
    assert waiting[0].attempts == 2 and "chat unreachable" in waiting[0].last_error

    chat.down = False
    remaining = application.deliverer.deliver_pending()

    assert remaining == 0
    # The channel's set-up was tried before, so it looks first: for the channel by name,
    # for the summary and the announcement (which goes with the set-up) by their markers.
    assert chat.methods() == [
        "find_channel",
        "create_channel",
        "invite",
        "set_topic",
        "set_purpose",
        "find_posted",
        "post",
        "find_posted",
        "post",
        "pin",
        "post",
        "update",
        "set_topic",
    ]
    assert chat.texts_in("C0001")[-1] == (
        "INC-1: Status changed from investigating to identified (by @alice)"
    )
    assert chat.texts_in("incidents") == [
        "@alice declared INC-1 SEV2: Checkout API returns 500s. "
        "Join #inc-1-checkout-api-returns-500s."
    ]


def test_a_restarted_bot_delivers_what_the_previous_one_could_not(
    settings, session_factory, chat, clock
):
    chat.down = True
    before_restart = Application(settings, session_factory=session_factory, chat=chat, clock=clock)
    Person(before_restart.handler, "alice").says(DECLARE)
    assert chat.calls == []

    chat.down = False
    after_restart = Application(settings, session_factory=session_factory, chat=chat, clock=clock)
    assert after_restart.deliverer.deliver_pending() == 0
    assert chat.methods()[:2] == ["find_channel", "create_channel"]  # it was tried before
    assert all(item.delivered_at is not None for item in outbox_items(session_factory))


def test_a_refused_item_is_given_up_without_blocking_the_rest(alice, chat, session_factory):
    chat.refuse = {"pin"}

    reply = alice.says(DECLARE)

    assert reply.open_channel is not None
    items = outbox_items(session_factory)
    assert items[0].kind == "open_channel" and items[0].failed_at is not None
    assert items[0].last_error == "pin: refused"
    assert items[1].kind == "announce_declared" and items[1].delivered_at is not None
    assert chat.texts_in("incidents")


def test_an_interrupted_channel_set_up_resumes_without_a_second_channel(
    alice, application, chat, session_factory
):
    chat.fail_once = {"post"}  # the summary post times out after the channel exists

    reply = alice.says(DECLARE)
    assert "not answering" in reply.message.lines[-1]
    application.deliverer.deliver_pending()

    assert chat.methods().count("create_channel") == 1
    assert chat.methods().count("pin") == 1
    assert all(item.delivered_at is not None for item in outbox_items(session_factory))


def test_several_summary_refreshes_are_sent_once(alice, application, chat, session_factory):
    alice.says(DECLARE)
    chat.down = True
    alice.says("status identified")
    alice.says("sev 1")
    alice.says("role commander @me")
    chat.down = False
    chat.calls.clear()

    application.deliverer.deliver_pending()

    assert chat.methods().count("update") == 1
    assert chat.methods().count("post") == 3


def test_configured_links_are_bookmarked_in_the_new_channel(settings, session_factory, chat, clock):
    from dataclasses import replace

    linked = replace(
        settings,
        incident_links=(
            ("Dashboard", "https://grafana.example.com/d/{service}"),
            ("Status page", "https://status.example.com/incidents/{reference}"),
        ),
    )
    handler = Application(linked, session_factory=session_factory, chat=chat, clock=clock).handler
    Person(handler, "alice").says("declare sev2 Checkout down service:checkout")

    bookmarks = [args for method, args in chat.calls if method == "bookmark"]
    assert bookmarks == [
        ("C0001", "Dashboard", "https://grafana.example.com/d/checkout"),
        ("C0001", "Status page", "https://status.example.com/incidents/INC-1"),
    ]

"""`/incident postmortem` in chat: the draft is shared in the channel with its review."""

from dataclasses import replace

from sqlalchemy import select

from bot.app import Application
from bot.storage.models import OutboxItem, Postmortem
from tests.support.db_reads import events
from tests.support.people import Person
from tests.support.shell import run_shell

DECLARE = "declare sev2 Checkout API returns 500s"


def test_drafting_shares_the_file_and_reports_the_review(alice, chat, session_factory):
    alice.says(DECLARE)
    alice.says("note Root cause was human error during the deploy")
    alice.says("resolve Rolled back to v41")

    reply = alice.says("postmortem")

    assert reply.message.text == (
        "Postmortem draft for INC-1 shared in #inc-1-checkout-api-returns-500s: "
        "INC-1-postmortem.md (owner @alice, due 2026-12-02)."
    )
    assert reply.message.tone == "warning"
    assert any('"human error"' in line for line in reply.message.lines)
    upload = [args for method, args in chat.calls if method == "upload"]
    assert upload == [
        ("C0001", "INC-1-postmortem.md", "Postmortem draft for INC-1: Checkout API returns 500s")
    ]
    content = chat.files["INC-1-postmortem.md"]
    assert "Checkout API returns 500s" in content
    assert "Rolled back to v41" in content
    assert "<!-- blameless-review:start -->" in content


def test_the_postmortem_starts_once_on_the_timeline(alice, session_factory):
    alice.says(DECLARE)
    alice.says("resolve Rolled back")

    alice.says("postmortem")
    alice.says("postmortem --format html")

    started = [e for e in events(session_factory) if e.kind == "postmortem_started"]
    assert [e.text for e in started] == ["Postmortem draft started (owner alice, due 2026-12-02)"]
    with session_factory() as session:
        row = session.scalars(select(Postmortem)).one()
    assert (row.status, row.owner, str(row.due_date)) == ("draft", "alice", "2026-12-02")


def test_format_and_template_are_chosen_in_the_command(alice, chat):
    alice.says(DECLARE)
    alice.says("postmortem --template executive --format html")
    (name,) = chat.files
    assert name == "INC-1-postmortem-executive.html"
    assert chat.files[name].startswith("<!DOCTYPE html>")


def test_an_unknown_template_is_refused_and_nothing_is_queued(alice, session_factory):
    alice.says(DECLARE)
    reply = alice.says("postmortem --template nope")
    assert reply.message.tone == "error"
    assert "nope" in reply.message.text
    with session_factory() as session:
        kinds = session.scalars(select(OutboxItem.kind)).all()
    assert "share_postmortem" not in kinds


def test_bad_options_get_the_usage(alice):
    alice.says(DECLARE)
    reply = alice.says("postmortem --format pdf")
    assert reply.message.text == (
        "Unknown format `pdf`; use md or html. Usage: "
        "`/incident postmortem [INC-n] [--format md|html] [--template NAME]`"
    )


def test_a_draft_waits_for_the_chat_and_is_shared_when_it_is_back(alice, application, chat):
    alice.says(DECLARE)
    chat.down = True
    reply = alice.says("postmortem")
    assert "not answering" in reply.message.lines[-1]
    assert chat.files == {}

    chat.down = False
    application.deliverer.deliver_pending()
    assert list(chat.files) == ["INC-1-postmortem.md"]


def test_resolving_can_draft_the_postmortem_automatically(settings, session_factory, chat, clock):
    automatic = replace(settings, postmortem_auto_on_resolve=True)
    handler = Application(
        automatic, session_factory=session_factory, chat=chat, clock=clock
    ).handler
    dana = Person(handler, "dana", channel_id="C-GENERAL")
    dana.says(DECLARE)
    assert chat.files == {}

    dana.says("resolve Restarted the pool")

    assert list(chat.files) == ["INC-1-postmortem.md"]


def test_the_terminal_writes_the_file_and_says_where(tmp_path):
    result = run_shell(
        tmp_path,
        [
            "/incident declare sev3 Slow search",
            "/incident resolve Reindexed",
            "/incident postmortem",
        ],
        "shell",
        "--user",
        "erin",
    )
    written = tmp_path / "postmortems" / "INC-1-postmortem.md"
    assert written.is_file()
    assert str(written) in result.stdout.replace("\n", "")
    assert "Slow search" in written.read_text(encoding="utf-8")

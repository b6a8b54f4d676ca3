"""Block Kit rendering stays within Slack's limits and keeps user text inert."""

from bot.chat.port import Action, Choice, Message, Table
from bot.chat.slack.blocks import render_blocks, slack_escape


def test_user_text_is_escaped_but_mentions_and_channel_links_still_work():
    text = "a <b>bold</b> & <!channel> move by <@U123ABC> in <#C0001|inc-1>"
    assert slack_escape(text) == (
        "a &lt;b&gt;bold&lt;/b&gt; &amp; &lt;!channel&gt; move by <@U123ABC> in <#C0001|inc-1>"
    )


def test_fields_are_split_into_sections_of_ten():
    message = Message(text="t", fields=tuple((f"L{i}", f"v{i}") for i in range(23)))
    sections = [b for b in render_blocks(message) if "fields" in b]
    assert [len(b["fields"]) for b in sections] == [10, 10, 3]


def test_a_huge_table_never_exceeds_fifty_blocks_or_3000_characters_a_section():
    rows = tuple(
        (f"2026-11-25 14:{i % 60:02d}", f"#{i}", "note", "@a", "x" * 200) for i in range(2000)
    )
    blocks = render_blocks(Message(text="t", table=Table(columns=("a",) * 5, rows=rows)))
    assert len(blocks) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if "text" in b)
    assert blocks[-1]["text"]["text"].endswith("more sections not shown._")


def test_actions_become_buttons_and_menus_whose_values_are_commands():
    message = Message(
        text="t",
        actions=(
            Action("Identified", "status INC-1 identified"),
            Action("Resolve…", "resolve INC-1", asks="text", style="primary"),
            Action("Assign role…", "role INC-1", asks="person"),
            Action("Change severity", choices=(Choice("SEV1: worst", "sev INC-1 SEV1"),)),
        ),
    )
    actions = render_blocks(message)[-1]
    assert actions["type"] == "actions"
    kinds = [(e["type"], e["action_id"], e.get("value")) for e in actions["elements"]]
    assert kinds == [
        ("button", "run:0", "status INC-1 identified"),
        ("button", "ask_text:1", "resolve INC-1"),
        ("button", "ask_person:2", "role INC-1"),
        ("static_select", "choose:3", None),
    ]
    assert actions["elements"][1]["style"] == "primary"
    assert actions["elements"][3]["options"][0]["value"] == "sev INC-1 SEV1"

"""Block Kit rendering stays within Slack's limits and keeps user text inert."""

from bot.chat.port import Action, Choice, Message, Table
from bot.chat.slack.blocks import bot_mention, clip, render_blocks, slack_escape


def test_typed_markup_stays_text_and_only_the_bots_own_mentions_ping():
    typed = (
        "a <b>bold</b> & <!channel> <!here> move by <@U123ABC> in <#C0001|inc-1> "
        "<https://evil.example|docs>"
    )
    assert slack_escape(f"{typed}, said {bot_mention('U0ALICE')}") == (
        "a &lt;b&gt;bold&lt;/b&gt; &amp; &lt;!channel&gt; &lt;!here&gt; move by &lt;@U123ABC&gt; "
        "in &lt;#C0001|inc-1&gt; &lt;https://evil.example|docs&gt;, said <@U0ALICE>"
    )
    # A mention written like the bot's but without its key is text too.
    assert slack_escape("<@U123|0123456789abcdef>") == "&lt;@U123|0123456789abcdef&gt;"


def test_clipping_never_cuts_an_entity_or_a_mention_in_two():
    assert clip("x" * 8 + "&amp;", 10) == "x" * 8 + "…"
    assert clip("x" * 6 + "<@U0ALICE> y", 10) == "x" * 6 + "…"
    assert clip("x" * 20, 10) == "x" * 9 + "…"
    assert clip("short &amp; <@U1>", 100) == "short &amp; <@U1>"


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

"""Block Kit rendering of chat-neutral messages, within Slack's limits."""

from __future__ import annotations

import re
import secrets
from typing import Any

from bot.chat.port import Action, Message

SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_PER_SECTION = 10
BLOCKS_MAX = 50
ACTIONS_MAX = 25
OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
MESSAGE_TEXT_MAX = 40000  # beyond this Slack answers msg_too_long
# How a button's action id says what to do with its command.
ACTION_KINDS = {"nothing": "run", "text": "ask_text", "person": "ask_person"}
# The bot's own mentions carry this key (new each start), so rendering tells them from
# mentions someone typed into a title or a note, which must stay text and ping nobody.
_MENTION_KEY = secrets.token_hex(8)
_BOT_MENTION = re.compile(rf"&lt;@([^|]+?)\|{_MENTION_KEY}&gt;")
# What clipping must not cut in two: an entity (&amp;) or markup (<@U123>).
_OPEN_MARKUP = re.compile(r"(&[a-z]*|<[^>]*)$")

Block = dict[str, Any]


def bot_mention(user: str) -> str:
    """A mention the bot writes into a message; `slack_escape` makes it ping `user`."""
    return f"<@{user}|{_MENTION_KEY}>"


def slack_escape(text: str) -> str:
    """Text as Slack shows it literally (&, < and > escaped): typed `<!channel>`, `<@U…>`
    or `<https://…|label>` stay text, while the bot's own mentions still work."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BOT_MENTION.sub(r"<@\1>", escaped)


def clip(markup: str, limit: int) -> str:
    """Escaped text cut to `limit` characters, never inside an entity or a mention."""
    if len(markup) <= limit:
        return markup
    return _OPEN_MARKUP.sub("", markup[: limit - 1]) + "…"


def clip_plain(text: str, limit: int) -> str:
    """Plain text (labels, options) cut to `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT_MAX)}}


def payload(message: Message) -> dict[str, Any]:
    """The `text` (notifications, screen readers) and `blocks` arguments of a Slack message."""
    text = clip(slack_escape(message.text), MESSAGE_TEXT_MAX)
    return {"text": text, "blocks": render_blocks(message)}


def render_blocks(message: Message) -> list[Block]:
    """Title, fields, table rows and lines as sections; never more than Slack accepts."""
    blocks: list[Block] = [_section(f"*{slack_escape(message.title or message.text)}*")]
    fields = [
        {
            "type": "mrkdwn",
            "text": clip(f"*{slack_escape(label)}*\n{slack_escape(value)}", FIELD_TEXT_MAX),
        }
        for label, value in message.fields
    ]
    for start in range(0, len(fields), FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[start : start + FIELDS_PER_SECTION]})
    if message.table is not None:
        blocks += _table_sections(message.table.columns, message.table.rows)
    if message.lines:
        blocks.append(_section("\n".join(slack_escape(line) for line in message.lines)))
    limit = BLOCKS_MAX - (1 if message.actions else 0)
    if len(blocks) > limit:
        hidden = len(blocks) - limit + 1
        blocks = [*blocks[: limit - 1], _section(f"_{hidden} more sections not shown._")]
    if message.actions:
        blocks.append(_actions_block(message.actions))
    return blocks


def _actions_block(actions: tuple[Action, ...]) -> Block:
    """Buttons and menus whose value is the command to run (action ids say how)."""
    elements: list[Block] = []
    for index, action in enumerate(actions[:ACTIONS_MAX]):
        if action.choices:
            elements.append(
                {
                    "type": "static_select",
                    "action_id": f"choose:{index}",
                    "placeholder": plain_text(action.label),
                    "options": [
                        {
                            "text": plain_text(clip_plain(choice.label, OPTION_TEXT_MAX)),
                            "value": choice.command,
                        }
                        for choice in action.choices[:OPTIONS_MAX]
                    ],
                }
            )
            continue
        button: Block = {
            "type": "button",
            "action_id": f"{ACTION_KINDS[action.asks]}:{index}",
            "text": plain_text(action.label),
            "value": action.command,
        }
        if action.style != "default":
            button["style"] = action.style
        elements.append(button)
    return {"type": "actions", "block_id": "incident_actions", "elements": elements}


def plain_text(text: str) -> Block:
    return {"type": "plain_text", "text": text, "emoji": True}


def _table_sections(columns: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> list[Block]:
    """Rows as lines of `first column · the rest`, packed into sections of at most 3000 chars."""
    sections: list[Block] = []
    chunk: list[str] = []
    size = 0
    for row in rows:
        head, *rest = (slack_escape(cell) for cell in row)
        line = f"`{head}` " + " · ".join(cell for cell in rest if cell)
        line = clip(line, SECTION_TEXT_MAX)
        if chunk and size + len(line) + 1 > SECTION_TEXT_MAX:
            sections.append(_section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        sections.append(_section("\n".join(chunk)))
    if not rows:
        sections.append(_section("_" + " · ".join(columns) + ": nothing yet._"))
    return sections

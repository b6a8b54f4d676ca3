"""Configured lists of people and groups (`U0123ABCD`, `alice`, `group:oncall`).

Whether someone is in a group is the chat's business (a Slack user group, the terminal
chat's configured groups): it is passed in as a callable, so the domain never asks a
chat itself. Groups are asked last, and only when no person named in the list matches.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from bot.setting_values import GROUP_PREFIX

GroupMembers = Callable[[str], Collection[str]]  # a group's name or id -> its members now


@dataclass(frozen=True)
class PeopleList:
    """People named one by one, and groups whose members count as named."""

    entries: tuple[str, ...]
    group_members: GroupMembers

    def __bool__(self) -> bool:
        return bool(self.entries)

    def includes(self, person: str) -> bool:
        groups = [entry for entry in self.entries if entry.startswith(GROUP_PREFIX)]
        if person in self.entries and person not in groups:
            return True
        return any(
            person in self.group_members(group.removeprefix(GROUP_PREFIX)) for group in groups
        )

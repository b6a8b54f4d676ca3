"""usergroups.list and usergroups.users.list: the workspace's user groups and who is in them."""

from __future__ import annotations

from typing import Any

from tests.support.slack_double.args import ApiError, flag, require
from tests.support.slack_double.records import UserGroup
from tests.support.slack_double.state import WorkspaceState


class UserGroupMethods(WorkspaceState):
    """User groups by ID (`S...`) with a handle (`@oncall`) and members, as Slack lists them."""

    def add_usergroup(self, handle: str, members: list[str], name: str = "") -> str:
        unknown = [m for m in members if m not in self.users]
        if unknown:
            raise ValueError(f"unknown users {unknown}: add them with add_user() first")
        group = UserGroup(self.new_id("S"), handle, name or handle, list(members))
        self.usergroups[group.id] = group
        return group.id

    def usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        with_users = flag(args, "include_users")
        listed = []
        for group in self.usergroups.values():
            shown = self.usergroup_json(group)
            if flag(args, "include_count"):
                shown["user_count"] = len(group.members)
            if with_users:
                shown["users"] = list(group.members)
            listed.append(shown)
        return {"usergroups": listed}

    def usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(require(args, "usergroup"))
        if group is None:
            raise ApiError("no_such_subteam")
        return {"users": list(group.members)}

    def usergroup_json(self, group: UserGroup) -> dict[str, Any]:
        return {
            "id": group.id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "name": group.name,
            "description": "",
            "handle": group.handle,
            "is_external": False,
            "date_create": 0,
            "date_update": 0,
            "date_delete": 0,
            "auto_type": None,
            "created_by": self.bot_user_id,
            "updated_by": self.bot_user_id,
            "deleted_by": None,
            "prefs": {"channels": [], "groups": []},
        }

"""views.open, views.update and views.publish: modals and App Home tabs."""

from __future__ import annotations

import copy
from typing import Any

from tests.support.slack_double.args import ApiError, MissingArgument, json_arg, present, require
from tests.support.slack_double.state import WorkspaceState


class ViewMethods(WorkspaceState):
    """Modals opened from a trigger, updated by ID or external ID, and Home tabs per user."""

    # ---- views

    def _view(self, args: dict[str, Any], kind: str) -> dict[str, Any]:
        view = json_arg(args, "view", "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != kind:
            raise ApiError(
                "invalid_arguments",
                response_metadata={"messages": [f"[ERROR] view.type must be {kind!r}"]},
            )
        external_id = view.get("external_id") or ""
        return {
            "id": "",
            "team_id": self.team_id,
            "type": kind,
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": external_id,
            "state": {"values": {}},
            "hash": self.new_ts(),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": None,
            "previous_view_id": None,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }

    def _check_external_id(self, view: dict[str, Any], replacing: str | None = None) -> None:
        external_id = view["external_id"]
        if external_id and any(
            v["external_id"] == external_id and v_id != replacing for v_id, v in self.views.items()
        ):
            raise ApiError("duplicate_external_id")

    def views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not (present(args, "trigger_id") or present(args, "interactivity_pointer")):
            raise MissingArgument("trigger_id")
        view = self._view(args, "modal")
        self._check_external_id(view)
        view["id"] = view["root_view_id"] = self.new_id("V")
        view["trigger_id"] = args.get("trigger_id")
        self.views[view["id"]] = view
        return {"view": copy.deepcopy(view)}

    def views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        if present(args, "view_id"):
            old = self.views.get(args["view_id"])
        elif present(args, "external_id"):
            old = next(
                (v for v in self.views.values() if v["external_id"] == args["external_id"]), None
            )
        else:
            raise MissingArgument("view_id")
        if old is None:
            raise ApiError("not_found")
        if present(args, "hash") and args["hash"] != old["hash"]:
            raise ApiError("hash_conflict")
        view = self._view(args, old["type"])
        self._check_external_id(view, replacing=old["id"])
        view.update(id=old["id"], root_view_id=old["root_view_id"])
        self.views[old["id"]] = view
        return {"view": copy.deepcopy(view)}

    def views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = require(args, "user_id")
        old = self.home_views.get(user_id)
        if old and present(args, "hash") and args["hash"] != old["hash"]:
            raise ApiError("hash_conflict")
        view = self._view(args, "home")
        view["id"] = view["root_view_id"] = old["id"] if old else self.new_id("V")
        self.home_views[user_id] = view
        return {"view": copy.deepcopy(view)}

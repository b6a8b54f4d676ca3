"""The modelled workspace with every method the double implements, and the name -> handler
table it answers from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.slack_double.conversations import ConversationMethods
from tests.support.slack_double.files import FileMethods
from tests.support.slack_double.messages import MessageMethods
from tests.support.slack_double.usergroups import UserGroupMethods
from tests.support.slack_double.views import ViewMethods


class Workspace(ConversationMethods, MessageMethods, ViewMethods, FileMethods, UserGroupMethods):
    """Slack's state for one workspace, and one handler per implemented method.

    Not thread-safe by itself: `SlackApiDouble` calls it under its lock.
    """


Handler = Callable[[Workspace, dict[str, Any]], dict[str, Any]]

HANDLERS: dict[str, Handler] = {
    "auth.test": Workspace.auth_test,
    "bookmarks.add": Workspace.bookmarks_add,
    "chat.getPermalink": Workspace.chat_get_permalink,
    "chat.postEphemeral": Workspace.chat_post_ephemeral,
    "chat.postMessage": Workspace.chat_post_message,
    "chat.update": Workspace.chat_update,
    "conversations.create": Workspace.conversations_create,
    "conversations.history": Workspace.conversations_history,
    "conversations.replies": Workspace.conversations_replies,
    "conversations.info": Workspace.conversations_info,
    "conversations.invite": Workspace.conversations_invite,
    "conversations.join": Workspace.conversations_join,
    "conversations.list": Workspace.conversations_list,
    "conversations.setPurpose": Workspace.conversations_set_purpose,
    "conversations.setTopic": Workspace.conversations_set_topic,
    "files.completeUploadExternal": Workspace.files_complete_upload_external,
    "files.getUploadURLExternal": Workspace.files_get_upload_url_external,
    "files.info": Workspace.files_info,
    "pins.add": Workspace.pins_add,
    "reactions.add": Workspace.reactions_add,
    "usergroups.list": Workspace.usergroups_list,
    "usergroups.users.list": Workspace.usergroups_users_list,
    "users.info": Workspace.users_info,
    "views.open": Workspace.views_open,
    "views.publish": Workspace.views_publish,
    "views.update": Workspace.views_update,
}

"""A local Slack Web API double: a real HTTP server on 127.0.0.1 that answers like Slack.

Point a real client at it::

    with SlackApiDouble() as double:
        client = WebClient(token=double.token, base_url=double.base_url)
        client.conversations_create(name="inc-42")

Which arguments each method requires, and which error code Slack gives when one is
missing, come from the Slack API reference data in ``../shared/slack-api-ref`` beside the
checkout (read at run time, never copied here). Without that folder a small built-in table
keeps the double working.

The workspace is modelled (users, user groups, channels with members and creators, messages
with ``ts`` and metadata, pins, reactions, bookmarks, topics, purposes, views, files), lists
are paged with cursors as Slack pages them, every request is recorded as a ``Call``, and
failures can be injected: ``fail_next(...)`` (per method, 429s with ``Retry-After``
included) and ``outage``.

Modules: `double` (the double, call recording), `server` (HTTP), `reference` (the method
reference), `faults` (outages, 429s, latency), `workspace` with `state`, `records`, `args`,
`pages` (cursors, limits, the oldest/latest window) and one module per group of methods
(`conversations`, `messages`, `views`, `files`, `usergroups`).
"""

from tests.support.slack_double.args import ApiError
from tests.support.slack_double.double import (
    DEFAULT_TOKEN,
    RESPONSE_URL,
    UPLOAD,
    Call,
    SlackApiDouble,
)
from tests.support.slack_double.faults import ANY_METHOD
from tests.support.slack_double.records import Channel, UploadedFile, User
from tests.support.slack_double.reference import REFERENCE_DIR, SlackReference
from tests.support.slack_double.server import Reply
from tests.support.slack_double.workspace import HANDLERS, Workspace

__all__ = [
    "ANY_METHOD",
    "DEFAULT_TOKEN",
    "HANDLERS",
    "REFERENCE_DIR",
    "RESPONSE_URL",
    "UPLOAD",
    "ApiError",
    "Call",
    "Channel",
    "Reply",
    "SlackApiDouble",
    "SlackReference",
    "UploadedFile",
    "User",
    "Workspace",
]

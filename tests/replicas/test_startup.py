"""Replicas started together on an empty database: the migrations run once, under an
advisory lock, and every replica comes up."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from bot.storage import database as storage
from tests.support.replica_processes import Replicas

pytestmark = pytest.mark.postgres


def test_three_replicas_started_at_once_on_an_empty_database_all_become_ready(
    replicas: Replicas, database: Engine
) -> None:
    assert storage.current_revision(database) is None

    started = replicas.start(3)  # all three at once, then each waited on through /readyz

    assert [replica.exit_code for replica in started] == [None, None, None]
    head = ScriptDirectory.from_config(storage.alembic_config(database)).get_current_head()
    assert storage.current_revision(database) == head

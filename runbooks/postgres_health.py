"""Is PostgreSQL healthy? Connectivity, long-running queries, lock waits, replication lag.

A connection that fails is reported by the driver error's class and libpq's message
with every quoted part left out but the host, port, user and database: libpq quotes
the parts of a connection string it cannot read, the password among them.
"""

import re

import psycopg
import psycopg.conninfo

from bot.runbooks.sdk import Param, runbook, step

LONG_QUERIES = """
    select pid, usename, state, now() - query_start as running_for, left(query, 120)
    from pg_stat_activity
    where state <> 'idle' and pid <> pg_backend_pid()
      and now() - query_start > make_interval(secs => %s)
    order by running_for desc
"""
LOCK_WAITS = """
    select waiting.pid, waiting.mode, waiting.relation::regclass::text, left(activity.query, 120)
    from pg_locks waiting join pg_stat_activity activity using (pid)
    where not waiting.granted
"""
REPLICATION = """
    select application_name, state, replay_lag::text from pg_stat_replication
"""


NAMED = ("host", "hostaddr", "port", "user", "dbname")
"""The parts of a connection string an error may show: where it connects, and as whom."""
QUOTED = re.compile(r'"[^"]*"|\'[^\']*\'')  # libpq quotes "thus", psycopg 'thus'


class CannotConnect(Exception):
    """The database could not be reached, or the dsn could not be read (it is never shown)."""


def connect(ctx):
    """A connection with the secret dsn; CannotConnect, without the dsn, when there is none."""
    dsn = ctx.secret("dsn")
    try:
        return psycopg.connect(dsn, connect_timeout=10)
    except psycopg.ProgrammingError as error:
        raise CannotConnect(
            f"could not connect: the dsn is not a valid connection string "
            f"({type(error).__name__}: {without_dsn(error, dsn)}); in a URL, special "
            "characters of the password must be percent-encoded (% as %25, @ as %40)"
        ) from None
    except psycopg.Error as error:
        raise CannotConnect(
            f"could not connect ({type(error).__name__}): {without_dsn(error, dsn)}"
        ) from None


def without_dsn(error, dsn):
    """The driver's message on one line, each quoted part "…" unless it names the host,
    port, user or database."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        parts = {}
    shown = {name for key in NAMED for name in str(parts.get(key) or "").split(",") if name}
    message = " ".join(str(error).split())
    return QUOTED.sub(lambda m: m[0] if m[0][1:-1] in shown else f"{m[0][0]}…{m[0][0]}", message)


@runbook(
    name="postgres-health",
    summary="Check a PostgreSQL server: connection, long queries, lock waits, replication lag",
    params={
        "dsn": Param(str, secret=True, help="Connection string, e.g. postgresql://user@db/app"),
        "long_query_seconds": Param(int, default=60, min=1),
    },
    allowed=["anyone"],
    timeout="3m",
)
class PostgresHealth:
    @step(timeout="30s", idempotent=True)
    def connect(self, ctx):
        """Connect and ask the server who it is."""
        if ctx.dry_run:
            ctx.log("would connect to the database and run read-only checks")
            return {"dry_run": True}
        with connect(ctx) as connection:
            version = connection.execute("show server_version").fetchone()[0]
            recovery = connection.execute("select pg_is_in_recovery()").fetchone()[0]
        role = "replica" if recovery else "primary"
        ctx.log(f"connected: PostgreSQL {version}, {role}")
        return {"version": version, "role": role}

    @step(timeout="30s", idempotent=True)
    def activity(self, ctx):
        """Queries running longer than the limit, and sessions waiting for locks."""
        if ctx.dry_run:
            return {"dry_run": True}
        with connect(ctx) as connection:
            long = connection.execute(LONG_QUERIES, (ctx.params.long_query_seconds,)).fetchall()
            waits = connection.execute(LOCK_WAITS).fetchall()
        for row in long:
            ctx.log(f"long query: pid {row[0]} ({row[1]}, {row[2]}) for {row[3]}: {row[4]}")
        for row in waits:
            ctx.log(f"lock wait: pid {row[0]} wants {row[1]} on {row[2]}: {row[3]}")
        ctx.log(f"{len(long)} long-running queries, {len(waits)} sessions waiting for locks")
        return {"long_queries": len(long), "lock_waits": len(waits)}

    @step(timeout="30s", idempotent=True)
    def replication(self, ctx):
        """Replication lag of each standby, where this server has any."""
        if ctx.dry_run:
            return {"dry_run": True}
        with connect(ctx) as connection:
            standbys = connection.execute(REPLICATION).fetchall()
        if not standbys:
            ctx.log("no standbys replicate from this server")
        for name, state, lag in standbys:
            ctx.log(f"standby {name}: {state}, replay lag {lag}")
        return {"standbys": [list(row) for row in standbys]}

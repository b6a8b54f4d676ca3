"""How fast the bot acknowledges Slack, beside bare Bolt, and how soon a declared channel is ready.

Slack shows the user an error when a command is not acknowledged within 3 s, and an
incident channel is only useful once it is set up. In one run:

1. acknowledgements: one load generator (a pool of threads in this process, each
   POSTing correctly signed, form-encoded slash commands over loopback HTTP, a new
   connection per request) against a bare Bolt `AsyncApp` on aiohttp whose listener
   only acks, a bare sync Bolt `App` behind waitress (16 threads) whose listener only
   acks, and the bot as `incident-bot run` builds and serves it, for `/incident help`,
   `/incident list` and `/incident declare ...`: p50/p90/p99/max, requests a second,
   acks over Slack's 3 s, and the bot's ratios to both bare apps;
2. channel set-up: with the Slack Web API double adding 50 ms to every call, the time
   from one declare to its channel being ready (created, summary posted and pinned,
   announcement posted), and from 20 declares sent at once to all 20 ready; how many
   Slack calls ran one after another (the critical path), read from the times the
   double recorded each call;
3. memory: the resident set (VmRSS) of the bot's process at rest and after the load.

Each app is served by a process of its own, so that neither the load generator nor
the Slack double (the project's `tests/support/slack_double`, in a third process)
shares its interpreter or its memory. The database is SQLite in a temporary folder,
or a scratch database created (and dropped) on the PostgreSQL server of
`--database-url`. All traffic stays on loopback. Floors come from ../shared/DESIGN.md
("Measured floors"); the targets are the replicas issue's. Prints figures beside them
and a verdict for each; asserts nothing. `--quick` runs the same phases at tiny sizes
in a few seconds: it shows the benchmark still works, its figures are only indicative.

    .venv/bin/python benchmarks/slack_ack.py [--quick] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import math
import multiprocessing
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any, Protocol

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult
from sqlalchemy.engine import make_url
from waitress import create_server

from bot.chat.slack import server as slack_server
from bot.config import Settings
from bot.storage import database

# The Slack double lives with the tests, which are not installed: the repository root
# goes on the path (processes this script spawns inherit it).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.serving import WaitressServing
from tests.support.slack_double import ANY_METHOD
from tests.support.slack_requests import (
    FORM,
    LOOPBACK,
    SlashCommand,
    post,
    signed_headers,
    slash_command_body,
)
from tests.support.timed_slack import (
    SetUp,
    TimedSlackDouble,
    longest_chain,
    most_in_flight,
    set_ups,
)

LOOPBACK_HOSTS = {LOOPBACK, "localhost", "::1"}
EVENTS_PATH = slack_server.EVENTS_PATH
COMMAND = "/incident"
SIGNING_SECRET = "benchmark-signing-secret-0123456789"
USER = "U0BENCH"
SLACK_DEADLINE = 3.0  # seconds Slack waits for an ack
REQUEST_TIMEOUT = 10.0  # the load generator's own patience; a timeout counts as failed
HTTP_THREADS = 16
SLACK_LATENCY = 0.05  # added to every Web API call in phase 2
FOREVER = 10**9  # calls the added latency lasts for
POLL_SECONDS = 0.2  # between looks at the double: the times come from its records, not from this
SPAWN = multiprocessing.get_context("spawn")  # fresh processes: no threads or locks copied
# Each command's trigger_id: no two requests are byte for byte the same, so none is a replay.
# (next() on a count is atomic under the GIL.)
SERIALS = itertools.count(1)

TARGET_ACK_RATIO = 2.0  # declare ack p99 within this many times the bare sync App's
TARGET_ONE_READY = 0.25
TARGET_ALL_READY = 1.0
FLOOR_ONE_SEQUENTIAL = 0.35  # 7 set-up calls one after another at 50 ms
FLOOR_ONE_PARALLEL = 0.15  # create -> (invite, topic, purpose, summary, announcement) -> pin


@dataclass(frozen=True)
class Floor:
    label: str
    p50_ms: float
    p99_ms: float
    rate: float


FLOORS = (
    Floor("floor AsyncApp (DESIGN.md)", 12, 19, 1580),
    Floor("floor App + waitress", 15, 39, 1240),
)


@dataclass(frozen=True)
class Sizes:
    commands: int  # measured commands per app and command kind
    concurrency: int
    warmup: int  # commands sent before each measured run
    burst: int  # declares sent at once in phase 2
    settle_seconds: float  # longest wait for the load's channels to be set up
    ready_seconds: float  # longest wait for phase 2's channels


REAL = Sizes(500, 20, 40, 20, 120.0, 60.0)
QUICK = Sizes(20, 4, 4, 3, 20.0, 20.0)


# --------------------------------------------------------------------------- the Slack double


@dataclass(frozen=True)
class Endpoint:
    """Where the bot finds the double, and what the commands carry."""

    base_url: str
    response_url: str
    token: str
    team_id: str
    room: str  # the channel commands are typed in


@dataclass(frozen=True)
class Traffic:
    chain: int  # Slack calls one after another in the window
    in_flight: int  # most Slack calls in flight at once


class TimedDouble(TimedSlackDouble):
    """The timed Slack double, with what this benchmark asks of it across processes."""

    def open(self) -> Endpoint:
        self.start()
        self.add_user(USER, "bench")
        self.add_channel("incidents")  # the default INCIDENT_ANNOUNCE_CHANNEL
        room = self.add_channel("war-room", members=[USER])
        return Endpoint(self.base_url, self.response_url("slash"), self.token, self.team_id, room)

    def close(self) -> int:
        """Stop; returns how many errors the double's server met."""
        self.stop()
        return len(self.server_errors)

    def ready_since(self, since: float) -> list[SetUp]:
        """The incident channels created since `since` whose set-up is done."""
        return set_ups(self.timed_calls(since))

    def traffic(self, since: float, until: float) -> Traffic:
        calls = [call for call in self.timed_calls(since) if call.ended <= until]
        return Traffic(longest_chain(calls), most_in_flight(calls))


# --------------------------------------------------------------------------- the apps served


@dataclass(frozen=True)
class BotSetup:
    database_url: str
    slack: Endpoint
    artifacts: str


class Serving(Protocol):
    def start(self) -> int: ...  # the port

    def stop(self) -> None: ...


class AiohttpServing:
    """An aiohttp runner on an event loop in a thread of its own."""

    def __init__(self, runner: Any, site: Callable[[Any, str, int], Any]) -> None:
        self._runner = runner
        self._site = site
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="aiohttp", daemon=True)

    def start(self) -> int:
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(self._site(self._runner, LOOPBACK, 0).start())
        self._thread.start()
        return int(self._runner.addresses[0][1])

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()


def no_network_authorize(**_: Any) -> AuthorizeResult:
    return AuthorizeResult(enterprise_id=None, team_id=None, bot_token="xoxb-bare")


def bare_async() -> Serving:
    # Imported here: only the bare AsyncApp's process loads aiohttp, so that no other
    # process's memory figure carries it.
    from aiohttp import web
    from slack_bolt.async_app import AsyncApp

    async def authorize(**_: Any) -> AuthorizeResult:
        return no_network_authorize()

    app = AsyncApp(signing_secret=SIGNING_SECRET, authorize=authorize)

    @app.command(COMMAND)
    async def only_ack(ack: Any) -> None:
        await ack()

    return AiohttpServing(
        web.AppRunner(app.web_app(path=EVENTS_PATH), access_log=None), web.TCPSite
    )


def bare_sync() -> Serving:
    app = App(signing_secret=SIGNING_SECRET, authorize=no_network_authorize)

    @app.command(COMMAND)
    def only_ack(ack: Any) -> None:
        ack()

    wsgi = SlackRequestHandler(app, path=EVENTS_PATH)
    return WaitressServing(create_server(wsgi, host=LOOPBACK, port=0, threads=HTTP_THREADS))


class BotServing:
    """The bot as `incident-bot run` builds and serves it in HTTP mode."""

    def __init__(self, setup: BotSetup) -> None:
        settings = Settings(
            database_url=setup.database_url,
            command_name=COMMAND,
            runbook_dirs=(),
            runbook_artifacts_dir=setup.artifacts,
            slack_bot_token=setup.slack.token,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=setup.slack.base_url,
        )
        self._engine = database.make_engine(setup.database_url)
        database.upgrade(self._engine)
        bot = slack_server.build(
            settings, database.make_session_factory(self._engine), socket_mode=False
        )
        self._application = bot.application
        front = slack_server.http_server(bot.app, settings, host=LOOPBACK, port=0)
        self._http = WaitressServing(front)

    def start(self) -> int:
        self._application.start()
        return self._http.start()

    def stop(self) -> None:
        self._http.stop()
        self._application.stop()
        self._engine.dispose()


@dataclass
class Logged:
    """What one logger logged at one level: how often, and the first message's first line."""

    count: int
    first: str


class LogCount(logging.Handler):
    """Counts what is logged at WARNING and worse, by level and logger: a benchmark prints
    figures, and says how much went wrong meanwhile."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.logged: dict[str, Logged] = {}

    def emit(self, record: logging.LogRecord) -> None:
        key = f"{record.levelname} {record.name}"
        first = (record.getMessage().splitlines() or [""])[0][:160]
        self.logged.setdefault(key, Logged(0, first)).count += 1


def rss_kib() -> int:
    """This process's resident set (VmRSS), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit("no VmRSS in /proc/self/status: this benchmark needs Linux")


class Host:
    """Serves one app in the process of its own that `hosted` starts."""

    def __init__(self) -> None:
        self._serving: Serving | None = None
        self._log = LogCount()

    def open(self, kind: str, setup: BotSetup | None) -> int:
        logging.getLogger().addHandler(self._log)
        logging.getLogger().setLevel(logging.WARNING)
        if kind == "bot":
            assert setup is not None
            self._serving = BotServing(setup)
        else:
            self._serving = bare_async() if kind == "async" else bare_sync()
        return self._serving.start()

    def rss(self) -> int:
        return rss_kib()

    def close(self) -> dict[str, Logged]:
        if self._serving is not None:
            self._serving.stop()
        return self._log.logged


class Remote(BaseManager):
    """A process of its own serving the objects registered below."""


Remote.register(
    "Double", TimedDouble, exposed=("open", "close", "fail_next", "ready_since", "traffic")
)
Remote.register("Host", Host, exposed=("open", "rss", "close"))


@dataclass
class Hosted:
    port: int
    host: Any  # a proxy of Host
    logged: dict[str, Logged] | None = None


@contextmanager
def hosted(kind: str, setup: BotSetup | None = None) -> Iterator[Hosted]:
    """Serve an app ("async", "sync" or "bot") in a new process; stopped on leaving."""
    with Remote(ctx=SPAWN) as process:
        host = process.Host()  # type: ignore[attr-defined]
        served = Hosted(port=host.open(kind, setup), host=host)
        try:
            yield served
        finally:
            served.logged = host.close()


# --------------------------------------------------------------------------- the load generator


def slash_body(text: str, slack: Endpoint, serial: int) -> bytes:
    """A slash command as Slack posts it: a form body."""
    typed = SlashCommand(
        team_id=slack.team_id,
        channel_id=slack.room,
        user_id=USER,
        user_name="bench",
        command=COMMAND,
        response_url=slack.response_url,
        channel_name="war-room",
        team_domain="benchmark",
        api_app_id="A0BENCH",
    )
    return slash_command_body(typed, text, f"{serial}.1234567890.bench")


@dataclass(frozen=True)
class Acks:
    """What the load generator saw."""

    seconds: tuple[float, ...]  # of the requests answered 200
    refused: dict[int, int]  # the other answers, by HTTP status (0: none within REQUEST_TIMEOUT)
    late: int  # took over Slack's 3 s, answered or not
    began: float  # time.monotonic() when the first was sent
    wall: float  # first sent to last answered

    @property
    def failed(self) -> int:
        return sum(self.refused.values())

    def refusals(self) -> str:
        return ", ".join(
            f"HTTP {status} x{count}"
            if status
            else f"no answer within {REQUEST_TIMEOUT:g} s x{count}"
            for status, count in sorted(self.refused.items())
        )


def fire(port: int, texts: Sequence[str], concurrency: int, slack: Endpoint) -> Acks:
    """POST each text as a signed slash command, `concurrency` at a time."""

    def one(text: str) -> tuple[int, float]:
        body = slash_body(text, slack, next(SERIALS))
        headers = signed_headers(SIGNING_SECRET, body, FORM)
        began = time.perf_counter()
        answer = post(port, EVENTS_PATH, body, headers, timeout=REQUEST_TIMEOUT)
        return answer.status, time.perf_counter() - began

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        began, started = time.monotonic(), time.perf_counter()
        answers = list(pool.map(one, texts))
        wall = time.perf_counter() - started
    return Acks(
        seconds=tuple(seconds for status, seconds in answers if status == 200),
        refused=dict(Counter(status for status, _ in answers if status != 200)),
        late=sum(seconds > SLACK_DEADLINE for _, seconds in answers),
        began=began,
        wall=wall,
    )


def measure(port: int, text: Callable[[int], str], sizes: Sizes, slack: Endpoint) -> Acks:
    """Warm up, then the measured run."""
    fire(port, [text(-1 - index) for index in range(sizes.warmup)], sizes.concurrency, slack)
    return fire(port, [text(index) for index in range(sizes.commands)], sizes.concurrency, slack)


def load_declare(index: int) -> str:
    return f"declare sev3 Benchmark load {index} checkout errors"


def wait_ready(double: Any, since: float, count: int, timeout: float) -> list[SetUp]:
    """The channels set up since `since`, once there are `count` of them (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        ready: list[SetUp] = double.ready_since(since)
        if len(ready) >= count or time.monotonic() >= deadline:
            return ready
        time.sleep(POLL_SECONDS)


# --------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


@dataclass(frozen=True)
class Figures:
    p50: float
    p90: float
    p99: float
    max: float
    rate: float
    late: int
    failed: int

    @classmethod
    def of(cls, acks: Acks) -> Figures:
        seconds = acks.seconds or (math.nan,)
        count = len(acks.seconds) + acks.failed
        return cls(
            p50=percentile(seconds, 50),
            p90=percentile(seconds, 90),
            p99=percentile(seconds, 99),
            max=max(seconds),
            rate=count / acks.wall if acks.wall else math.nan,
            late=acks.late,
            failed=acks.failed,
        )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def ratio(value: float, base: float) -> str:
    return f"{value / base:8.1f}x" if base > 0 else "        -"


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


@dataclass(frozen=True)
class BotRun:
    acks: dict[str, Acks]  # by command
    load_ready: list[SetUp]
    load_declares: int
    rss_at_rest: int
    rss_after_load: int
    one: Acks
    one_ready: list[SetUp]
    burst: Acks
    burst_ready: list[SetUp]
    burst_traffic: Traffic | None
    logged: dict[str, Logged]


def run_bot(double: Any, slack: Endpoint, sizes: Sizes, setup: BotSetup) -> BotRun:
    with hosted("bot", setup) as served:
        at_rest = served.host.rss()
        since = time.monotonic()
        texts: dict[str, Callable[[int], str]] = {
            "help": lambda _: "help",
            "list": lambda _: "list",
            "declare": load_declare,
        }
        acks = {name: measure(served.port, text, sizes, slack) for name, text in texts.items()}
        declares = sizes.warmup + sizes.commands
        load_ready = wait_ready(double, since, declares, sizes.settle_seconds)
        after_load = served.host.rss()

        double.fail_next(ANY_METHOD, delay=SLACK_LATENCY, times=FOREVER)
        one = fire(served.port, ["declare sev2 Benchmark one checkout down"], 1, slack)
        one_ready = wait_ready(double, one.began, 1, sizes.ready_seconds)
        texts_at_once = [
            f"declare sev2 Benchmark burst {i} checkout down" for i in range(sizes.burst)
        ]
        burst = fire(served.port, texts_at_once, sizes.burst, slack)
        burst_ready = wait_ready(double, burst.began, sizes.burst, sizes.ready_seconds)
        last = max((ready.at for ready in burst_ready), default=None)
        traffic = double.traffic(burst.began, last) if last is not None else None
    assert served.logged is not None
    return BotRun(
        acks=acks,
        load_ready=load_ready,
        load_declares=declares,
        rss_at_rest=at_rest,
        rss_after_load=after_load,
        one=one,
        one_ready=one_ready,
        burst=burst,
        burst_ready=burst_ready,
        burst_traffic=traffic,
        logged=served.logged,
    )


def run_bare(kind: str, slack: Endpoint, sizes: Sizes) -> Acks:
    with hosted(kind) as served:
        return measure(served.port, lambda _: "help", sizes, slack)


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def report(sizes: Sizes, bare_async_acks: Acks, bare_sync_acks: Acks, bot: BotRun) -> None:
    bare = {"async": Figures.of(bare_async_acks), "sync": Figures.of(bare_sync_acks)}
    commands = {name: Figures.of(acks) for name, acks in bot.acks.items()}
    print(
        f"\n1. acknowledgements: {sizes.commands} signed slash commands at concurrency"
        f" {sizes.concurrency} (after {sizes.warmup} to warm up), a new connection each"
    )
    print(
        f"  {'served by':<32}{'p50':>11}{'p90':>11}{'p99':>11}{'max':>11}"
        f"{'req/s':>9}{'>3 s':>6}{'failed':>7}"
    )
    rows = {
        "bare AsyncApp (aiohttp)": bare_async_acks,
        f"bare App (waitress, {HTTP_THREADS} threads)": bare_sync_acks,
        **{f"bot: {COMMAND} {name}": acks for name, acks in bot.acks.items()},
    }
    for label, acks in rows.items():
        figures = Figures.of(acks)
        print(
            f"  {label:<32}{ms(figures.p50):>11}{ms(figures.p90):>11}{ms(figures.p99):>11}"
            f"{ms(figures.max):>11}{figures.rate:9.0f}{figures.late:6d}{figures.failed:7d}"
        )
    for label, acks in rows.items():
        if acks.failed:
            print(f"  {label} failed: {acks.refusals()}")
    for floor in FLOORS:
        print(
            f"  {floor.label:<32}{ms(floor.p50_ms / 1000):>11}{'-':>11}"
            f"{ms(floor.p99_ms / 1000):>11}{'-':>11}{floor.rate:9.0f}"
        )
    print(f"\n  {'bot, times the bare app':<32}{'p50/Async':>11}{'p50/App':>11}", end="")
    print(f"{'p99/Async':>11}{'p99/App':>11}")
    for name, figures in commands.items():
        print(
            f"  {COMMAND + ' ' + name:<32}{ratio(figures.p50, bare['async'].p50):>11}"
            f"{ratio(figures.p50, bare['sync'].p50):>11}"
            f"{ratio(figures.p99, bare['async'].p99):>11}{ratio(figures.p99, bare['sync'].p99):>11}"
        )
    declares = bot.acks["declare"]
    settled = max((ready.at for ready in bot.load_ready), default=math.nan)
    print(
        f"  the load's {bot.load_declares} declared channels: {len(bot.load_ready)} set up,"
        f" the last {settled - (declares.began + declares.wall):.1f} s after the last declare"
        " was acked"
    )

    print(
        f"\n2. channel set-up, the Slack double adding {SLACK_LATENCY * 1000:.0f} ms to every call"
    )
    one = bot.one_ready[0] if bot.one_ready else None
    one_seconds = one.at - bot.one.began if one else math.inf
    if one is None:
        print(f"  one declare: its channel was not ready within {sizes.ready_seconds:.0f} s")
    else:
        print(
            f"  one declare: acked in {ms(max(bot.one.seconds, default=math.nan)).strip()},"
            f" channel ready after {ms(one_seconds).strip()};"
            f" {len(one.calls)} set-up calls, {one.depth} of them one after another"
        )
    ends = sorted(ready.at - bot.burst.began for ready in bot.burst_ready)
    all_seconds = ends[-1] if len(ends) >= sizes.burst else math.inf
    burst_acks = Figures.of(bot.burst)
    print(
        f"  {sizes.burst} declares at once: acks p50 {ms(burst_acks.p50).strip()},"
        f" max {ms(burst_acks.max).strip()}, {bot.burst.late} over 3 s"
        + (f", failed: {bot.burst.refusals()}" if bot.burst.failed else "")
    )
    if len(ends) < sizes.burst:
        print(
            f"    only {len(ends)} of {sizes.burst} channels ready"
            f" within {sizes.ready_seconds:.0f} s"
        )
    else:
        print(
            f"    all ready after {all_seconds:.2f} s (first {ends[0]:.2f} s,"
            f" median {percentile(ends, 50):.2f} s)"
        )
    if bot.burst_traffic is not None:
        depth = max(ready.depth for ready in bot.burst_ready)
        print(
            f"    deepest set-up: {depth} calls one after another; {bot.burst_traffic.chain} Slack"
            f" calls one after another until the last was ready;"
            f" at most {bot.burst_traffic.in_flight} in flight at once"
        )
    print(
        f"  floor: {FLOOR_ONE_SEQUENTIAL:.2f} s for 7 calls one after another;"
        f" ~{FLOOR_ONE_PARALLEL:.2f} s for create -> (invite, topic, purpose, summary,"
        " announcement) -> pin, 3 deep"
    )

    print("\n3. memory (VmRSS of the bot's process)")
    grown = bot.rss_after_load - bot.rss_at_rest
    print(
        f"  bot at rest {mib(bot.rss_at_rest)}, after the load {mib(bot.rss_after_load)}"
        f" (+{mib(grown)})"
    )
    if not bot.logged:
        print("  the bot logged no warnings or errors")
    for key, logged in sorted(bot.logged.items(), key=lambda item: -item[1].count):
        print(f"  the bot logged {logged.count} x {key}, the first: {logged.first}")

    print("\n4. targets" + ("" if sizes == REAL else " (quick run: tiny sizes, indicative only)"))
    declare = commands["declare"]
    timed = (declares, bot.one, bot.burst)  # every declare whose ack was measured
    late = sum(acks.late for acks in timed)
    failed = sum(acks.failed for acks in timed)
    sent = sum(len(acks.seconds) + acks.failed for acks in timed)
    checks = (
        (
            f"declare ack p99 within {TARGET_ACK_RATIO:g}x the bare App's",
            f"{ms(declare.p99).strip()} = {declare.p99 / bare['sync'].p99:.1f}x"
            f" (bare App {ms(bare['sync'].p99).strip()})",
            declare.p99 <= TARGET_ACK_RATIO * bare["sync"].p99 and declare.failed == 0,
        ),
        (
            "no declare ack over 3 s",
            f"{late} of {sent} over 3 s, {failed} failed",
            late == 0 and failed == 0,
        ),
        (
            f"one declare ready within {TARGET_ONE_READY:g} s",
            f"{one_seconds:.2f} s (floor ~{FLOOR_ONE_PARALLEL:.2f} s)",
            one_seconds <= TARGET_ONE_READY,
        ),
        (
            f"{sizes.burst} declares at once all ready within {TARGET_ALL_READY:g} s",
            f"{all_seconds:.2f} s",
            all_seconds <= TARGET_ALL_READY,
        ),
    )
    print(f"  {'target':<44}{'measured':<44}verdict")
    for target, measured, met in checks:
        print(f"  {target:<44}{measured:<44}{verdict(met)}")


# --------------------------------------------------------------------------- running


@contextmanager
def database_url(url: str | None, folder: Path) -> Iterator[str]:
    """SQLite in `folder`, or a scratch database on the PostgreSQL server of `url`."""
    if url is None:
        yield f"sqlite:///{folder / 'benchmark.db'}"
        return
    server = make_url(url)
    if server.get_backend_name() != "postgresql" or (server.host or LOOPBACK) not in LOOPBACK_HOSTS:
        raise SystemExit("--database-url: a postgresql:// URL on this machine (127.0.0.1)")
    # Imported here: the test support module loads pytest, which no serving process needs.
    from tests.support.databases import scratch_postgres

    with scratch_postgres(url) as engine:
        yield engine.url.render_as_string(hide_password=False)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, a few seconds: shows that the benchmark runs; figures are indicative",
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server on this machine, e.g. postgresql://postgres@127.0.0.1:5432/"
        "postgres: the bot runs on a scratch database created there and dropped afterwards",
    )
    return parser.parse_args()


def main() -> None:
    options = arguments()
    sizes = QUICK if options.quick else REAL
    started = time.perf_counter()
    cpus = os.cpu_count() or 1
    print("Slack acknowledgements and channel set-up")
    print(f"machine: {cpus} CPUs, Python {platform.python_version()}", end="")
    print(f" ({platform.python_implementation()}), {platform.system()} {platform.machine()}")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average before starting: {load} (other work on the machine skews the figures)")
    backend = (
        "PostgreSQL (a scratch database)" if options.database_url else "SQLite (a temporary file)"
    )
    print(f"database: {backend}; each app in a process of its own, as are the Slack double")
    print("and this load generator (threads, signed slash commands, a new connection each)")
    print(
        f"Targets: declare ack p99 within {TARGET_ACK_RATIO:g}x the bare sync App, none over"
        f" {SLACK_DEADLINE:g} s; one declare ready within {TARGET_ONE_READY:g} s;"
        f" {REAL.burst} at once all ready within {TARGET_ALL_READY:g} s"
    )
    if options.quick:
        print("quick run: tiny sizes; the figures are indicative only")

    with (
        tempfile.TemporaryDirectory(prefix="slack-ack-bench-") as folder,
        database_url(options.database_url, Path(folder)) as url,
        Remote(ctx=SPAWN) as double_process,
    ):
        double = double_process.Double()  # type: ignore[attr-defined]
        slack: Endpoint = double.open()
        try:
            bare_async_acks = run_bare("async", slack, sizes)
            bare_sync_acks = run_bare("sync", slack, sizes)
            setup = BotSetup(url, slack, str(Path(folder) / "artifacts"))
            bot = run_bot(double, slack, sizes, setup)
        finally:
            double_errors = double.close()
        report(sizes, bare_async_acks, bare_sync_acks, bot)
        if double_errors:
            print(f"  the Slack double's server met {double_errors} errors")
    print(f"\n(benchmark took {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()

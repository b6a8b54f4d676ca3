"""How long each part of an incident took: the one definition of every figure shown.

Each figure counts from one milestone to another and is known only when both are
recorded; nothing falls back silently to another start. A figure never hides a
record that is out of order either: a negative duration stays negative and says
so, rather than showing as 0m. The chat summary, the postmortem draft and the
reliability report all read their figures from `measures_of`, which takes an
`Incident` or any row with the same milestone attributes (`Milestones`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.times import format_duration


class Milestones(Protocol):
    """What the figures are read from: an `Incident`, or a row of a report's query."""

    @property
    def started_at(self) -> datetime | None: ...
    @property
    def impact_ended_at(self) -> datetime | None: ...
    @property
    def impact_fraction(self) -> float | None: ...
    @property
    def detected_at(self) -> datetime | None: ...
    @property
    def declared_at(self) -> datetime | None: ...
    @property
    def acknowledged_at(self) -> datetime | None: ...
    @property
    def mitigated_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def closed_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Milestone:
    """A moment in an incident's life, named for tables and for sentences."""

    name: str  # the attribute is `<name>_at`
    label: str  # "Impact started"
    # For a figure recorded in reverse: "<happened of its end> 5m before <noun of its start>",
    # as in "mitigated 5m before the start of impact".
    noun: str
    happened: str


MILESTONES: dict[str, Milestone] = {
    m.name: m
    for m in (
        Milestone("started", "Impact started", "the start of impact", "impact started"),
        Milestone("detected", "Detected", "detection", "detected"),
        Milestone("declared", "Declared", "the declaration", "declared"),
        Milestone("acknowledged", "Acknowledged", "acknowledgement", "acknowledged"),
        Milestone("mitigated", "Mitigated", "mitigation", "mitigated"),
        Milestone("impact_ended", "Impact ended", "the end of impact", "impact ended"),
        Milestone("resolved", "Resolved", "resolution", "resolved"),
        Milestone("closed", "Closed", "closing", "closed"),
    )
}


def moment(record: Milestones, milestone: str) -> datetime | None:
    """When `milestone` (a key of MILESTONES) happened, or None if it is not recorded."""
    value: datetime | None = getattr(record, f"{milestone}_at")
    return value


@dataclass(frozen=True)
class Measure:
    """One figure: the time from one milestone to another, None unless both are recorded."""

    name: str  # the attribute of `Measures` holding it, e.g. "time_to_detect"
    label: str  # "Time to detect"
    counted_from: str  # a milestone name, e.g. "started"
    counted_to: str  # e.g. "detected"
    duration: timedelta | None
    missing: tuple[str, ...] = ()  # the milestones whose absence leaves it unknown
    note: str = ""  # a fallback taken, or an order that looks wrong

    @property
    def known(self) -> bool:
        return self.duration is not None

    @property
    def negative(self) -> bool:
        return self.duration is not None and self.duration < timedelta(0)

    @property
    def counts(self) -> str:
        """What it counts, e.g. "Impact started → Detected"."""
        return f"{MILESTONES[self.counted_from].label} → {MILESTONES[self.counted_to].label}"

    @property
    def text(self) -> str:
        """As people read it: `12m`, `acknowledged 3m before detection`, or "" when unknown."""
        if self.duration is None:
            return ""
        if self.negative:
            before = format_duration(-self.duration)
            start, end = MILESTONES[self.counted_from], MILESTONES[self.counted_to]
            return f"{end.happened} {before} before {start.noun}"
        return format_duration(self.duration)

    @property
    def unknown_because(self) -> str:
        """Why it is unknown (`impact started and detected not recorded`), or "" if known."""
        if self.known:
            return ""
        labels = [MILESTONES[name].label.lower() for name in self.missing]
        listed = ", ".join(labels[:-1]) + " and " + labels[-1] if len(labels) > 1 else labels[0]
        return f"{listed} not recorded"


@dataclass(frozen=True)
class BadMinutes(Measure):
    """The impact's minutes weighted by the share of users or requests affected."""

    fraction: float | None = None

    @property
    def minutes(self) -> float | None:
        """To a tenth of a minute, halves rounded up (8.25 -> 8.3)."""
        if self.duration is None:
            return None
        return math.floor(self.duration.total_seconds() / 6 + 0.5) / 10

    @property
    def text(self) -> str:
        """Minutes at full impact (`13.8`), or "" when unknown."""
        return "" if self.minutes is None else f"{self.minutes:g}"

    @property
    def unknown_because(self) -> str:
        if self.known or self.missing:
            return super().unknown_because
        return "share affected not recorded"


def percent(fraction: float) -> str:
    """0.125 -> "12.5%"."""
    return f"{round(fraction * 100, 2):g}%"


@dataclass(frozen=True)
class Measures:
    """Every figure of one incident; a report takes one of these per incident."""

    time_to_detect: Measure
    time_to_declare: Measure
    time_to_acknowledge: Measure
    time_to_mitigate: Measure
    time_to_resolve: Measure
    impact_duration: Measure
    incident_duration: Measure
    bad_minutes: BadMinutes

    @property
    def durations(self) -> tuple[Measure, ...]:
        """The durations in the order they are shown (bad minutes are not one)."""
        return (
            self.time_to_detect,
            self.time_to_declare,
            self.time_to_acknowledge,
            self.time_to_mitigate,
            self.time_to_resolve,
            self.impact_duration,
            self.incident_duration,
        )


_OUT_OF_ORDER = "recorded out of order: check the times"
_UNTIL_MITIGATED = "until mitigated: the end of impact is not recorded"
_FROM_DECLARATION = "from the declaration: detection is not recorded"


def _between(
    record: Milestones,
    name: str,
    label: str,
    counted_from: str,
    counted_to: str,
    *,
    reversed_is_possible: bool = False,
) -> Measure:
    start, end = moment(record, counted_from), moment(record, counted_to)
    if start is None or end is None:
        missing = tuple(m for m, at in ((counted_from, start), (counted_to, end)) if at is None)
        return Measure(name, label, counted_from, counted_to, None, missing=missing)
    duration = end - start
    note = _OUT_OF_ORDER if duration < timedelta(0) and not reversed_is_possible else ""
    return Measure(name, label, counted_from, counted_to, duration, note=note)


def _time_to_acknowledge(record: Milestones) -> Measure:
    """From detection, or from the declaration when detection is not recorded.

    An acknowledgement before that start happens (a page answered before anyone
    marked the problem detected), so it is shown as such, with no warning.
    """
    name, label = "time_to_acknowledge", "Time to acknowledge"
    if record.detected_at is not None:
        return _between(record, name, label, "detected", "acknowledged", reversed_is_possible=True)
    measure = _between(record, name, label, "declared", "acknowledged", reversed_is_possible=True)
    return replace(measure, note=_FROM_DECLARATION) if measure.known else measure


def _impact_duration(record: Milestones) -> Measure:
    """Until the impact ended, or until mitigation when no end of impact is recorded."""
    name, label = "impact_duration", "Impact duration"
    if record.impact_ended_at is None and record.mitigated_at is not None:
        measure = _between(record, name, label, "started", "mitigated")
        if measure.known and not measure.negative:
            return replace(measure, note=_UNTIL_MITIGATED)
        return measure
    measure = _between(record, name, label, "started", "impact_ended")
    if record.impact_ended_at is None:
        return replace(measure, missing=(*measure.missing, "mitigated"))
    return measure


def _bad_minutes(impact: Measure, fraction: float | None) -> BadMinutes:
    """Impact duration times the share affected; unknown without either."""
    duration = None
    note = ""
    if impact.duration is not None and fraction is not None:
        duration = impact.duration * fraction
        note = impact.note if impact.negative else f"{impact.text} at {percent(fraction)}"
    return BadMinutes(
        "bad_minutes",
        "Bad minutes",
        impact.counted_from,
        impact.counted_to,
        duration,
        missing=impact.missing,
        note=note,
        fraction=fraction,
    )


def measures_of(record: Milestones) -> Measures:
    """Every figure of one incident (or of one report row with the same milestones)."""
    impact = _impact_duration(record)
    return Measures(
        time_to_detect=_between(record, "time_to_detect", "Time to detect", "started", "detected"),
        time_to_declare=_between(
            record, "time_to_declare", "Time to declare", "started", "declared"
        ),
        time_to_acknowledge=_time_to_acknowledge(record),
        time_to_mitigate=_between(
            record, "time_to_mitigate", "Time to mitigate", "started", "mitigated"
        ),
        time_to_resolve=_between(
            record, "time_to_resolve", "Time to resolve", "started", "resolved"
        ),
        impact_duration=impact,
        incident_duration=_between(
            record, "incident_duration", "Incident duration", "declared", "resolved"
        ),
        bad_minutes=_bad_minutes(impact, record.impact_fraction),
    )

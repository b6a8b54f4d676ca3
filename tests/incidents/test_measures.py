"""Each figure counts from one named milestone to another, and only when both are recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.incidents.lifecycle import get_incident
from bot.incidents.measures import MILESTONES, measures_of, percent
from bot.storage.models import Incident


def at(hour: int, minute: int) -> datetime:
    return datetime(2015, 10, 21, hour, minute, tzinfo=UTC)


def incident(**milestones: datetime | float | None) -> Incident:
    """An incident declared at 15:01 with the given milestones; nothing else recorded."""
    return Incident(declared_at=milestones.pop("declared_at", at(15, 1)), **milestones)


BOOK = {
    "started_at": at(14, 54),
    "detected_at": at(14, 55),
    "acknowledged_at": at(14, 55),
    "mitigated_at": at(15, 36),
    "impact_ended_at": at(16, 0),
    "resolved_at": at(16, 30),
}


def test_every_figure_of_a_fully_recorded_incident():
    figures = measures_of(incident(**BOOK, impact_fraction=0.25))

    shown = {m.name: (m.counts, m.text, m.note) for m in figures.durations}
    assert shown == {
        "time_to_detect": ("Impact started → Detected", "1m", ""),
        "time_to_declare": ("Impact started → Declared", "7m", ""),
        "time_to_acknowledge": ("Detected → Acknowledged", "0m", ""),
        "time_to_mitigate": ("Impact started → Mitigated", "42m", ""),
        "time_to_resolve": ("Impact started → Resolved", "1h 36m", ""),
        "impact_duration": ("Impact started → Impact ended", "1h 6m", ""),
        "incident_duration": ("Declared → Resolved", "1h 29m", ""),
    }
    assert figures.impact_duration.duration == timedelta(minutes=66)
    assert figures.time_to_declare.duration == timedelta(minutes=7)
    assert [m.label for m in figures.durations] == [
        "Time to detect",
        "Time to declare",
        "Time to acknowledge",
        "Time to mitigate",
        "Time to resolve",
        "Impact duration",
        "Incident duration",
    ]


def test_bad_minutes_weigh_the_impact_by_the_share_affected():
    bad = measures_of(incident(**BOOK, impact_fraction=0.25)).bad_minutes

    assert bad.duration == timedelta(minutes=16, seconds=30)
    assert (bad.minutes, bad.text, bad.note) == (16.5, "16.5", "1h 6m at 25%")
    assert (bad.counted_from, bad.counted_to, bad.fraction) == ("started", "impact_ended", 0.25)
    whole = measures_of(incident(**BOOK, impact_fraction=1.0)).bad_minutes
    assert whole.text == "66"


def test_bad_minutes_are_unknown_without_the_share_affected():
    bad = measures_of(incident(**BOOK)).bad_minutes

    assert (bad.known, bad.duration, bad.text) == (False, None, "")
    assert bad.unknown_because == "share affected not recorded"


def test_bad_minutes_are_unknown_without_the_impact_duration():
    bad = measures_of(incident(impact_fraction=0.5, mitigated_at=at(15, 36))).bad_minutes

    assert (bad.known, bad.unknown_because) == (False, "impact started not recorded")


def test_impact_runs_until_mitigated_when_no_end_is_recorded_and_says_so():
    without_end = {k: v for k, v in BOOK.items() if k != "impact_ended_at"}
    figures = measures_of(incident(**without_end, impact_fraction=0.5))

    impact = figures.impact_duration
    assert (impact.counts, impact.text) == ("Impact started → Mitigated", "42m")
    assert impact.note == "until mitigated: the end of impact is not recorded"
    assert figures.bad_minutes.text == "21"
    assert figures.bad_minutes.counted_to == "mitigated"


def test_an_impact_neither_ended_nor_mitigated_is_not_known():
    impact = measures_of(incident(started_at=at(14, 54))).impact_duration

    assert (impact.known, impact.counted_to) == (False, "impact_ended")
    assert impact.unknown_because == "impact ended and mitigated not recorded"


def test_acknowledgement_counts_from_the_declaration_when_detection_is_not_recorded():
    ack = measures_of(incident(acknowledged_at=at(15, 4))).time_to_acknowledge

    assert (ack.counts, ack.text) == ("Declared → Acknowledged", "3m")
    assert ack.note == "from the declaration: detection is not recorded"


def test_an_acknowledgement_before_detection_is_shown_as_such():
    ack = measures_of(
        incident(detected_at=at(14, 58), acknowledged_at=at(14, 55))
    ).time_to_acknowledge

    assert ack.duration == timedelta(minutes=-3)
    assert ack.negative
    assert (ack.text, ack.note) == ("acknowledged 3m before detection", "")


def test_an_acknowledgement_before_the_declaration_says_so():
    ack = measures_of(incident(acknowledged_at=at(14, 59))).time_to_acknowledge

    assert ack.text == "acknowledged 2m before the declaration"
    assert ack.note == "from the declaration: detection is not recorded"


@pytest.mark.parametrize(
    ("milestones", "name", "text"),
    [
        ({"started_at": at(15, 0), "mitigated_at": at(14, 50)}, "time_to_mitigate",
         "mitigated 10m before the start of impact"),
        ({"resolved_at": at(14, 0)}, "incident_duration",
         "resolved 1h 1m before the declaration"),
        ({"started_at": at(15, 0), "impact_ended_at": at(14, 30)}, "impact_duration",
         "impact ended 30m before the start of impact"),
        ({"started_at": at(15, 0), "detected_at": at(14, 58)}, "time_to_detect",
         "detected 2m before the start of impact"),
    ],
)  # fmt: skip
def test_a_negative_duration_is_shown_as_such_with_a_note_never_as_zero(milestones, name, text):
    measure = getattr(measures_of(incident(**milestones)), name)

    assert measure.negative and measure.duration < timedelta(0)
    assert measure.text == text
    assert measure.note == "recorded out of order: check the times"


def test_a_negative_impact_gives_negative_bad_minutes_with_the_note():
    figures = measures_of(
        incident(started_at=at(15, 0), impact_ended_at=at(14, 30), impact_fraction=0.5)
    )

    assert figures.bad_minutes.minutes == -15
    assert figures.bad_minutes.note == "recorded out of order: check the times"


@pytest.mark.parametrize(
    ("name", "because"),
    [
        ("time_to_detect", "impact started and detected not recorded"),
        ("time_to_declare", "impact started not recorded"),
        ("time_to_acknowledge", "acknowledged not recorded"),
        ("time_to_mitigate", "impact started and mitigated not recorded"),
        ("time_to_resolve", "impact started and resolved not recorded"),
        ("impact_duration", "impact started, impact ended and mitigated not recorded"),
        ("incident_duration", "resolved not recorded"),
    ],
)
def test_an_unknown_end_leaves_the_figure_unknown_and_says_which(name, because):
    measure = getattr(measures_of(incident()), name)

    assert (measure.known, measure.duration, measure.text) == (False, None, "")
    assert measure.unknown_because == because


def test_no_figure_falls_back_to_the_declaration_for_the_start_of_impact():
    figures = measures_of(
        incident(detected_at=at(15, 0), mitigated_at=at(15, 30), resolved_at=at(16, 0))
    )

    assert not figures.time_to_detect.known
    assert not figures.time_to_mitigate.known
    assert not figures.time_to_resolve.known
    assert figures.incident_duration.text == "59m"


def test_every_milestone_named_by_a_figure_has_a_label():
    figures = measures_of(incident(**BOOK))

    for measure in figures.durations:
        assert measure.counted_from in MILESTONES and measure.counted_to in MILESTONES
    assert percent(0.125) == "12.5%" and percent(1.0) == "100%"


def test_figures_of_an_incident_read_back_from_the_database(alice, session_factory):
    alice.says("declare sev2 Checkout API returns 500s")  # 2026-11-25 14:00 UTC
    with session_factory() as session:
        row = get_incident(session, "INC-1")
        row.started_at = row.declared_at - timedelta(minutes=20)
        row.impact_ended_at = row.declared_at + timedelta(minutes=40)
        row.impact_fraction = 0.1
        session.commit()

    with session_factory() as session:
        figures = measures_of(get_incident(session, "INC-1"))

    assert figures.time_to_declare.text == "20m"
    assert figures.impact_duration.text == "1h 0m"
    assert figures.bad_minutes.text == "6"
    assert not figures.incident_duration.known

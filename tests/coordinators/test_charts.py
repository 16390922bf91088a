"""The patient page's trend chart: where each answer lands, which answers a line joins, the
infusion days and the baseline band."""

from __future__ import annotations

from datetime import UTC, date, datetime

from server.checkins.schemas import Outcome, Trend, TrendDay, TrendInfusion
from server.coordinators.charts import chart

FIRST = date(2026, 3, 1)


def _day(n: int, pain: float | None = None, peg: float | None = None) -> TrendDay:
    return TrendDay(date(2026, 3, n), pain, None, peg)


def _trend(days: list[TrendDay], infusions: list[TrendInfusion], outcome: Outcome | None) -> Trend:
    return Trend(date(2026, 1, 1), date(2026, 3, 21), "America/New_York", days, infusions, outcome)


def _outcome(baseline: float) -> Outcome:
    at = datetime(2026, 3, 21, 12, tzinfo=UTC)
    return Outcome(
        "pain_now", 5, baseline, 3, "first_three", -3, -37.5, "moderate", 5, "moderate", at
    )


def test_answers_are_placed_by_day_and_value() -> None:
    drawn = chart(_trend([_day(1, pain=10), _day(21, pain=0)], [], None))
    # The range starts at the first answer (not at ``since``): 20 days over 720 - 32 - 12 px.
    assert (drawn["first"], drawn["last"]) == (FIRST, date(2026, 3, 21))
    [pain] = [s for s in drawn["series"] if s["key"] == "pain"]
    # 10 at the top margin, 0 on the bottom axis (240 - 28); two dots, as they are 20 days apart.
    assert pain["runs"] == [[(32.0, 12.0)], [(708.0, 212.0)]]
    assert [t["y"] for t in drawn["ticks"]] == [212.0, 112.0, 12.0]


def test_a_line_joins_only_answers_close_enough() -> None:
    days = [
        _day(1, pain=8),
        _day(2, pain=7),
        _day(5, pain=5),
        _day(6, pain=4, peg=6),
        _day(13, peg=5),
    ]
    drawn = chart(_trend(days, [], None))
    runs = {s["key"]: [len(run) for run in s["runs"]] for s in drawn["series"]}
    # Daily pain: days 1-2 joined, 3 and 4 missed, 5-6 joined. Weekly PEG-3: 7 days apart, joined.
    assert runs == {"pain": [2, 2], "fatigue": [], "peg": [2]}


def test_infusions_and_the_baseline_band() -> None:
    infusion = TrendInfusion(datetime(2026, 3, 11, 15, tzinfo=UTC), date(2026, 3, 11), "completed")
    drawn = chart(_trend([_day(1, pain=6)], [infusion], _outcome(8)))
    assert drawn["infusions"] == [{"x": 370.0, "date": date(2026, 3, 11), "status": "completed"}]
    # From the baseline (8) down to a 30% improvement (5.6).
    assert drawn["band"] == {"y1": 52.0, "y2": 100.0, "baseline": 8}
    assert chart(_trend([_day(1, pain=6)], [], None))["band"] is None


def test_a_patient_with_no_answers_spans_the_whole_range() -> None:
    drawn = chart(_trend([], [], None))
    assert (drawn["first"], drawn["last"]) == (date(2026, 1, 1), date(2026, 3, 21))
    assert all(s["runs"] == [] for s in drawn["series"])

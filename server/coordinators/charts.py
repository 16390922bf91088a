"""The patient page's trend chart, drawn as SVG coordinates for the template."""

from __future__ import annotations

from datetime import date
from typing import Any

from server.checkins.schemas import Trend

SERIES = [  # key, label, colour, dash, longest gap (days) still joined by a line
    ("pain", "Pain now", "#a4161a", "", 1),
    ("fatigue", "Fatigue", "#1d4e89", "6 4", 1),
    ("peg", "PEG-3 (weekly)", "#6b3fa0", "2 3", 8),
]


def chart(trend: Trend) -> dict[str, Any]:
    """Pain, fatigue and PEG-3 by day on 0-10, the infusion days, and the baseline band (from
    the baseline down to 30% better, the line of a meaningful improvement)."""
    width, height, left, right, top, bottom = 720, 240, 32, 12, 12, 28
    # From the first answer or infusion in the range, so a new patient's weeks fill the width.
    dates = [d.date for d in trend.days] + [i.date for i in trend.infusions]
    first, last = (min(dates) if dates else trend.since), trend.until
    span = max(1, (last - first).days)

    def x(day: date) -> float:
        return round(left + (day - first).days / span * (width - left - right), 1)

    def y(value: float) -> float:
        return round(top + (1 - value / 10) * (height - top - bottom), 1)

    series = []
    for key, label, colour, dash, gap in SERIES:
        # A line only between answers at most `gap` days apart: missed days are not drawn as if
        # answered. An answer alone between gaps is a dot.
        runs: list[list[tuple[float, float]]] = []
        previous: date | None = None
        for day_ in trend.days:
            value = getattr(day_, key)
            if value is None:
                continue
            if previous is None or (day_.date - previous).days > gap:
                runs.append([])
            runs[-1].append((x(day_.date), y(value)))
            previous = day_.date
        series.append({"key": key, "label": label, "colour": colour, "dash": dash, "runs": runs})
    band = None
    if trend.outcome is not None:
        base = trend.outcome.baseline
        band = {"y1": y(base), "y2": y(base * 0.7), "baseline": base}
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "bottom": height - bottom,
        "ticks": [{"value": v, "y": y(v)} for v in (0, 5, 10)],
        "series": series,
        "infusions": [
            {"x": x(i.date), "date": i.date, "status": i.status} for i in trend.infusions
        ],
        "band": band,
        "first": first,
        "last": last,
    }

"""How urgent each kind of alert is: the one place that says it.

Every value of the ``alert_kind`` enum (sql/migrations) has a severity here, and a test holds
the two together. The board, notifications and the operators' metrics read it from here.
"""

from __future__ import annotations

from typing import Literal

Severity = Literal["attention", "high", "urgent"]
SEVERITIES: tuple[Severity, ...] = ("attention", "high", "urgent")

SEVERITY: dict[str, Severity] = {
    # A self-report of a severe side effect: someone should call today.
    "severe_side_effect": "urgent",
    "pain_high": "high",
    "worsening": "high",
    "pgic_worse": "high",
    # No answer is not a clinical signal by itself: follow up when there is time.
    "missed_twice": "attention",
}

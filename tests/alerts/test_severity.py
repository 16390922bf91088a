"""Every kind of alert the database can hold has one severity."""

from __future__ import annotations

from server import db
from server.alerts.severity import SEVERITIES, SEVERITY
from tests.conftest import MakeDatabase


async def test_every_alert_kind_has_a_severity(make_database: MakeDatabase) -> None:
    async with db.connection(await make_database()) as conn:
        kinds = await conn.fetchval("select enum_range(null::alert_kind)::text[]")
    assert set(SEVERITY) == set(kinds)
    assert set(SEVERITY.values()) <= set(SEVERITIES)
    assert SEVERITY["severe_side_effect"] == "urgent" and SEVERITY["missed_twice"] == "attention"

"""What staff do, and who may do each: one guard per action.

An action served both as a dashboard page and through the JSON API carries the same guard on
both handlers, so the two cannot disagree about who may do it (tests/security/
test_page_api_agreement.py asks both for each). The guard runs after the controller's sign-in
guard (``staff_api`` or ``staff_page`` in server/auth/guards.py), which checks the session's
CSRF token on changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from server.auth.guards import staff_of
from server.auth.schemas import Role
from server.errors import Forbidden


@dataclass(frozen=True)
class Action:
    name: str
    # Set when only the clinic's admins may: what they do, as the refusal says it.
    admins_only: str | None = None

    def allows(self, role: Role) -> bool:
        return self.admins_only is None or role == "admin"

    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
    ) -> None:
        if not self.allows(staff_of(connection).role):
            raise Forbidden(f"only the clinic's admins {self.admins_only}")


SIGN_OUT = Action("session.end")
BOARD_VIEW = Action("board.view")
PATIENTS_LIST = Action("patients.list")
PATIENT_CREATE = Action("patients.create")
# The patient's record in any form: detail, check-ins, trend, FHIR, windows, infusions.
PATIENT_READ = Action("patient.read")
PATIENT_SETTINGS = Action("patient.settings")
PATIENT_DISCHARGE = Action("patient.discharge")
ENROLLMENT_CODE = Action("patient.enrollment_code")
NUDGE = Action("patient.nudge")
INFUSION_SCHEDULE = Action("infusion.schedule")
INFUSION_CHANGE = Action("infusion.change")
ALERTS_LIST = Action("alerts.list")
ALERT_ACKNOWLEDGE = Action("alert.acknowledge")
EXPORT = Action("checkins.export")
# Coordinators read the protocol (it says when windows open and reminders go); admins set it.
PROTOCOL_READ = Action("protocol.read")
PROTOCOL_CHANGE = Action("protocol.change", admins_only="change its protocol")
STAFF_MANAGE = Action("staff.manage", admins_only="manage its coordinators")
AUDIT_VIEW = Action("audit.view", admins_only="see the audit trail")

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from server.schedule.windows import zone_names

Condition = Literal["crps", "fibromyalgia", "lyme", "other"]
Language = Literal["en", "es"]
Status = Literal["invited", "active", "discharged"]
ClockTime = Annotated[
    str,
    Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description='local time "HH:MM", 24-hour'),
]
ZoneName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        description="IANA time zone, like Europe/London",
        # The names is_valid_zone accepts, so the OpenAPI schema lists exactly those.
        extra_json_schema={"enum": sorted(zone_names())},
    ),
]
DisplayName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=100,
        # What create_patient checks, for the OpenAPI schema: not blank, no NUL.
        extra_json_schema={"pattern": r"^[^\u0000]*[^\s\u0000][^\u0000]*$"},
    ),
]


class QuietHours(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    start: ClockTime
    end: ClockTime


class EnrollRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: Annotated[str, Meta(min_length=1, max_length=64)]


class Profile(msgspec.Struct, frozen=True):
    patient_id: UUID
    display_name: str
    clinic_name: str
    timezone: str
    reminder_time: str
    quiet_hours: QuietHours | None
    language: Language
    reminders_paused_until: datetime | None
    next_infusion: datetime | None


class EnrollResponse(msgspec.Struct, frozen=True):
    patient_id: UUID
    device_token: str
    profile: Profile


class ProfilePatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Only the fields sent change; ``null`` clears quiet hours or a pause."""

    timezone: ZoneName | UnsetType = UNSET
    reminder_time: ClockTime | UnsetType = UNSET
    quiet_hours: QuietHours | UnsetType | None = UNSET
    language: Language | UnsetType = UNSET
    reminders_paused_until: Annotated[datetime, Meta(tz=True)] | UnsetType | None = UNSET


class NewPatient(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    display_name: DisplayName
    timezone: ZoneName
    condition: Condition = "other"
    language: Language = "en"
    reminder_time: ClockTime = "18:00"


class PatientCreated(msgspec.Struct, frozen=True):
    patient_id: UUID
    clinic_id: UUID
    enrollment_code: str
    enrollment_link: str
    expires_at: datetime


class PatientSummary(msgspec.Struct, frozen=True):
    patient_id: UUID
    display_name: str
    condition: Condition
    status: Status
    timezone: str
    created_at: datetime
    last_checkin_at: datetime | None


class PatientPage(msgspec.Struct, frozen=True):
    items: list[PatientSummary]
    next_cursor: str | None


class PatientDetail(msgspec.Struct, frozen=True):
    patient_id: UUID
    display_name: str
    condition: Condition
    status: Status
    timezone: str
    reminder_time: str
    language: Language
    created_at: datetime
    reminders_paused_until: datetime | None
    quiet_hours: QuietHours | None
    windows_completed_30d: int
    windows_missed_30d: int
    adherence_30d: float | None
    last_infusion: datetime | None
    next_infusion: datetime | None
    latest_scores: dict[str, Any] | None
    latest_checkin_at: datetime | None


class ProfileRow(msgspec.Struct, frozen=True):
    patient_id: UUID
    display_name: str
    clinic_name: str
    timezone: str
    reminder_time: str
    quiet_start: str | None
    quiet_end: str | None
    language: Language
    reminders_paused_until: datetime | None
    next_infusion: datetime | None


class ScheduleSettings(msgspec.Struct, frozen=True):
    """What planning and the due list need of a patient."""

    id: UUID
    language: Language
    condition: Condition
    planned_until: datetime | None
    timezone: str


class DetailRow(msgspec.Struct, frozen=True):
    patient_id: UUID
    display_name: str
    condition: Condition
    status: Status
    timezone: str
    reminder_time: str
    language: Language
    created_at: datetime
    reminders_paused_until: datetime | None
    quiet_start: str | None
    quiet_end: str | None
    windows_completed_30d: int
    windows_missed_30d: int
    last_infusion: datetime | None
    next_infusion: datetime | None

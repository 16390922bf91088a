"""Push HTTP: the VAPID key, a device's subscription, "opened" reports; coordinators' nudge
and per-window delivery status."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, Parameter

from server.auth import actions
from server.auth.guards import staff_api
from server.deps import patient_request, settings_of, staff_request
from server.error_docs import errors_documented
from server.pagination import Cursor
from server.reminders import service
from server.reminders.schemas import Opened, PublicKey, ReminderOut, SubscriptionIn, WindowPage
from server.web import AnyRequest

DEVICE: list[dict[str, list[str]]] = [{"device": []}]


class PushController(Controller):
    path = "/api/push"
    tags = ["patient"]

    @get("/public-key", summary="The server's VAPID key to subscribe with (base64url)")
    async def public_key(self, state: State) -> PublicKey:
        return PublicKey(state.vapid_public_key)

    @put(
        "/subscription",
        status_code=204,
        summary="Save this device's PushSubscription (replaces its previous one)",
        security=DEVICE,
    )
    async def save(self, request: AnyRequest, data: SubscriptionIn) -> None:
        async with patient_request(request) as patient:
            await service.subscribe(
                patient.conn,
                settings_of(request.app.state),
                patient.who.patient_id,
                patient.who.device_id,
                data,
                patient.now,
            )

    @delete("/subscription", status_code=204, summary="Stop push to this device", security=DEVICE)
    async def remove(self, request: AnyRequest) -> None:
        async with patient_request(request) as patient:
            await service.unsubscribe(patient.conn, patient.who.device_id)

    @post(
        "/opened",
        status_code=204,
        summary="The patient opened the app from this reminder's notification",
        security=DEVICE,
        responses=errors_documented(404),
    )
    async def opened(self, request: AnyRequest, data: Opened) -> None:
        async with patient_request(request) as patient:
            await service.opened(
                patient.conn, patient.who.patient_id, data.reminder_id, patient.now
            )


class CoordinatorReminderController(Controller):
    path = "/api/coordinator/patients/{patient_id:uuid}"
    tags = ["coordinator"]
    security = [{"coordinator": []}]
    guards = [staff_api]

    @post(
        "/nudge",
        status_code=202,
        summary="Send the patient a reminder now (after their quiet hours)",
        responses=errors_documented(409),
        guards=[actions.NUDGE],
    )
    async def nudge(self, request: AnyRequest, patient_id: FromPath[UUID]) -> ReminderOut:
        async with staff_request(request) as staff:
            return await service.nudge(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, patient_id, staff.now
            )

    @get(
        "/windows",
        summary="Check-in windows that have opened, with each reminder's delivery",
        guards=[actions.PATIENT_READ],
    )
    async def windows(
        self,
        request: AnyRequest,
        patient_id: FromPath[UUID],
        cursor: str | None = Cursor,
        limit: int = Parameter(default=30, ge=1, le=100),
    ) -> WindowPage:
        async with staff_request(request) as staff:
            return await service.windows(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient_id,
                cursor,
                limit,
                staff.now,
            )

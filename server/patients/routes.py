"""Patient-side HTTP: enrollment, profile, logout."""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, Response, get, patch, post
from litestar.datastructures import Cookie

from server.auth.guards import DEVICE_COOKIE
from server.auth.schemas import PatientPrincipal
from server.auth.throttle import client_key
from server.db import Connection
from server.deps import client_host
from server.patients import service
from server.patients.schemas import EnrollRequest, EnrollResponse, Profile, ProfilePatch
from server.settings import Settings
from server.web import AnyRequest

# Browsers cap cookie lifetime at 400 days; the token itself lives until the device leaves.
DEVICE_COOKIE_MAX_AGE = 400 * 24 * 3600


def device_cookie(settings: Settings, token: str, max_age: int = DEVICE_COOKIE_MAX_AGE) -> Cookie:
    return Cookie(
        key=DEVICE_COOKIE,
        value=token,
        path="/api",
        httponly=True,
        secure=settings.secure_cookies,
        samesite="strict",
        max_age=max_age,
    )


class PatientController(Controller):
    path = "/api"
    tags = ["patient"]

    @post("/enroll", status_code=201, summary="Exchange a one-time code for a device token")
    async def enroll(
        self,
        request: AnyRequest,
        data: EnrollRequest,
        settings: Settings,
        now: datetime,
    ) -> Response[EnrollResponse]:
        enrolled = await service.enroll(
            request.app.state.pool, settings, data.code, client_key(client_host(request)), now
        )
        return Response(
            enrolled, status_code=201, cookies=[device_cookie(settings, enrolled.device_token)]
        )

    @get("/me", summary="This patient's profile")
    async def me(self, patient: PatientPrincipal, conn: Connection, now: datetime) -> Profile:
        return await service.get_profile(conn, patient.patient_id, now)

    @patch("/me", summary="Change reminder time, quiet hours, language, time zone or pause")
    async def update_me(
        self, data: ProfilePatch, patient: PatientPrincipal, conn: Connection, now: datetime
    ) -> Profile:
        return await service.update_profile(conn, patient.patient_id, data, now)

    @post("/logout", status_code=204, summary="Revoke this device")
    async def logout(
        self, patient: PatientPrincipal, conn: Connection, settings: Settings, now: datetime
    ) -> Response[None]:
        await service.logout(conn, patient.device_id, now)
        return Response(None, status_code=204, cookies=[device_cookie(settings, "", max_age=0)])

"""Patient-side HTTP: enrollment, profile, logout."""

from __future__ import annotations

from litestar import Controller, Response, get, patch, post
from litestar.datastructures import Cookie, State
from litestar.openapi import ResponseSpec

from server.auth.guards import DEVICE_COOKIE
from server.auth.throttle import client_key
from server.deps import client_host, now_of, patient_request, pool_of, settings_of
from server.error_docs import errors_documented
from server.patients import service
from server.patients.schemas import EnrollRequest, EnrollResponse, Profile, ProfilePatch
from server.settings import Settings
from server.web import AnyRequest

DEVICE: list[dict[str, list[str]]] = [{"device": []}]  # OpenAPI: needs the device token

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

    @post(
        "/enroll",
        status_code=201,
        summary="Exchange a one-time code for a device token",
        responses=errors_documented(429),
    )
    async def enroll(
        self,
        state: State,
        request: AnyRequest,
        data: EnrollRequest,
    ) -> Response[EnrollResponse]:
        now = now_of(state)
        settings = settings_of(state)
        enrolled = await service.enroll(
            pool_of(state), settings, data.code, client_key(client_host(request)), now
        )
        return Response(
            enrolled, status_code=201, cookies=[device_cookie(settings, enrolled.device_token)]
        )

    @get("/me", summary="This patient's profile", security=DEVICE)
    async def me(self, request: AnyRequest) -> Profile:
        async with patient_request(request) as patient:
            return await service.get_profile(patient.conn, patient.who.patient_id, patient.now)

    @patch(
        "/me",
        summary="Change reminder time, quiet hours, language, time zone or pause",
        security=DEVICE,
    )
    async def update_me(self, request: AnyRequest, data: ProfilePatch) -> Profile:
        async with patient_request(request) as patient:
            return await service.update_profile(
                patient.conn, patient.who.patient_id, data, patient.now
            )

    @post(
        "/logout",
        status_code=204,
        summary="Revoke this device",
        security=DEVICE,
        # Litestar would describe Response[None] as a JSON null body; the answer has none.
        responses={204: ResponseSpec(None, description="Revoked; the device cookie is cleared")},
    )
    async def logout(self, state: State, request: AnyRequest) -> Response[None]:
        async with patient_request(request) as patient:
            await service.logout(patient.conn, patient.who.device_id, patient.now)
        # Other processes hear of it through PostgreSQL; this one forgets the device now.
        state.device_cache.invalidate(f"device:{patient.who.device_id}")
        cookie = device_cookie(settings_of(state), "", max_age=0)
        return Response(None, status_code=204, cookies=[cookie])

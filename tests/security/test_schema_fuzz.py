"""Schemathesis runs every operation of the served OpenAPI schema against the live server.

Patient operations carry an enrolled patient's device token, coordinator operations an
admin's API token (Bearer), so the generated requests reach the handlers instead of stopping
at 401. Path parameters that the generator makes as well-formed ids are pointed at that
clinic's real patient, alert and infusion session, so bodies and queries are tried against
real records (ids that are not well formed are sent as generated). Each response must be no
5xx and must match the schema: a documented status, its content type, and a body that
validates against the declared response schema.

Operations that end their own credentials (logout revokes the device, discharge stops the
patient's phones) each get a clinic of their own: the shared clinic's tokens stay valid for
every other operation, whatever order the operations run in. Their repeated examples then
meet the already-revoked or already-discharged state, which must also answer as documented.

Deterministic and bounded: Hypothesis is derandomized (a fixed seed per test), keeps no
example database, and tries a fixed number of examples per operation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import BaseSchema, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server import db
from server.app import create_app
from server.settings import Settings
from tests.support.factories import (
    checkin_body,
    client_ip,
    enrolled_patient,
    make_clinic,
    make_coordinator,
    now,
)
from tests.support.live import ServerProcess

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Operations that revoke the credentials they are called with.
SELF_ENDING = ("POST /api/logout", "POST /api/coordinator/patients/{patient_id}/discharge")


@dataclass
class Clinic:
    """A clinic with an admin's API token and one enrolled patient who has data."""

    staff: dict[str, str]
    patient: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)


async def _clinic(pool: db.Pool, settings: Settings, http: httpx.AsyncClient) -> Clinic:
    clinic = await make_clinic(pool)
    token = await make_coordinator(pool, clinic.id, role="admin")
    staff = {"Authorization": f"Bearer {token}"}
    created, patient = await enrolled_patient(pool, settings, http, clinic.id)
    # A pain score of 10 raises an alert to acknowledge.
    stored = await http.post("/api/checkins", json=checkin_body(pain=10), headers=patient)
    assert stored.status_code == 201, stored.text
    [alert] = (await http.get("/api/coordinator/alerts", headers=staff)).json()["items"]
    infusion = await http.post(
        f"/api/coordinator/patients/{created.patient_id}/infusions",
        json={"scheduled_at": (now().replace(microsecond=0)).isoformat()},
        headers=staff,
    )
    assert infusion.status_code == 201, infusion.text
    return Clinic(
        staff=staff,
        patient=patient,
        ids={
            "patient_id": str(created.patient_id),
            "alert_id": alert["id"],
            "session_id": infusion.json()["id"],
        },
    )


@pytest.fixture(scope="module")
async def clinics(pool: db.Pool, settings: Settings, http: httpx.AsyncClient) -> dict[str, Clinic]:
    """The shared clinic under "", and one of their own for each self-ending operation."""
    return {label: await _clinic(pool, settings, http) for label in ("", *SELF_ENDING)}


@pytest.fixture(scope="module")
def served_schema(server: ServerProcess) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{server.url}/schema/openapi.json")


def _operations() -> list[str]:
    """Every operation of the app's schema (built here to name the tests; the test itself
    fuzzes the schema the live server serves)."""
    spec = create_app(Settings(), "postgresql://unused").openapi_schema.to_schema()
    return [
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "put", "post", "patch", "delete")
    ]


@pytest.mark.parametrize("label", _operations())
def test_every_operation_answers_as_documented(
    label: str, served_schema: BaseSchema, clinics: dict[str, Clinic]
) -> None:
    method, path = label.split(" ", 1)
    operation = served_schema[path][method]
    clinic = clinics[label] if label in SELF_ENDING else clinics[""]
    security = operation.definition.raw.get("security") or [{}]
    schemes = {name for requirement in security for name in requirement}
    auth = (
        clinic.patient if "device" in schemes else clinic.staff if "coordinator" in schemes else {}
    )

    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
    )
    @settings(
        max_examples=50,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        for name, value in (case.path_parameters or {}).items():
            if name in clinic.ids and _is_uuid(value):
                case.path_parameters[name] = clinic.ids[name]
        case.call_and_validate(headers={"X-Forwarded-For": client_ip()} | auth, checks=CHECKS)

    fuzz()


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


async def test_error_answers_are_documented_as_sent(http: httpx.AsyncClient) -> None:
    """Every 4xx in the schema is the ErrorBody the server sends (not Litestar's own error
    shape), the statuses the handlers give are declared, and empty answers declare no body."""
    spec = (await http.get("/schema/openapi.json")).json()
    paths = spec["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    content = response["content"]["application/json"]["schema"]
                    assert content == {"$ref": "#/components/schemas/ErrorBody"}, (
                        method,
                        path,
                        status,
                    )
    assert spec["components"]["schemas"]["ErrorBody"]["required"] == ["error", "message"]

    def declared(method: str, path: str) -> set[str]:
        return set(paths[path][method]["responses"])

    assert {"401", "409", "413", "415", "422"} <= declared("post", "/api/checkins")
    assert {"400", "422", "429"} <= declared("post", "/api/enroll")
    assert {"401", "403", "404", "409"} <= declared(
        "post", "/api/coordinator/patients/{patient_id}/discharge"
    )
    assert {"401", "403", "404", "409"} <= declared(
        "post", "/api/coordinator/alerts/{alert_id}/acknowledge"
    )
    assert "404" in declared("post", "/api/push/opened")
    assert {"401", "403"} <= declared("get", "/api/coordinator/export.csv")
    assert "401" in declared("get", "/api/me")
    assert "content" not in paths["/api/logout"]["post"]["responses"]["204"]
    assert paths["/healthz"]["get"]["responses"]["503"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/Health"}

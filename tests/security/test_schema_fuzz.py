"""Schemathesis runs every operation of the served OpenAPI schema against the live server, with
every check it has, and then runs operations in sequence along the links between them.

Each operation goes through schemathesis' examples, coverage and fuzzing phases, positive and
negative: responses must be no 5xx and match the schema (a documented status, its content type
and headers, a body that validates), a request the schema allows must be accepted, one it
forbids refused, methods the schema does not list answered 405 with ``Allow``, and an
operation that needs credentials must refuse a request without them. The stateful test then
follows the links schemathesis infers from the schema (a patient created, then read, changed,
scheduled ...), where a resource just created must be there to read.

Patient operations carry an enrolled patient's device token, coordinator operations an
admin's API token (Bearer), so the generated requests reach the handlers instead of stopping
at 401. Path parameters that the generator makes as well-formed ids are pointed at that
clinic's real patient, alert and infusion session, so bodies and queries are tried against
real records (ids that are not well formed are sent as generated).

A request the schema allows can still be refused for a reason no JSON Schema can state (a code
only the clinic knows, answers that must fit the questionnaire due, a date range that moves
with today). Each such operation is listed in REFUSED_THOUGH_SCHEMA_VALID with the status,
the fields its error names and why; any other refusal of a schema-valid request fails.

Operations that end their own credentials (logout revokes the device, discharge stops the
patient's phones) each get a clinic of their own, and so does the stateful test: the shared
clinic's tokens stay valid for every other operation, whatever order the operations run in.

Deterministic and bounded: Hypothesis is derandomized, keeps no example database, and tries
a fixed number of examples per operation and of sequences.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import (
    CHECKS,
    CheckContext,
    allow_header_conformance,
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    load_all_checks,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    object_level_authorization,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response

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

EXAMPLES_PER_OPERATION = 25
SEQUENCES = 40


@dataclass(frozen=True)
class Refusal:
    """How the server refuses some requests the schema allows: the status, the fields its
    errors may name ("body" for an error about the body as a whole), and why no schema can
    say so."""

    status: int
    fields: frozenset[str]
    reason: str

    def matches(self, response: Response) -> bool:
        if response.status_code != self.status:
            return False
        named = {error["field"] for error in response.json().get("errors", [])} or {"body"}
        return all(name.split(".", 1)[0] in self.fields for name in named)


CURSOR = Refusal(
    422,
    frozenset({"cursor"}),
    "a page's cursor is the next_cursor the server issued for the page before: a well-formed "
    "one it did not issue does not decode",
)
PROFILE = Refusal(
    422,
    frozenset({"reminders_paused_until", "quiet_hours"}),
    "a pause must end in the future, a bound that moves with the clock; quiet hours must "
    "start and end at different times, a rule between two fields",
)
REFUSED_THOUGH_SCHEMA_VALID: dict[str, Refusal] = {
    "GET /api/checkins": CURSOR,
    "GET /api/coordinator/patients": CURSOR,
    "GET /api/coordinator/patients/{patient_id}/checkins": CURSOR,
    "GET /api/coordinator/patients/{patient_id}/windows": CURSOR,
    "PATCH /api/me": PROFILE,
    "PATCH /api/coordinator/patients/{patient_id}": PROFILE,
    "POST /api/enroll": Refusal(
        400,
        frozenset({"body"}),
        "only a code the clinic issued, unused and unexpired, enrolls a phone",
    ),
    "POST /api/checkins": Refusal(
        422,
        frozenset({"answers", "answered_at", "due_id", "questionnaire", "questionnaire_version"}),
        "the answers must fit the questionnaire due (its item codes, types and ranges), which "
        "the patient's schedule decides, not the schema; and a check-in is answered within the "
        "last year, a bound that moves with the clock",
    ),
    "PUT /api/push/subscription": Refusal(
        422,
        frozenset({"endpoint", "keys"}),
        "the endpoint must be https on a known push service host (configured), and the keys "
        "a real P-256 public key and auth secret",
    ),
    "PATCH /api/coordinator/patients/{patient_id}/infusions/{session_id}": Refusal(
        422,
        frozenset({"body", "scheduled_at"}),
        "rescheduling (scheduled_at) and settling (status) are two requests: a body with both "
        "or with neither is refused; and an infusion is scheduled within a year before and two "
        "years after today, a range that moves with the date",
    ),
    "POST /api/coordinator/patients/{patient_id}/infusions": Refusal(
        422,
        frozenset({"scheduled_at"}),
        "an infusion is scheduled within a year before and two years after today, a range "
        "that moves with the date",
    ),
}


def positive_data_accepted(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """schemathesis' positive_data_acceptance, except for a refusal listed above."""
    refusal = REFUSED_THOUGH_SCHEMA_VALID.get(case.operation.label)
    if refusal is not None and refusal.matches(response):
        return None
    return positive_data_acceptance(ctx, response, case)


EVERY_CHECK = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
    use_after_free,
    ensure_resource_availability,
    ignored_auth,
    object_level_authorization,
]
CHECKS_RUN = [positive_data_accepted if c is positive_data_acceptance else c for c in EVERY_CHECK]

# Operations that revoke the credentials they are called with.
SELF_ENDING = ("POST /api/logout", "POST /api/coordinator/patients/{patient_id}/discharge")
SEQUENCES_CLINIC = "sequences"

HYPOTHESIS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)

# The app's own document, to make one test per operation; test_the_served_schema_is_the_apps
# holds the live server to serving the same.
APP_SCHEMA = create_app(Settings(), "postgresql://unused").openapi_schema.to_schema()
OPERATIONS = {
    f"{method.upper()} {path}" for path, item in APP_SCHEMA["paths"].items() for method in item
}
fuzzed = schemathesis.openapi.from_dict(
    APP_SCHEMA,
    config=SchemathesisConfig.from_dict(
        {
            "generation": {
                "max-examples": EXAMPLES_PER_OPERATION,
                "deterministic": True,
                "database": "none",
                # The test sends the credentials itself (Clinic.headers_for).
                "with-security-parameters": False,
            }
        }
    ),
)


@dataclass
class Clinic:
    """A clinic with an admin's API token and one enrolled patient who has data."""

    staff: dict[str, str]
    patient: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)

    def headers_for(self, case: Case) -> dict[str, str]:
        """The credentials the operation declares, and a client address of its own (the
        enrollment rate limit counts by address)."""
        security = case.operation.definition.raw.get("security") or [{}]
        schemes = {name for requirement in security for name in requirement}
        auth = (
            self.patient if "device" in schemes else self.staff if "coordinator" in schemes else {}
        )
        return {"X-Forwarded-For": client_ip()} | auth


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
    """The shared clinic under "", one of their own for each self-ending operation, and one
    for the sequences of the stateful test."""
    labels = ("", *SELF_ENDING, SEQUENCES_CLINIC)
    return {label: await _clinic(pool, settings, http) for label in labels}


def test_every_check_is_run() -> None:
    """The list above is every check this schemathesis has: a new one is not skipped unseen."""
    load_all_checks()
    assert {check.__name__ for check in EVERY_CHECK} == set(CHECKS.get_all_names())


def test_listed_operations_exist() -> None:
    assert REFUSED_THOUGH_SCHEMA_VALID.keys() <= OPERATIONS
    assert set(SELF_ENDING) <= OPERATIONS


async def test_the_served_schema_is_the_apps(http: httpx.AsyncClient) -> None:
    assert (await http.get("/schema/openapi.json")).json() == APP_SCHEMA


@fuzzed.parametrize()
@HYPOTHESIS
def test_every_operation_answers_as_documented(
    case: Case, server: ServerProcess, clinics: dict[str, Clinic]
) -> None:
    label = case.operation.label
    clinic = clinics[label] if label in SELF_ENDING else clinics[""]
    for name, value in (case.path_parameters or {}).items():
        if name in clinic.ids and _is_uuid(value):
            case.path_parameters[name] = clinic.ids[name]
    case.call_and_validate(base_url=server.url, headers=clinic.headers_for(case), checks=CHECKS_RUN)


def test_operations_in_sequence(server: ServerProcess, clinics: dict[str, Clinic]) -> None:
    clinic = clinics[SEQUENCES_CLINIC]
    workflow = fuzzed.as_state_machine()
    # The links schemathesis infers include creating a patient, then reading it.
    assert any(
        "POST_api_coordinator_patients___201" in name
        and "GET_api_coordinator_patients_patient_id_" in name
        for name in dir(workflow)
    )

    class Sequences(workflow):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"base_url": server.url, "headers": clinic.headers_for(case)}

        def validate_response(
            self, response: Response, case: Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                checks=CHECKS_RUN,
                headers=kwargs.get("headers"),
                transport_kwargs=kwargs,
                recorder=self.recorder,
            )

    Sequences.run(settings=settings(HYPOTHESIS, max_examples=SEQUENCES, stateful_step_count=6))


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

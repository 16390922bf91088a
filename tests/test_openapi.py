"""The served contract is exact: request bodies as msgspec decodes them, cursors as the server
issues them, and OPTIONS answers that list every method of their path."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from litestar.routes import HTTPRoute

from server import db
from server.app import create_app
from server.openapi import COMPONENT_REF, NO_NUL, body_structs
from server.schedule.windows import zone_names
from server.settings import Settings
from tests.support.factories import enrolled_patient, make_clinic, make_coordinator, make_patient
from tests.support.live import ServerProcess
from tests.support.staff import make_staff, signed_in

APP = create_app(Settings(), "postgresql://unused")
HTTP_ROUTES = [route for route in APP.routes if isinstance(route, HTTPRoute)]
# A value of each path parameter type that routes to the route (whether a record exists or not).
SAMPLE = {"uuid": str(uuid.UUID(int=1)), "str": "elsewhere", "path": "index.html"}


def _concrete(route: HTTPRoute) -> str:
    """The route's path with each parameter filled in."""
    return re.sub(r"\{[^}:]+:([^}]+)\}", lambda m: SAMPLE[m.group(1)], route.path)


@pytest.fixture(scope="module")
async def callers(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, server: ServerProcess
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """A client for each kind of caller, with the credentials its paths ask for: a patient's
    device token, a coordinator's API token, a coordinator's browser session."""
    clinic = await make_clinic(pool)
    _, patient = await enrolled_patient(pool, settings, http, clinic.id)
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    async with (
        httpx.AsyncClient(base_url=server.url, headers=patient) as patient_client,
        httpx.AsyncClient(base_url=server.url, headers=staff) as staff_client,
        httpx.AsyncClient(base_url=server.url) as browser,
    ):
        await signed_in(browser, await make_staff(pool, clinic.id))
        yield {"patient": patient_client, "staff": staff_client, "browser": browser}


def _caller(path: str, callers: dict[str, httpx.AsyncClient]) -> httpx.AsyncClient:
    if path.startswith("/api/coordinator/"):
        return callers["staff"]
    return callers["patient"] if path.startswith("/api/") else callers["browser"]


@pytest.mark.parametrize("route", HTTP_ROUTES, ids=[route.path for route in HTTP_ROUTES])
async def test_options_allows_every_method_of_the_path(
    route: HTTPRoute, callers: dict[str, httpx.AsyncClient]
) -> None:
    response = await _caller(route.path, callers).options(_concrete(route))
    assert response.status_code == 204
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert allowed == set(route.methods)


async def test_options_allows_every_documented_method(
    http: httpx.AsyncClient, callers: dict[str, httpx.AsyncClient]
) -> None:
    schema = (await http.get("/schema/openapi.json")).json()
    for path, item in schema["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", SAMPLE["uuid"], path)
        response = await _caller(path, callers).options(concrete)
        allowed = {method.strip().lower() for method in response.headers["allow"].split(",")}
        assert set(item) <= allowed, path


def _as_msgspec_writes_it(schema: Any) -> Any:
    """The served schema without what server.openapi adds to msgspec's (a pattern refusing
    NUL in open text) and with what Litestar leaves out (a null default) put back."""
    if isinstance(schema, dict):
        return {
            key: _as_msgspec_writes_it(value)
            for key, value in schema.items()
            if not (key == "pattern" and value == NO_NUL)
        }
    if isinstance(schema, list):
        return [_as_msgspec_writes_it(value) for value in schema]
    return schema


def _without_null_defaults(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            key: _without_null_defaults(value)
            for key, value in schema.items()
            if not (key == "default" and value is None)
        }
    if isinstance(schema, list):
        return [_without_null_defaults(value) for value in schema]
    return schema


async def test_request_bodies_are_described_as_msgspec_decodes_them(
    http: httpx.AsyncClient,
) -> None:
    """Every body Struct, and every Struct it holds, is served as msgspec's JSON Schema of it:
    unknown fields forbidden where the Struct forbids them, every Meta constraint included."""
    served = (await http.get("/schema/openapi.json")).json()["components"]["schemas"]
    _, expected = msgspec.json.schema_components(body_structs(APP), ref_template=COMPONENT_REF)
    assert len(expected) >= 10
    for name, schema in expected.items():
        assert _as_msgspec_writes_it(served[name]) == _without_null_defaults(schema), name


async def test_open_text_refuses_nul(http: httpx.AsyncClient) -> None:
    """A string field with no pattern, format or list of values of its own is declared
    NUL-free (PostgreSQL cannot store NUL; the server refuses it), and NUL is refused."""
    served = (await http.get("/schema/openapi.json")).json()["components"]["schemas"]
    note = served["Acknowledge"]["properties"]["note"]
    assert note["pattern"] == NO_NUL and not re.search(NO_NUL, "fine\x00")
    assert served["CheckinIn"]["properties"]["answers"]["propertyNames"]["pattern"] == NO_NUL
    assert "pattern" not in served["CheckinIn"]["properties"]["id"]  # a uuid says it already
    assert served["QuietHours"]["properties"]["start"]["pattern"] != NO_NUL


async def test_structs_that_forbid_unknown_fields_say_so(http: httpx.AsyncClient) -> None:
    served = (await http.get("/schema/openapi.json")).json()["components"]["schemas"]
    structs = [
        info
        for info in _reachable(msgspec.inspect.multi_type_info(body_structs(APP)))
        if isinstance(info, msgspec.inspect.StructType)
    ]
    closed = [info for info in structs if info.forbid_unknown_fields]
    assert {"CheckinIn", "QuietHours", "SubscriptionKeys"} <= {i.cls.__name__ for i in closed}
    for info in closed:
        assert served[info.cls.__name__]["additionalProperties"] is False, info.cls.__name__


def _reachable(types: tuple[msgspec.inspect.Type, ...]) -> list[msgspec.inspect.Type]:
    """These types and every type inside them, each Struct once."""
    found: list[msgspec.inspect.Type] = []
    seen: set[type] = set()
    todo = list(types)
    while todo:
        info = todo.pop()
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls in seen:
                continue
            seen.add(info.cls)
            todo.extend(field.type for field in info.fields)
        for attr in ("type", "item_type", "key_type", "value_type"):
            inner = getattr(info, attr, None)
            if isinstance(inner, msgspec.inspect.Type):
                todo.append(inner)
        todo.extend(getattr(info, "types", ()) or ())
        found.append(info)
    return found


async def test_the_constraints_litestar_dropped_are_served(http: httpx.AsyncClient) -> None:
    served = (await http.get("/schema/openapi.json")).json()["components"]["schemas"]
    answers = served["CheckinIn"]["properties"]["answers"]
    assert answers["maxProperties"] == 50
    assert answers["propertyNames"] == {"minLength": 1, "maxLength": 64, "pattern": NO_NUL}
    assert served["ProtocolPatch"]["properties"]["post_infusion_days"]["minimum"] == 0
    assert "Europe/London" in served["NewPatient"]["properties"]["timezone"]["enum"]


async def test_every_time_zone_listed_is_one_the_database_takes(pool: db.Pool) -> None:
    """NewPatient and ProfilePatch list zone_names() as the time zones they take; the
    database's own check (is_valid_timezone) takes every one of them."""
    refused = await pool.fetch(
        "select name from unnest($1::text[]) name where not is_valid_timezone(name)",
        sorted(zone_names()),
    )
    assert [row["name"] for row in refused] == []


async def test_a_cursor_is_described_as_issued(
    http: httpx.AsyncClient, pool: db.Pool, settings: Settings
) -> None:
    """The cursor a page gives matches the format the schema describes; a value of that format
    the server did not issue is refused with 422 naming cursor, as the description says."""
    schema = (await http.get("/schema/openapi.json")).json()
    [cursor] = [
        parameter
        for parameter in schema["paths"]["/api/coordinator/patients"]["get"]["parameters"]
        if parameter["name"] == "cursor"
    ]
    pattern, max_length = cursor["schema"]["pattern"], cursor["schema"]["maxLength"]
    assert "422" in cursor["description"]

    clinic = await make_clinic(pool)
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    for _ in range(2):
        await make_patient(pool, settings, clinic.id)
    page = await http.get("/api/coordinator/patients", params={"limit": 1}, headers=staff)
    issued = page.json()["next_cursor"]
    assert re.fullmatch(pattern, issued) and len(issued) <= max_length
    following = await http.get(
        "/api/coordinator/patients", params={"limit": 1, "cursor": issued}, headers=staff
    )
    assert following.status_code == 200 and len(following.json()["items"]) == 1

    forged = "A" * len(issued)
    assert re.fullmatch(pattern, forged)
    refused = await http.get("/api/coordinator/patients", params={"cursor": forged}, headers=staff)
    assert refused.status_code == 422
    assert [error["field"] for error in refused.json()["errors"]] == ["cursor"]


async def test_a_blank_name_is_refused_as_described(http: httpx.AsyncClient, pool: db.Pool) -> None:
    schema = (await http.get("/schema/openapi.json")).json()["components"]["schemas"]
    pattern = schema["NewPatient"]["properties"]["display_name"]["pattern"]
    clinic = await make_clinic(pool)
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    for name in ("Ann", " ", "\u00a0\t", "Ann\x00"):
        created = await http.post(
            "/api/coordinator/patients",
            json={"display_name": name, "timezone": "Europe/London"},
            headers=staff,
        )
        assert (created.status_code == 201) == bool(re.fullmatch(pattern, name)), name
        if created.status_code != 201:
            assert created.status_code == 422
            assert [error["field"] for error in created.json()["errors"]] == ["display_name"]

"""How failures reach clients: a broken database connection is a 503 with Retry-After (the
phone keeps the check-in and sends it again), never a 500; the dashboard's pages answer the same
failures with the same status, in HTML, through the same handlers."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import pytest
from litestar import Litestar, Router, get
from litestar.params import QueryParameter
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from litestar.testing import TestClient

from server.app import TEMPLATES_DIR
from server.auth.guards import SignInRequired
from server.dashboard import PAGE_EXCEPTION_HANDLERS
from server.errors import Forbidden
from server.http_errors import EXCEPTION_HANDLERS


def _app_raising(exc: Exception) -> Litestar:
    """The exception raised by the API's /boom and by the dashboard's /coordinator/boom, which
    also takes a number ?n= from 1 to 9."""

    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise exc

    @get("/boom", sync_to_thread=False)
    def page_boom(n: Annotated[int, QueryParameter(ge=1, le=9)] = 1) -> None:
        raise exc

    dashboard = Router(
        "/coordinator", route_handlers=[page_boom], exception_handlers=PAGE_EXCEPTION_HANDLERS
    )
    return Litestar(
        [boom, dashboard],
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine),
    )


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        # What asyncpg raises when the connection broke under a query (seen during restarts).
        (
            asyncpg.InternalClientError(
                'cannot switch to state 1; protocol is in the "failed" state'
            ),
            503,
        ),
        (asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"), 503),
        (ConnectionResetError(), 503),
        # Anything else of the same kinds is a fault of ours: 500, said plainly.
        (
            asyncpg.InternalClientError(
                "cannot switch to state 2; another operation (1) is in progress"
            ),
            500,
        ),
        (asyncpg.InterfaceError("cannot perform operation: another operation is in progress"), 500),
    ],
    ids=["failed-protocol", "closed", "reset", "busy-protocol", "busy-interface"],
)
def test_a_broken_connection_is_a_503_and_nothing_else_is(exc: Exception, status: int) -> None:
    with TestClient(_app_raising(exc)) as client:
        response = client.get("/boom")
    assert response.status_code == status
    if status == 503:
        assert int(response.headers["retry-after"]) > 0
        assert response.json()["error"] == "database_unavailable"
    else:
        assert response.json() == {
            "error": "server_error",
            "message": "the server failed; please try again",
        }


def test_pages_answer_in_html_what_the_api_answers_in_json() -> None:
    refusal = Forbidden("only the clinic's admins see the audit trail")
    with TestClient(_app_raising(refusal)) as client:
        api, page = client.get("/boom"), client.get("/coordinator/boom")
        invalid = client.get("/coordinator/boom?n=10")
    assert api.status_code == page.status_code == 403
    assert api.json() == {
        "error": "forbidden",
        "message": "only the clinic's admins see the audit trail",
    }
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Not allowed</h1>" in page.text and "see the audit trail" in page.text
    # A query parameter out of range: the 422 naming it, as a page.
    assert invalid.status_code == 422 and invalid.headers["content-type"].startswith("text/html")
    assert "<p>n: Expected `int` &lt;= 9</p>" in invalid.text


def test_a_page_without_a_session_goes_to_the_sign_in_page() -> None:
    with TestClient(_app_raising(SignInRequired("/coordinator/boom"))) as client:
        response = client.get("/coordinator/boom?n=2", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/coordinator/sign-in?next=/coordinator/boom%3Fn%3D2"


def test_a_page_meets_a_broken_connection_with_a_503_too() -> None:
    with TestClient(_app_raising(ConnectionResetError())) as client:
        response = client.get("/coordinator/boom")
    assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
    assert "try again in a few seconds" in response.text
    assert response.headers["content-type"].startswith("text/html")

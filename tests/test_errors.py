"""How failures of the database connection reach clients: 503 with Retry-After (the phone keeps
the check-in and sends it again), never a 500."""

from __future__ import annotations

import asyncpg
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from server.errors import EXCEPTION_HANDLERS


def _app_raising(exc: Exception) -> Litestar:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise exc

    return Litestar([boom], exception_handlers=EXCEPTION_HANDLERS)


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

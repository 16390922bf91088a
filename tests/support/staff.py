"""Staff for tests: a coordinator with a known password, and signing in as a browser does."""

from __future__ import annotations

import re
import secrets
import uuid

import httpx

from server import db
from server.clinics import service as clinics
from tests.support.clock import now

PASSWORD = "correct horse battery staple"


async def make_staff(pool: db.Pool, clinic_id: uuid.UUID, role: str = "coordinator") -> str:
    email = f"s-{secrets.token_hex(4)}@clinic.test"
    async with pool.acquire() as conn:
        await clinics.create_coordinator(
            conn,
            clinic_id=clinic_id,
            email=email,
            display_name="Staff",
            role=role,
            password=PASSWORD,
            now=now(),
        )
    return email


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} in the page"
    return match.group(1)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    form = await client.get("/coordinator/sign-in")
    assert form.status_code == 200
    return await client.post(
        "/coordinator/sign-in",
        data={
            "csrf_token": hidden(form.text, "csrf_token"),
            "email": email,
            "password": password,
            "next": "/coordinator/board",
        },
    )


async def signed_in(client: httpx.AsyncClient, email: str) -> str:
    """Sign in; returns the session's CSRF token from the board page."""
    response = await sign_in(client, email)
    assert response.status_code == 302, response.text
    board = await client.get("/coordinator/board")
    assert board.status_code == 200, board.text
    return hidden(board.text, "csrf_token")

"""The coordinator dashboard's shared parts: server-rendered pages under /coordinator/ (Jinja2).

Each domain serves its own pages (its pages.py) with these. The session and the CSRF token of
every form are checked by the pages' guard (``staff_page`` in server/auth/guards.py), who may
do what by each handler's action (server/auth/actions.py), the same guards the JSON API's
handlers carry; every patient read is audited by the services the pages call. Errors on a
page are answered in HTML by ``PAGE_EXCEPTION_HANDLERS``, the dashboard router's.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import msgspec
from litestar import Response
from litestar.response import Redirect, Template

from server.auth.guards import SignInRequired
from server.auth.schemas import CoordinatorPrincipal
from server.errors import Invalid
from server.http_errors import ErrorBody, exception_handlers
from server.web import AnyRequest

T = TypeVar("T")

# What the page says after a change (?done=<code>): fixed words, so a link cannot make the
# dashboard say anything else.
DONE = {
    "nudged": "Reminder queued.",
    "acknowledged": "Alert acknowledged.",
    "scheduled": "Infusion scheduled.",
    "infusion": "Infusion updated.",
    "settings": "Settings saved.",
    "discharged": "Patient discharged.",
    "staff_added": "Coordinator added.",
    "staff": "Saved.",
    "protocol": "Protocol saved; every patient's plan follows it within a minute.",
}


def page(name: str, who: CoordinatorPrincipal | None, **context: Any) -> Template:
    context["done"] = DONE.get(context.get("done") or "")
    return Template(
        template_name=f"coordinator/{name}",
        context={"who": who, "csrf_token": who.csrf_token if who else None, **context},
    )


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no protocol-relative //)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/coordinator/board"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/coordinator/"):
        return "/coordinator/board"
    return target


async def form_of(request: AnyRequest) -> dict[str, str]:
    """The posted form (its CSRF token already checked by the pages' guard)."""
    return {key: str(value) for key, value in (await request.form()).items()}


def form_struct(form: dict[str, str], type_: type[T], fields: tuple[str, ...]) -> T:
    """Named fields of a posted form as a Struct; an empty field is left out."""
    return convert({name: form[name] for name in fields if form.get(name, "") != ""}, type_)


def convert(wanted: dict[str, Any], type_: type[T]) -> T:
    """Form values as a Struct, or a 422 naming the field that is wrong."""
    try:
        return msgspec.convert(wanted, type_, strict=False)
    except msgspec.ValidationError as exc:
        field = str(exc).rpartition("$.")[2].rstrip("`").split(".")[0].split("[")[0] or "form"
        raise Invalid.field(field, "is missing or not valid") from None


def page_error(
    request: AnyRequest, status_code: int, body: ErrorBody, headers: dict[str, str] | None
) -> Response[Any]:
    """A failed page in HTML: the sign-in page for a browser not signed in, else a page that
    says what happened (in the same words the API would use)."""
    if body.error == SignInRequired.code:
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return Redirect(f"/coordinator/sign-in?next={target}")
    return Template(
        template_name="coordinator/error.html",
        context={"status": status_code, "message": body.message, "who": None},
        status_code=status_code,
        headers=headers,
    )


PAGE_EXCEPTION_HANDLERS = exception_handlers(page_error)

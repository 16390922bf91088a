"""The served contract says exactly what the server does.

Request bodies: msgspec decodes each JSON body into its Struct, so msgspec's own JSON Schema of
that Struct is the exact description of what is accepted: ``additionalProperties: false`` where
the Struct forbids unknown fields, and every ``Meta`` constraint. Litestar's translation loses
some of them (unknown fields, a dict's size and key rules, a bound of 0), so the components of
body Structs, and of the Structs they hold, are msgspec's. One rule is added: no text holds NUL
(PostgreSQL cannot store it; services refuse it with check_text), said on each string that
msgspec leaves otherwise open.

``Allow``: Litestar 2 registers a controller's handlers one at a time, and the ``OPTIONS`` answer
it adds to a path keeps the methods of the first handler only (litestar#4169, fixed in 3.0):
``/api/checkins`` answered ``Allow: GET, OPTIONS`` though it takes POST. The answer is corrected
from the route table as built.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
from litestar import Litestar
from litestar.exceptions import ImproperlyConfiguredException
from litestar.openapi.spec import Reference, Schema
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope

COMPONENT_REF = "#/components/schemas/{name}"
NO_NUL = r"^[^\u0000]*$"

# JSON Schema keyword -> the Schema field that holds it.
_FIELD_OF = {
    field.metadata.get("alias", field.name): field.name for field in dataclasses.fields(Schema)
}
# Keywords whose value is a schema (a bool too, for additionalProperties), a list or a map of them.
_ONE = {"items", "additionalProperties", "propertyNames", "not", "contains", "if", "then", "else"}
_LIST = {"allOf", "anyOf", "oneOf", "prefixItems"}
_MAP = {"properties", "patternProperties", "dependentSchemas"}
# A string schema with one of these already says which strings it takes.
_CLOSED_TEXT = {"pattern", "format", "enum", "const"}


def body_structs(app: Litestar) -> list[type[msgspec.Struct]]:
    """The Struct of every documented JSON request body, in route order."""
    found: dict[type[msgspec.Struct], None] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is None or not handler.resolve_include_in_schema():
                continue
            if not (
                isinstance(data.annotation, type) and issubclass(data.annotation, msgspec.Struct)
            ):
                raise ImproperlyConfiguredException(
                    f"{route.path}: a JSON body must be a msgspec Struct, not {data.annotation!r}"
                )
            found[data.annotation] = None
    return list(found)


def describe_bodies_exactly(app: Litestar) -> None:
    """Replace the components of body Structs (and the Structs they hold) with msgspec's."""
    _, components = msgspec.json.schema_components(body_structs(app), ref_template=COMPONENT_REF)
    documented = app.openapi_schema.components.schemas
    for name, raw in components.items():
        # Litestar names a component by its class alone only when no other documented type
        # shares the name, and msgspec qualifies a name it sees twice: a name both use is one
        # and the same class.
        if name not in documented:
            raise ImproperlyConfiguredException(
                f"the body schema {name!r} has no component of that name: two documented types "
                "share a class name; rename one"
            )
        documented[name] = _schema(raw)


def _schema(raw: dict[str, Any], text: bool = False) -> Schema:
    """A JSON Schema as Litestar's OpenAPI objects, which serialise it back as it was (but
    for a null default: Litestar leaves out what is None), with NUL refused in open text
    (``text``: a schema of strings that says no type, like a dict's keys)."""
    fields: dict[str, Any] = {}
    for keyword, value in raw.items():
        if keyword in _MAP:
            value = {name: _subschema(sub) for name, sub in value.items()}
        elif keyword in _LIST:
            value = [_subschema(sub) for sub in value]
        elif keyword in _ONE and isinstance(value, dict):
            value = _subschema(value, text=keyword == "propertyNames")
        fields[_FIELD_OF[keyword]] = value
    if (text or raw.get("type") == "string") and not _CLOSED_TEXT & raw.keys():
        fields["pattern"] = NO_NUL
    return Schema(**fields)


def _subschema(raw: dict[str, Any], text: bool = False) -> Schema | Reference:
    return Reference(ref=raw["$ref"]) if "$ref" in raw else _schema(raw, text)


async def allow_route_methods(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: an ``OPTIONS`` answer lists every method of its route."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    template = scope.get("path_template")
    for route in scope["app"].routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            allow = ", ".join(sorted(route.methods)).encode()
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
            message["headers"] = [*headers, (b"allow", allow)]
            return

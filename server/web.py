"""Shared Litestar typing helpers."""

from typing import Any

from litestar import Request

AnyRequest = Request[Any, Any, Any]

"""The enrollment link as a QR code, drawn on the server (segno: a pure-Python encoder)."""

from __future__ import annotations

import io

import segno
from markupsafe import Markup


def qr_svg(link: str) -> Markup:
    """An inline SVG of ``link``, error correction level M (reads with about 15% of it damaged)."""
    buffer = io.BytesIO()
    segno.make(link, error="m").save(
        buffer, kind="svg", scale=4, border=2, xmldecl=False, title="Enrollment QR code"
    )
    # segno's own SVG of our own link: markup we made, not text from anyone.
    return Markup(buffer.getvalue().decode())  # noqa: S704

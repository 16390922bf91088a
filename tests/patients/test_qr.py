"""The enrollment sheet's QR code: an inline SVG of exactly the link's code."""

from __future__ import annotations

import re

import segno

from server.patients.qr import qr_svg

LINK = "https://clinic.example/app/enroll#code=ABCD-EFGH-JKLM"


def _modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules segno's path draws: M x y, then runs of h n (dark) and m dx dy (moves),
    each run on the row at y - 0.5 (a stroke one module wide)."""
    [path] = re.findall(r' d="([^"]+)"', svg)
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for command, numbers in re.findall(r"([MmHh])([-0-9. ]+)", path):
        values = [float(v) for v in numbers.split()]
        if command == "M":
            x, y = values
        elif command == "m":
            x, y = x + values[0], y + values[1]
        else:
            dark |= {(int(x) + i, int(y - 0.5)) for i in range(int(values[0]))}
            x += values[0]
    return dark


def test_the_svg_draws_the_links_code_with_a_quiet_zone() -> None:
    svg = str(qr_svg(LINK))
    assert svg.startswith("<svg") and "<?xml" not in svg  # inline in the page
    assert "<title>Enrollment QR code</title>" in svg
    reference = segno.make(LINK, error="m")
    assert reference.error == "M"
    size = len(reference.matrix)
    # 4 px a module, a 2-module quiet zone on each side.
    assert f'width="{(size + 4) * 4}" height="{(size + 4) * 4}"' in svg
    assert 'transform="scale(4)"' in svg
    expected = {
        (col + 2, row + 2)
        for row, line in enumerate(reference.matrix)
        for col, dark in enumerate(line)
        if dark
    }
    assert _modules(svg) == expected


def test_another_link_draws_another_code() -> None:
    assert _modules(str(qr_svg(LINK))) != _modules(str(qr_svg(LINK.replace("ABCD", "WXYZ"))))

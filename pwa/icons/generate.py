"""Draw the app icons (a white check mark on the theme colour) with the standard library only.

Run from anywhere: python pwa/icons/generate.py. Writes the PNGs beside this file.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

THEME = (0x1D, 0x4E, 0x89)
WHITE = (0xFF, 0xFF, 0xFF)
HERE = Path(__file__).resolve().parent


def png(size: int, pixels: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + row for row in pixels)
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def distance_to_segment(
    px: float, py: float, a: tuple[float, float], b: tuple[float, float]
) -> float:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    cx, cy = ax + t * dx, ay + t * dy
    return float(((px - cx) ** 2 + (py - cy) ** 2) ** 0.5)


def icon(size: int, safe: float) -> bytes:
    """A check mark inside the central ``safe`` fraction (maskable icons keep to 0.8)."""
    inset = size * (1 - safe) / 2
    span = size * safe

    def at(x: float, y: float) -> tuple[float, float]:
        return inset + x * span, inset + y * span

    left, bottom, right = at(0.2, 0.52), at(0.42, 0.74), at(0.8, 0.3)
    stroke = span * 0.07
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            d = min(
                distance_to_segment(x + 0.5, y + 0.5, left, bottom),
                distance_to_segment(x + 0.5, y + 0.5, bottom, right),
            )
            row += bytes(WHITE if d <= stroke else THEME)
        rows.append(bytes(row))
    return png(size, rows)


def main() -> None:
    for name, size, safe in (
        ("icon-192.png", 192, 1.0),
        ("icon-512.png", 512, 1.0),
        ("icon-maskable-512.png", 512, 0.8),
        ("apple-touch-icon.png", 180, 0.9),
    ):
        (HERE / name).write_bytes(icon(size, safe))


if __name__ == "__main__":
    main()

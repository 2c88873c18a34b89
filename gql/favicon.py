"""`GET /favicon.ico`: Shopbridge's icon, a white bridge on the console's navy, 16 x 16.

Browsers ask for `/favicon.ico` on every page that names no icon of its own (GraphiQL's, the OAuth callback's): a
404 each time, an access line that reads like a broken link. The icon is drawn below as text, so that a change of
it is reviewable, and encoded once at import as an ICO (a 32-bit BMP with alpha, which every browser reads) of
about 1 KiB; it is cached by browsers for a week.
"""

from __future__ import annotations

import struct

from starlette.requests import Request
from starlette.responses import Response

CACHE_SECONDS = 7 * 24 * 3600
# One row of characters per row of pixels, top first: `.` transparent, `n` navy, `w` white.
PIXELS = (
    "..nnnnnnnnnnnn..",
    ".nnnnnnnnnnnnnn.",
    "nnnnnnnnnnnnnnnn",
    "nnnnnnnnnnnnnnnn",
    "nnnnnnwwwwnnnnnn",
    "nnnnwwnnnnwwnnnn",
    "nnnwnnnnnnnnwnnn",
    "nnwnnnnnnnnnnwnn",
    "nnwnnnnnnnnnnwnn",
    "nwwwwwwwwwwwwwwn",
    "nwwwwwwwwwwwwwwn",
    "nnwnnnnnnnnnnwnn",
    "nnwnnnnnnnnnnwnn",
    "nnnnnnnnnnnnnnnn",
    ".nnnnnnnnnnnnnn.",
    "..nnnnnnnnnnnn..",
)
COLOURS = {".": (0, 0, 0, 0), "n": (0x13, 0x23, 0x3A, 0xFF), "w": (0xFF, 0xFF, 0xFF, 0xFF)}  # RGBA


def ico(rows: tuple[str, ...] = PIXELS) -> bytes:
    """`rows` (square, up to 255 pixels a side) as a one-image ICO file."""
    size = len(rows)
    if not 0 < size < 256 or any(len(row) != size for row in rows):
        raise ValueError("an icon is a square of rows of equal length, 1 to 255 pixels a side")
    pixels = bytearray()
    for row in reversed(rows):  # a BMP is stored bottom row first
        for pixel in row:
            red, green, blue, alpha = COLOURS[pixel]
            pixels += bytes((blue, green, red, alpha))
    mask = bytes(((size + 31) // 32) * 4 * size)  # the AND mask, unused with 32-bit alpha: all zeros
    header = struct.pack("<IiiHHIIiiII", 40, size, 2 * size, 1, 32, 0, len(pixels) + len(mask), 0, 0, 0, 0)
    image = header + pixels + mask
    directory = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(image), 22)
    return directory + image


ICON = ico()


async def favicon(request: Request) -> Response:
    return Response(
        ICON,
        media_type="image/x-icon",
        headers={"Cache-Control": f"public, max-age={CACHE_SECONDS}", "X-Content-Type-Options": "nosniff"},
    )

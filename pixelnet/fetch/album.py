"""KPhotoAlbum's album index: how each photo of the album is turned for display.

KPhotoAlbum does not rewrite a photo its user turns; it records the turn in the album's
``index.xml`` (``<image file="wayne.jpg" angle="90" .../>``, degrees clockwise). The demo album
keeps four photos on their side or upside down that way, so they are turned here as the album
shows them (a person on their side is not what the person teacher or a user sees).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from PIL import Image

__all__ = ["album_angles", "turn"]


def album_angles(index_xml: bytes | str) -> dict[str, int]:
    """Each photo's clockwise turn in degrees (0, 90, 180, 270), by its file name in the album.

    Photos without an ``angle`` are left out (no turn).

    Raises:
        ValueError: not an album index, or an angle that is not a multiple of 90.
    """
    try:
        root = ET.fromstring(index_xml)
    except ET.ParseError as e:
        raise ValueError(f"not a KPhotoAlbum index: {e}") from e
    out: dict[str, int] = {}
    for image in root.iter("image"):
        name, angle = image.get("file"), image.get("angle")
        if not name or not angle:
            continue
        a = int(angle) % 360
        if a % 90:
            raise ValueError(f"{name}: angle {angle} is not a multiple of 90")
        if a:
            out[name] = a
    return out


def turn(image: Image.Image, angle: int) -> Image.Image:
    """``image`` turned ``angle`` degrees clockwise (a multiple of 90, losslessly)."""
    ops = {0: None, 90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
    if angle % 360 not in ops:
        raise ValueError(f"angle {angle} is not a multiple of 90")
    op = ops[angle % 360]
    return image if op is None else image.transpose(op)

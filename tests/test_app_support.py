"""Shared helpers of the explorer tests (tiny models, test images, a local server); no tests here."""

from __future__ import annotations

import io
import os
import socket
import struct
import zlib
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from demo.explorer import Explorer  # noqa: E402
from demo.models import ModelBank, discover_models, fallback_class_names  # noqa: E402
from pixelnet import ModelConfig, build_model  # noqa: E402
from pixelnet.io import save_model  # noqa: E402

TINY = {"width": 0.0625, "fc_channels": 64}


def tiny_model_dirs(root: Path) -> Path:
    """Save tiny VGG seg/normals/edges models under ``root/models/<task>``."""
    out = root / "models"
    for task in ("seg", "normals", "edges"):
        cfg = ModelConfig(
            task=task,
            backbone="vgg16",
            mlp_widths=[16],
            dropout=0.0,
            backbone_kwargs=dict(TINY),
            class_names=fallback_class_names() if task == "seg" else None,
        )
        save_model(build_model(cfg).eval(), out / task)
    return out


def tiny_explorer(root: Path, *, max_side: int = 1024) -> Explorer:
    """An explorer over tiny models (``--model root/models``), no repository models."""
    models = tiny_model_dirs(root)
    return Explorer(ModelBank(discover_models(root, [models])), max_side=max_side)


def make_image(h: int = 48, w: int = 64) -> np.ndarray:
    """A deterministic image with a bright top-left quadrant."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 4) % 256, (y * 5) % 256, ((x + y) * 3) % 256], axis=2).astype(np.uint8)
    img[h // 2 :] ^= np.random.default_rng(0).integers(0, 64, size=img[h // 2 :].shape, dtype=np.uint8)
    img[: h // 2, : w // 2] = (250, 20, 20)
    return img


def _png_with_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width x height`` but carries (almost) no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def write_inputs(folder: Path) -> dict[str, Path]:
    """Write every input case of the issue; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    img = make_image()
    p: dict[str, Path] = {}

    def save(name: str, data: bytes) -> None:
        p[name] = folder / name
        p[name].write_bytes(data)

    def pil(im: Image.Image, fmt: str, **kw: object) -> bytes:
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        return b.getvalue()

    save("good.png", pil(Image.fromarray(img), "PNG"))
    save("empty.png", b"")
    save("truncated.png", p["good.png"].read_bytes()[: len(p["good.png"].read_bytes()) // 2])
    save("not_an_image.png", b"this is a text file, renamed to .png\n" * 20)
    save("one_pixel.png", pil(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"))
    save("bomb.png", _png_with_header(20000, 20000))
    save("sixteen_bit.png", pil(Image.fromarray(img[..., 0].astype(np.uint16) * 257), "PNG"))
    rgba = np.concatenate([img, np.full(img.shape[:2] + (1,), 128, np.uint8)], axis=2)
    save("rgba.png", pil(Image.fromarray(rgba, "RGBA"), "PNG"))
    save("cmyk.jpg", pil(Image.fromarray(img).convert("CMYK"), "JPEG", quality=95))
    save("gray.png", pil(Image.fromarray(img[..., 1]), "PNG"))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    save("exif_rotated.jpg", pil(Image.fromarray(img), "JPEG", quality=95, exif=exif.tobytes()))
    frames = [Image.fromarray(img), Image.fromarray(255 - img)]
    b = io.BytesIO()
    frames[0].save(b, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    save("animated.gif", b.getvalue())
    save("webp.webp", pil(Image.fromarray(img), "WEBP", lossless=True))
    save("bmp.bmp", pil(Image.fromarray(img), "BMP"))
    save("tiff.tiff", pil(Image.fromarray(img), "TIFF"))
    return p


BAD = {  # name -> words the user-facing message must contain
    "empty.png": "empty",
    "truncated.png": "truncated",
    "not_an_image.png": "not a readable image",
    "one_pixel.png": "at least",
    "bomb.png": "limit",
}
GOOD = [
    "good.png",
    "sixteen_bit.png",
    "rgba.png",
    "cmyk.jpg",
    "gray.png",
    "exif_rotated.jpg",
    "animated.gif",
    "webp.webp",
    "bmp.bmp",
    "tiff.tiff",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

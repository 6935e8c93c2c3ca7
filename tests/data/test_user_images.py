"""User images are rendered like the emoji: upright, RGB on white, image_size, plain PNG."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from components.data.corpus.images import render_user_image
from components.data.corpus.webdataset import image_part


def _encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.mode == "RGB" and image.size == (16, 16)
        return np.asarray(image)


def test_transparency_becomes_white_and_16_bit_keeps_its_tones() -> None:
    clear = _pixels(render_user_image(_encode(Image.new("RGBA", (30, 20), (0, 0, 0, 0))), 16))
    assert (clear == 255).all()
    grey16 = Image.fromarray(np.full((20, 20), 32768, dtype=np.uint16))
    assert abs(int(_pixels(render_user_image(_encode(grey16), 16)).mean()) - 128) <= 1


def test_exif_rotation_is_applied() -> None:
    left_dark = Image.new("RGB", (40, 20), (255, 255, 255))
    left_dark.paste((0, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    upright = _pixels(render_user_image(_encode(left_dark, "JPEG", exif=exif), 16))
    assert upright[:8].mean() < 60 and upright[8:].mean() > 200  # dark half now on top


def test_image_members_of_any_type_are_found() -> None:
    assert image_part({"json": b"{}", "txt": b"c", "webp": b"w"}) == ("webp", b"w")
    assert image_part({"json": b"{}", "txt": b"c", "png": b"p", "jpg": b"j"}) == ("png", b"p")
    assert image_part({"json": b"{}", "txt": b"c"}) is None

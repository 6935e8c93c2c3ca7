"""A user's image is stored as given: a JPEG stays the same JPEG, a 4:3 photo stays 4:3. It is
re-encoded only when it must be (too large, rotated by EXIF, a mode readers do not share)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from components.data.corpus.stored_image import store_user_image
from components.data.corpus.webdataset import image_part
from components.model.preprocess import to_rgb


def _encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


def _photo(size: tuple[int, int]) -> Image.Image:
    """Smooth gradients, as a photo: a JPEG re-encode of it stays close to it."""
    x = np.linspace(0, 255, size[0])[None, :, None]
    y = np.linspace(0, 255, size[1])[:, None, None]
    pixels = np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def test_a_jpeg_photo_keeps_its_bytes_and_its_aspect_ratio() -> None:
    jpeg = _encode(_photo((400, 300)), "JPEG", quality=85)
    stored = store_user_image(jpeg, max_side=512)
    assert (stored.ext, stored.width, stored.height) == ("jpg", 400, 300)
    assert stored.data == jpeg  # not one byte re-encoded
    png = _encode(Image.new("RGBA", (30, 20), (0, 0, 0, 0)))
    assert store_user_image(png, 512).data == png
    # transparency stays in the file; every reader composites it onto white the same way
    assert (np.asarray(to_rgb(_decoded(png))) == 255).all()


def test_a_large_photo_is_shrunk_once_keeping_its_aspect_ratio() -> None:
    source = _photo((1200, 900))
    stored = store_user_image(_encode(source, "JPEG", quality=90), max_side=300)
    assert (stored.ext, stored.width, stored.height) == ("jpg", 400, 300)
    shrunk = np.asarray(source.resize((400, 300), Image.Resampling.LANCZOS), dtype=np.float64)
    assert np.abs(np.asarray(_decoded(stored.data), dtype=np.float64) - shrunk).mean() < 3.0
    again = store_user_image(_encode(source, "JPEG", quality=90), max_side=300)
    assert again.data == stored.data  # deterministic: a rebuild gives the same bytes
    assert _decoded(stored.data).getexif() == {}  # no metadata carried into a re-encode


def test_exif_rotation_is_applied_and_16_bit_keeps_its_tones() -> None:
    left_dark = Image.new("RGB", (40, 20), (255, 255, 255))
    left_dark.paste((0, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    stored = store_user_image(_encode(left_dark, "JPEG", exif=exif), max_side=512)
    upright = np.asarray(_decoded(stored.data).convert("L"))
    assert (stored.width, stored.height) == (20, 40)
    assert upright[:16].mean() < 60 and upright[24:].mean() > 200  # dark half now on top
    grey16 = Image.fromarray(np.full((20, 20), 32768, dtype=np.uint16))
    wide = store_user_image(_encode(grey16), max_side=512)
    assert wide.ext == "png" and _decoded(wide.data).mode == "RGB"
    assert abs(int(np.asarray(_decoded(wide.data)).mean()) - 128) <= 1
    gif = store_user_image(_encode(Image.new("P", (24, 24), 3), "GIF"), max_side=512)
    assert gif.ext == "png"  # a format not every reader shares becomes a plain PNG


def test_image_members_of_any_type_are_found() -> None:
    assert image_part({"json": b"{}", "txt": b"c", "webp": b"w"}) == ("webp", b"w")
    assert image_part({"json": b"{}", "txt": b"c", "png": b"p", "jpg": b"j"}) == ("png", b"p")
    assert image_part({"json": b"{}", "txt": b"c"}) is None

"""A user image as the corpus stores it: the bytes as given whenever they need nothing.

A photo stays the file it was (a JPEG stays a JPEG, its aspect ratio kept): re-encoding every
image as PNG made the corpus 3.9x the source, and squashing to a square is training's job
(preprocessing crops, see components/model/preprocess.py). It is re-encoded, once, only when it
must be: its shorter side is above `data.max_stored_side` (resized to it, aspect kept, as
img2dataset's keep_ratio), its EXIF says it is rotated (readers should not need EXIF), or its
format or pixel mode is not one every reader handles (GIF, CMYK, 16-bit: to 8-bit RGB on white).
The bytes reaching here passed the source checks (components/checks/image.py) already.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from components.checks.image import ALLOWED_FORMATS, normalise_to_rgb
from components.data.corpus.images import Rendered, encode_png

# format -> (member extension, pixel modes stored as given)
KEPT_AS_GIVEN = {
    "JPEG": ("jpg", {"RGB", "L"}),
    "PNG": ("png", {"RGB", "RGBA", "L", "LA", "P"}),
    "WEBP": ("webp", {"RGB", "RGBA"}),
}
EXIF_ORIENTATION = 0x0112
# fixed so that rebuilds are byte-identical; 95 keeps a re-encoded photo close to its source
JPEG_QUALITY = 95


def _encode_jpeg(image: Image.Image) -> bytes:
    """A baseline JPEG without metadata (no EXIF, ICC or comment): bytes depend on pixels."""
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    buffer = io.BytesIO()
    clean.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
    return buffer.getvalue()


def _needs_nothing(image: Image.Image, max_side: int) -> bool:
    kept = KEPT_AS_GIVEN.get(image.format or "")
    return (
        kept is not None
        and image.mode in kept[1]
        and min(image.size) <= max_side
        and image.getexif().get(EXIF_ORIENTATION, 1) == 1
        and not getattr(image, "is_animated", False)
    )


def _shrunk(image: Image.Image, max_side: int) -> Image.Image:
    width, height = image.size
    if min(width, height) <= max_side:
        return image
    scale = max_side / min(width, height)
    size = (max(max_side, round(width * scale)), max(max_side, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def store_user_image(data: bytes, max_side: int) -> Rendered:
    """The image member for admitted user bytes: `data` itself when it needs nothing, else one
    re-encode (JPEG for a JPEG source, PNG otherwise) upright, RGB on white, shorter side at
    most `max_side`."""
    with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
        if _needs_nothing(image, max_side):
            ext = KEPT_AS_GIVEN[image.format or ""][0]
            return Rendered(ext, data, *image.size)
        source_format = image.format
        image.load()
        upright = _shrunk(normalise_to_rgb(ImageOps.exif_transpose(image)), max_side)
    if source_format == "JPEG":
        return Rendered("jpg", _encode_jpeg(upright), *upright.size)
    return Rendered("png", encode_png(upright), *upright.size)

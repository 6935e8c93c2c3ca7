"""Turn a source PNG or SVG into the corpus's image: RGB on white, square, deterministic PNG."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from components.checks.image import ALLOWED_FORMATS, normalise_to_rgb

# fixed so that rebuilds are byte-identical (same Pillow + zlib => same bytes); level 9 is
# 5x slower to encode for 2% smaller files
PNG_COMPRESS_LEVEL = 6
WHITE = (255, 255, 255, 255)


@dataclass(frozen=True)
class Rendered:
    """A sample's image member as stored."""

    ext: str  # the image member's extension
    data: bytes
    width: int
    height: int


def _rasterise_svg(path: Path, size: int) -> Image.Image:
    import resvg_py  # only the SVG source needs it

    # render straight at the target size: sharper than rendering large and downscaling;
    # OpenMoji has no <text>, so system fonts are not needed (and loading them is slow)
    png = resvg_py.svg_to_bytes(svg_path=str(path), width=size, height=size, skip_system_fonts=True)
    return Image.open(io.BytesIO(bytes(png)))


def to_rgb(image: Image.Image, size: int) -> Image.Image:
    """Composite onto white (alpha means 'background'), then resize to size x size."""
    rgba = image.convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE), rgba).convert("RGB")
    if flat.size != (size, size):
        flat = flat.resize((size, size), Image.Resampling.LANCZOS)
    return flat


def encode_png(image: Image.Image) -> bytes:
    """PNG with no metadata chunks (no time, text, ICC), so the bytes depend on pixels only."""
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    buffer = io.BytesIO()
    clean.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False)
    return buffer.getvalue()


def render_png(path: Path, size: int) -> bytes:
    """The corpus image for one source file (thread-safe: no shared state)."""
    path = Path(path)
    if path.suffix.lower() == ".svg":
        image = _rasterise_svg(path, size)
    else:
        image = Image.open(path)
    with image:
        image.load()
        return encode_png(to_rgb(image, size))


# Debian sources decode files of their own packages; a few Openclipart PNGs are huge, so their
# decoded size is capped too.
MAX_DECODE_PIXELS = 4096 * 4096


def render_user_image(data: bytes, size: int) -> bytes:
    """The corpus image for user bytes that passed the source checks (components/checks/image.py:
    an allowed format, decoded in full, within the pixel cap): upright, RGB on white, resized."""
    with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
        image.load()
        upright = ImageOps.exif_transpose(image)  # phone photos store rotation in EXIF
        return encode_png(to_rgb(normalise_to_rgb(upright), size))

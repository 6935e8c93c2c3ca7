"""Turn a source PNG or SVG into the corpus's image: RGB on white, square, deterministic PNG."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

# fixed so that rebuilds are byte-identical (same Pillow + zlib => same bytes); level 9 is
# 5x slower to encode for 2% smaller files
PNG_COMPRESS_LEVEL = 6
WHITE = (255, 255, 255, 255)


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


# User images: bytes of unknown quality. Only the formats the validation gate accepts are
# decoded, and only below its default pixel cap (validate.max_image_pixels), so a hostile
# header is never expanded in memory here either.
USER_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
MAX_DECODE_PIXELS = 4096 * 4096
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit and float greyscale scaled to 8 bits (a plain convert() would clip to white)."""
    if image.mode not in _WIDE_MODES:
        return image
    import numpy as np

    pixels = np.asarray(image).astype(np.float64)
    if image.mode != "F":
        pixels = pixels / 257.0
    return Image.fromarray(np.clip(pixels.round(), 0, 255).astype(np.uint8), mode="L")


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image header, without decoding; None if there is none."""
    try:
        with Image.open(io.BytesIO(data), formats=USER_FORMATS) as image:
            return image.size
    except Exception:  # untrusted bytes: any failure means "no readable header"
        return None


def render_image_bytes(data: bytes, size: int) -> bytes | None:
    """The corpus image for user bytes, or None when they are not one whole decodable image
    within the pixel cap: the build then stores them unchanged for the gate to name why."""
    try:
        with Image.open(io.BytesIO(data), formats=USER_FORMATS) as image:
            if image.width * image.height > MAX_DECODE_PIXELS:
                return None
            if image.format == "PNG":  # CRCs and IEND: load() checks neither, the gate does
                with Image.open(io.BytesIO(data), formats=("PNG",)) as probe:
                    probe.verify()
            image.load()
            upright = ImageOps.exif_transpose(image)  # phone photos store rotation in EXIF
            return encode_png(to_rgb(_eight_bit(upright), size))
    except Exception:  # untrusted bytes: any decoder failure is data for the gate, not a crash
        return None

"""Checks on one image's bytes. No I/O here.

Images are decoded for real (a header can look fine over a cut-off stream), but only after the
header's size passed the pixel cap, so a decompression bomb is never expanded in memory. The
size checks apply to the image as it is given: the data build runs them on the user's source
bytes before any resize, the gate on the stored copy.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, UnidentifiedImageError

from components.checks.reasons import Problem, Reason

if TYPE_CHECKING:
    from components.checks.limits import SampleLimits

# Formats worth decoding. Pillow would also try EPS (Ghostscript), PSD, TIFF...: more attack
# surface for no gain in an image-text corpus, so anything else is "not an image".
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}  # more than 8 bits per sample
WHITE = (255, 255, 255, 255)


@dataclass(frozen=True)
class ImageCheck:
    """The verdict on one image. An accepted image has `problem` None and a `pixel_hash`."""

    problem: Problem | None
    pixel_hash: str | None = None  # sha256 of size + RGB pixels: duplicates by content
    normalised_from: str | None = None  # the original mode when it was not plain RGB


def normalise_to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB the way the corpus stores it: transparency composited onto white (as the data
    build does), wide samples scaled rather than clipped (a plain convert() would turn most of
    a 16-bit image white)."""
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if image.mode in _WIDE_MODES:
        import numpy as np

        pixels = np.asarray(image).astype(np.float64)
        if image.mode != "F":  # 16-bit range; float images are taken as 0..255 already
            pixels = pixels / 257.0
        image = Image.fromarray(np.clip(pixels.round(), 0, 255).astype(np.uint8), mode="L")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE), rgba).convert("RGB")
    return image.convert("RGB")


def _decode_failure(err: Exception) -> Problem:
    message = str(err) or type(err).__name__
    if "truncat" in message.lower() or isinstance(err, EOFError):
        return Problem(Reason.TRUNCATED, f"image data ends early: {message}")
    return Problem(Reason.CORRUPT_IMAGE, f"image data cannot be decoded: {message}")


def _signature(data: bytes) -> str | None:
    """The allowed format whose magic bytes `data` starts with, if any."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"GIF8"):
        return "GIF"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _unidentified(data: bytes) -> Problem:
    kind = _signature(data)
    if kind is not None:  # the right magic bytes, but not even the header parses
        return Problem(
            Reason.TRUNCATED, f"starts like a {kind} but its header is cut off or broken"
        )
    allowed = ", ".join(ALLOWED_FORMATS)
    return Problem(Reason.NOT_AN_IMAGE, f"not a {allowed} image (starts with {data[:8]!r})")


def too_many_bytes(size: int, cfg: SampleLimits) -> Problem:
    return Problem(
        Reason.FILE_TOO_LARGE,
        f"{size:,} bytes, above validate.max_image_bytes={cfg.max_image_bytes:,}; not read",
    )


def check_size(width: int, height: int, cfg: SampleLimits) -> Problem | None:
    """The header's size against the pixel cap, the side bounds and the aspect ratio."""
    if width * height > cfg.max_image_pixels:
        return Problem(
            Reason.DECOMPRESSION_BOMB,
            f"header declares {width}x{height} = {width * height:,} pixels, above the cap of "
            f"{cfg.max_image_pixels:,} (validate.max_image_pixels); not decoded",
        )
    if max(width, height) > cfg.max_image_side:
        return Problem(
            Reason.IMAGE_TOO_LARGE,
            f"{width}x{height} exceeds validate.max_image_side={cfg.max_image_side}",
        )
    if min(width, height) < cfg.min_image_side:
        return Problem(
            Reason.IMAGE_TOO_SMALL,
            f"{width}x{height} is below validate.min_image_side={cfg.min_image_side}",
        )
    if max(width, height) > cfg.max_aspect_ratio * min(width, height):
        return Problem(
            Reason.EXTREME_ASPECT_RATIO,
            f"{width}x{height} has an aspect ratio of {max(width, height) / min(width, height):.1f}"
            f", above validate.max_aspect_ratio={cfg.max_aspect_ratio:g}",
        )
    return None


def check_image(data: bytes, cfg: SampleLimits) -> ImageCheck:
    """Open, bound, fully decode and normalise one image."""
    if not data:
        return ImageCheck(Problem(Reason.ZERO_BYTES, "the image is 0 bytes"))
    if len(data) > cfg.max_image_bytes:
        return ImageCheck(too_many_bytes(len(data), cfg))
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as err:  # beyond Pillow's own (higher) global limit
        return ImageCheck(Problem(Reason.DECOMPRESSION_BOMB, str(err)))
    except UnidentifiedImageError:
        return ImageCheck(_unidentified(data))
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        return ImageCheck(_decode_failure(err))
    with image:
        too_big_or_small = check_size(*image.size, cfg)
        if too_big_or_small is not None:
            return ImageCheck(too_big_or_small)
        try:
            if image.format == "PNG":  # CRCs and the closing IEND chunk: load() checks neither
                with Image.open(io.BytesIO(data), formats=("PNG",)) as probe:
                    probe.verify()
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            return ImageCheck(_decode_failure(err))
        mode = image.mode
        try:
            rgb = normalise_to_rgb(image)
        except (OSError, ValueError) as err:
            return ImageCheck(Problem(Reason.UNSUPPORTED_MODE, f"mode {mode}: {err}"))
        digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
        digest.update(rgb.tobytes())
        transparent = mode == "RGB" and "transparency" in image.info
        normalised = f"{mode}+transparency" if transparent else (None if mode == "RGB" else mode)
        return ImageCheck(None, digest.hexdigest(), normalised)

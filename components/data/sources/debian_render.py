"""Render Debian-packaged images: RGB on white, letterboxed into an image_size square.

The emoji sources are square; these are not (a 320x240 flag, a tall Tux Paint spade), so the
image is scaled to fit and centred on white instead of stretched.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image

from components.data.corpus.images import MAX_DECODE_PIXELS, WHITE, encode_png

# px per unit (CSS): old Inkscape/Illustrator SVGs give their size in pt or mm, which the
# bundled resvg rejects as "invalid size" (a third of openclipart); rewriting them to px fixes it
_UNITS = {"px": 1.0, "pt": 4 / 3, "pc": 16.0, "mm": 96 / 25.4, "cm": 96 / 2.54, "in": 96.0}
_ROOT_TAG = re.compile(r"<svg\b[^>]*>", re.S)
_SIZE = re.compile(
    r"""(\s(?:width|height)\s*=\s*["'])\s*([0-9.eE+-]+)\s*(px|pt|pc|mm|cm|in|%)\s*(["'])"""
)


def svg_in_px(text: str) -> str:
    """The SVG with its root width/height in px (a percentage is dropped: the viewBox rules)."""
    root = _ROOT_TAG.search(text)
    if root is None:
        return text

    def to_px(match: re.Match[str]) -> str:
        if match.group(3) == "%":
            return ""
        value = float(match.group(2)) * _UNITS[match.group(3)]
        return f"{match.group(1)}{value:g}{match.group(4)}"

    return text[: root.start()] + _SIZE.sub(to_px, root.group(0)) + text[root.end() :]


def _svg(path: Path, size: int) -> Image.Image:
    import resvg_py

    text = svg_in_px(path.read_text(encoding="utf-8", errors="replace"))

    def render(**side: int) -> Image.Image:
        # no system fonts: they differ between machines (and loading them is slow), so the
        # few <text> elements are left out rather than made machine-dependent
        png = resvg_py.svg_to_bytes(
            svg_string=text, skip_system_fonts=True, resources_dir=str(path.parent), **side
        )
        return Image.open(io.BytesIO(bytes(png)))

    image = render(width=size)
    return render(height=size) if image.height > image.width else image


def letterbox(image: Image.Image, size: int) -> bytes | None:
    """Composite onto white, scale the longer side to `size`, centre on a white square; None
    when nothing is left to see (one flat colour: e.g. a gradient swatch that resvg drops)."""
    rgba = image.convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE), rgba).convert("RGB")
    scale = size / max(flat.size)
    fitted = (max(1, round(flat.width * scale)), max(1, round(flat.height * scale)))
    if fitted != flat.size:
        flat = flat.resize(fitted, Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (size, size), WHITE[:3])
    canvas.paste(flat, ((size - fitted[0]) // 2, (size - fitted[1]) // 2))
    if all(low == high for low, high in canvas.getextrema()):
        return None
    return encode_png(canvas)


def render_debian(path: Path, data: bytes | None, size: int) -> bytes | None:
    """The corpus PNG for a package file (or for `data`, an encoded image); None when it
    cannot be rendered, is blank, or its header promises more pixels than the decode cap."""
    try:
        if data is None and path.suffix.lower() == ".svg":
            image = _svg(path, size)
        else:
            image = Image.open(io.BytesIO(data) if data is not None else path)
            if image.width * image.height > MAX_DECODE_PIXELS:
                return None
        with image:
            image.load()
            return letterbox(image, size)
    except (OSError, ValueError, SyntaxError):  # a broken file in a package: skip, count it
        return None

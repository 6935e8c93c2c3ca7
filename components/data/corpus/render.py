"""Each sample's image member: a package's image rendered as a PNG of `data.image_size`, a user's
image as given (stored_image.py). User bytes reach this point only after the source checks
admitted them (user_admission.py); nothing else is ever stored."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from components.data.corpus.images import Rendered, render_png, render_user_image
from components.data.corpus.records import SourceImage
from components.data.corpus.stored_image import store_user_image

USER_SOURCE = "user"  # components/data/sources/user_records.py's SOURCE
MIN_IMAGES_FOR_POOL = 64  # below this a pool is not worth starting


def _png(png: bytes) -> Rendered:
    with Image.open(io.BytesIO(png)) as image:  # reads the header only
        return Rendered("png", png, *image.size)


def render_sample(image: SourceImage, size: int, max_stored_side: int) -> Rendered:
    """The image member for one source image (thread-safe: no shared state)."""
    if image.data is None:  # a package's file: known good, errors are the package's fault
        return _png(render_png(image.path, size))
    if image.source == USER_SOURCE:  # a photo keeps its bytes and its aspect ratio
        return store_user_image(image.data, max_stored_side)
    return _png(render_user_image(image.data, size))  # a Debian package's, rendered already


def render_all(
    images: list[SourceImage], size: int, max_stored_side: int, workers: int
) -> Iterator[Rendered]:
    """Rendered samples in input order.

    Threads, not processes: Pillow's decode/resize/zlib release the GIL (about 1.5x on two
    cores), and a spawn-based process pool would re-import the caller's __main__, which
    breaks any flow script without an `if __name__ == "__main__"` guard.
    """
    if workers <= 1 or len(images) < MIN_IMAGES_FOR_POOL:
        yield from (render_sample(image, size, max_stored_side) for image in images)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(
            render_sample, images, itertools.repeat(size), itertools.repeat(max_stored_side)
        )

"""Fashion-MNIST (Debian dataset-fashion-mnist): the 10,000 test images, a zero-shot label set.

Read from the IDX files (big-endian header, then uint8 pixels). The digits are drawn light on
black; they are inverted so that, like every other image in the corpus, they sit on white.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
from PIL import Image

from components.data.corpus.records import SourceImage
from components.data.errors import DataSourceError
from components.data.sources.debian_select import cap_per_class
from components.settings import DataConfig

SOURCE = "fashion-mnist"
LICENSE = "MIT"
DATA_DIR = Path("datasets/fashion-mnist")  # under /usr/share
IMAGES = DATA_DIR / "t10k-images-idx3-ubyte.gz"
LABELS = DATA_DIR / "t10k-labels-idx1-ubyte.gz"
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_MAGIC = {1: 2049, 3: 2051}  # IDX magic numbers: unsigned bytes, 1 or 3 dimensions


def read_idx(path: Path, dims: int) -> np.ndarray:
    """An IDX array of uint8 (MNIST's file format), checked against its header."""
    raw = gzip.decompress(path.read_bytes())
    header = np.frombuffer(raw, dtype=">u4", count=1 + dims)
    if int(header[0]) != _MAGIC[dims]:
        raise DataSourceError(f"{path} is not an IDX file of {dims} dimension(s)")
    shape = tuple(int(n) for n in header[1:])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 * (1 + dims)).reshape(shape)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(255 - pixels, mode="L").save(buffer, format="PNG")  # dark on white
    return buffer.getvalue()


def load_fashion_mnist(root: Path, cfg: DataConfig) -> list[SourceImage]:
    """At most label_set_max_per_class test images per class; the caption is the class name."""
    images, labels = read_idx(root / IMAGES, 3), read_idx(root / LABELS, 1)
    if len(images) != len(labels) or int(labels.max(initial=0)) >= len(CLASSES):
        raise DataSourceError(f"{root / DATA_DIR}: images and labels do not match")
    indices = cap_per_class(
        range(len(labels)), lambda i: CLASSES[labels[i]], cfg.label_set_max_per_class,
        cfg.seed, SOURCE,
    )  # fmt: skip
    return [
        SourceImage(
            source=SOURCE,
            code=f"{index:05d}",  # the index in the t10k files
            base_code=f"{index:05d}",
            name=CLASSES[labels[index]],
            captions=(CLASSES[labels[index]],),
            category=CLASSES[labels[index]],
            license=LICENSE,
            path=root / IMAGES,
            data=_png(images[index]),
        )
        for index in indices
    ]

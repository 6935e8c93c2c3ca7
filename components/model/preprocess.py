"""Image preprocessing, derived from the model's input size in this one place: training (in
Ray Data's map_batches), evaluation, export and the served model all call it.

- evaluation and serving: transparency composited onto white, the shorter side resized to the
  model's size (bicubic), then a center crop: the aspect ratio is kept, nothing is squashed;
- training: the same, or, when `crop_scale` is set, a random resized crop (a box of that share
  of the area and an aspect between 3/4 and 4/3, resized to the model's size; a share above 1
  zooms out: the image smaller, framed in white, as styles with wide margins draw); then, when
  set, colour jitter (brightness, contrast and saturation each scaled by a factor drawn from
  [1 - s, 1 + s], in that order) and grayscale with probability `grayscale_p`. Every draw comes
  from a generator the caller seeds per sample, so a resumed run augments the same way.

The output is uint8 RGB [S, S, 3]; `normalize` applies CLIP's mean/std to a [B, 3, S, S] batch.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
WHITE = (255, 255, 255, 255)
_CROP_RATIO = (3 / 4, 4 / 3)  # the aspect range of a random crop (Inception's, as CLIP's)
_CROP_TRIES = 10


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB, transparency composited onto white (alpha means 'background' in this corpus)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE), rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _resize_center_crop(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    if (width, height) == (size, size):
        return image
    scale = size / min(width, height)
    # the shorter side becomes exactly `size`; the longer one at least that
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    if new != (width, height):
        image = image.resize(new, Image.Resampling.BICUBIC)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return image.crop((left, top, left + size, top + size)) if new != (size, size) else image


def _crop_box(width: int, height: int, scale: tuple[float, float], rng: random.Random):
    """(left, top, w, h) of a random crop; the whole image's center square when no try fits.
    A share above 1 is a box larger than the image (a zoom out): it may start left of or above
    the image and reach past it, and always holds the image's whole width or height."""
    area = width * height
    log_ratio = (math.log(_CROP_RATIO[0]), math.log(_CROP_RATIO[1]))
    for _ in range(_CROP_TRIES):
        share = rng.uniform(*scale)
        ratio = math.exp(rng.uniform(*log_ratio))
        w, h = round(math.sqrt(area * share * ratio)), round(math.sqrt(area * share / ratio))
        if share > 1 and w > 0 and h > 0:
            left = rng.randint(min(0, width - w), max(0, width - w))
            return left, rng.randint(min(0, height - h), max(0, height - h)), w, h
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, width - w), rng.randint(0, height - h), w, h
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side, side


def _resized_box(rgb: Image.Image, box: tuple[int, int, int, int], size: int) -> Image.Image:
    """The box of `rgb` resized to size x size; what lies outside the image is white (the
    corpus's background), so a zoom out shows the whole image smaller, framed in white."""
    left, top, w, h = box
    if left >= 0 and top >= 0 and left + w <= rgb.width and top + h <= rgb.height:
        return rgb.resize(
            (size, size), Image.Resampling.BICUBIC, box=(left, top, left + w, top + h)
        )
    canvas = Image.new("RGB", (w, h), WHITE[:3])
    canvas.paste(rgb, (-left, -top))  # the part of the image inside the box
    return canvas.resize((size, size), Image.Resampling.BICUBIC)


def _jittered(rgb: Image.Image, strength: float, rng: random.Random) -> Image.Image:
    from PIL import ImageEnhance

    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        rgb = enhance(rgb).enhance(rng.uniform(max(0.0, 1 - strength), 1 + strength))
    return rgb


@dataclass(frozen=True)
class ImageTransform:
    size: int  # the model's input side (vision_cfg.image_size)
    crop_scale: tuple[float, float] | None = None  # training's random resized crop; None: off
    color_jitter: float = 0.0  # training's brightness/contrast/saturation strength; 0: off
    grayscale_p: float = 0.0  # training's chance of a grayscale image; 0: off

    @property
    def is_random(self) -> bool:
        """Whether the transform draws from the sample's generator (training's augmentation)."""
        return self.crop_scale is not None or self.color_jitter > 0 or self.grayscale_p > 0

    def image(self, image: Image.Image, rng: random.Random | None = None) -> np.ndarray:
        """A decoded image -> uint8 [S, S, 3]."""
        rgb = to_rgb(image)
        if self.is_random and rng is None:
            raise ValueError("training's augmentation needs the sample's generator")
        if self.crop_scale is not None:
            rgb = _resized_box(rgb, _crop_box(*rgb.size, self.crop_scale, rng), self.size)
        else:
            rgb = _resize_center_crop(rgb, self.size)
        if self.color_jitter > 0:
            rgb = _jittered(rgb, self.color_jitter, rng)
        if self.grayscale_p > 0 and rng.random() < self.grayscale_p:
            rgb = rgb.convert("L").convert("RGB")
        return np.asarray(rgb, dtype=np.uint8)

    def __call__(self, data: bytes, rng: random.Random | None = None) -> np.ndarray:
        """Encoded image bytes -> uint8 [S, S, 3]."""
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return self.image(image, rng)


def eval_transform(size: int) -> ImageTransform:
    return ImageTransform(size)


def train_transform(
    size: int,
    crop_scale: tuple[float, float] | None,
    color_jitter: float = 0.0,
    grayscale_p: float = 0.0,
) -> ImageTransform:
    return ImageTransform(size, tuple(crop_scale) if crop_scale else None, color_jitter,
                          grayscale_p)  # fmt: skip


def images_to_tensor(images: list[bytes], size: int):  # -> torch.uint8 [N, 3, S, S]
    """Encoded images -> the evaluation view of each, as one uint8 batch [N, 3, S, S]."""
    import torch

    transform = eval_transform(size)
    batch = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, data in enumerate(images):
        batch[i] = transform(data)
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()


def normalize(images):  # torch.uint8 [B, 3, S, S] -> torch.float32 [B, 3, S, S]
    import torch

    mean = torch.tensor(CLIP_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std

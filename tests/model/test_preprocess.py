"""The one image transform: evaluation keeps the aspect (shorter side, center crop), equals the
former whole-image resize on the square images the corpus stores, composites transparency onto
white; training's random resized crop is seeded per sample and stays inside the image, or,
with an area share above 1, zooms out onto white."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from components.model.preprocess import eval_transform, images_to_tensor, train_transform


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _halves(width: int, height: int) -> Image.Image:
    """Left third red, middle third green, right third blue."""
    pixels = np.zeros((height, width, 3), np.uint8)
    third = width // 3
    pixels[:, :third, 0] = 255
    pixels[:, third : 2 * third, 1] = 255
    pixels[:, 2 * third :, 2] = 255
    return Image.fromarray(pixels)


def test_square_images_resize_as_before() -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
    expected = np.asarray(image.resize((32, 32), Image.Resampling.BICUBIC))
    assert np.array_equal(eval_transform(32)(_png(image)), expected)
    batch = images_to_tensor([_png(image)], 32)  # uint8 [1, 3, 32, 32]
    assert batch.shape == (1, 3, 32, 32)
    assert np.array_equal(batch[0].permute(1, 2, 0).numpy(), expected)


def test_wide_images_are_center_cropped_not_squashed() -> None:
    out = eval_transform(30)(_png(_halves(90, 30)))  # three 30 px bands: the crop is the middle
    assert out.shape == (30, 30, 3)
    assert out[:, 5:25, 1].min() == 255 and out[:, 5:25, 0].max() == 0  # green, no red


def test_transparency_becomes_white() -> None:
    clear = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    assert eval_transform(16)(_png(clear)).min() == 255


def test_random_resized_crop_is_seeded_and_differs_from_eval() -> None:
    data = _png(_halves(60, 60))
    crop = train_transform(24, (0.2, 0.5))
    first = crop(data, random.Random("k/1"))
    assert np.array_equal(first, crop(data, random.Random("k/1")))
    assert not np.array_equal(first, crop(data, random.Random("k/2")))
    assert not np.array_equal(first, eval_transform(24)(data))
    assert first.shape == (24, 24, 3)
    with pytest.raises(ValueError, match="needs the sample's generator"):
        crop(data)


def test_a_share_above_one_zooms_out_onto_white_and_keeps_the_whole_image() -> None:
    black = _png(Image.new("RGB", (40, 40)))
    zoom = train_transform(32, (4.0, 4.0))  # a box of 4x the area: the image about half the side
    for seed in range(20):
        out = zoom(black, random.Random(seed)).astype(int)
        dark = out.max(axis=-1) < 128
        rows, cols = np.nonzero(dark.any(axis=1))[0], np.nonzero(dark.any(axis=0))[0]
        # the whole image, smaller: a dark block of 14-19 px (the aspect varies), white around
        assert 12 <= len(rows) <= 21 and 12 <= len(cols) <= 21, (seed, len(rows), len(cols))
        assert dark.sum() == pytest.approx(len(rows) * len(cols), rel=0.25)
        assert (out.min(axis=-1)[~dark] > 100).mean() > 0.95  # the margin is white, not black
    # shares up to 1 never leave the image: no white on a black image
    inside = train_transform(32, (0.5, 1.0))
    assert all(inside(black, random.Random(seed)).max() < 8 for seed in range(20))


def test_crop_off_is_the_eval_view() -> None:
    data = _png(_halves(40, 64))
    assert np.array_equal(train_transform(32, None)(data), eval_transform(32)(data))


def _colourful() -> Image.Image:
    pixels = np.zeros((24, 24, 3), dtype=np.uint8)
    pixels[..., 0] = np.linspace(30, 220, 24)[None, :]
    pixels[..., 1] = np.linspace(200, 40, 24)[:, None]
    pixels[..., 2] = 120
    return Image.fromarray(pixels, "RGB")


def test_colour_jitter_and_grayscale_are_seeded_per_sample() -> None:
    data = _png(_colourful())
    plain = eval_transform(24)(data).astype(int)
    jitter = train_transform(24, None, color_jitter=0.4)
    first = jitter(data, random.Random(7))
    assert np.array_equal(first, jitter(data, random.Random(7)))  # a resumed run: the same
    others = [jitter(data, random.Random(seed)).astype(int) for seed in range(8)]
    assert max(np.abs(o - plain).mean() for o in others) > 5  # it does change the colours
    assert len({o.tobytes() for o in others}) == 8  # and each sample differently
    gray = train_transform(24, None, grayscale_p=1.0)(data, random.Random(0))
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    never = train_transform(24, None, grayscale_p=0.0)
    assert not never.is_random and np.array_equal(never(data), plain)
    with pytest.raises(ValueError, match="generator"):
        jitter(data)

"""Checks on one sample's bytes (no shards, no great_expectations)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from components.checks.caption import check_caption
from components.checks.image import check_image, normalise_to_rgb
from components.checks.reasons import Reason
from components.validation.sample_checks import check_metadata

from .corpus_factory import encode, flip_byte, header_bomb_png, noise, noise_png, sixteen_bit_png
from .validation_support import TEST_LIMITS, params_config

CFG = params_config(**TEST_LIMITS)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", Reason.ZERO_BYTES),
        (noise_png(1)[:300], Reason.TRUNCATED),
        (noise_png(1)[:30], Reason.TRUNCATED),  # signature, then the header is cut off
        (noise_png(1)[:-6], Reason.CORRUPT_IMAGE),  # the closing IEND chunk is broken
        (flip_byte(noise_png(1), 200), Reason.CORRUPT_IMAGE),
        (b"just text\n", Reason.NOT_AN_IMAGE),
        (encode(noise(1), "BMP"), Reason.NOT_AN_IMAGE),  # decodable, but not an allowed format
        (header_bomb_png(), Reason.DECOMPRESSION_BOMB),
        (encode(noise(1, (600, 600), "L")), Reason.DECOMPRESSION_BOMB),  # over the pixel cap
        (noise_png(1, (520, 64)), Reason.IMAGE_TOO_LARGE),
        (noise_png(1, (64, 4)), Reason.IMAGE_TOO_SMALL),
    ],
    ids=lambda v: v.value if isinstance(v, Reason) else None,
)
def test_rejected_images(data: bytes, reason: Reason) -> None:
    check = check_image(data, CFG)
    assert check.problem is not None and check.problem.reason == reason
    assert check.problem.detail and check.pixel_hash is None


def test_bomb_is_rejected_from_its_header_without_decoding() -> None:
    check = check_image(header_bomb_png(), params_config(max_image_pixels=10**12))
    assert check.problem is not None  # Pillow's own limit still applies above ours
    assert check.problem.reason == Reason.DECOMPRESSION_BOMB


@pytest.mark.parametrize(
    ("data", "mode"),
    [
        (encode(noise(2, mode="CMYK"), "JPEG"), "CMYK"),  # a JPEG under a .png name
        (encode(noise(2, mode="P")), "P"),
        (sixteen_bit_png(2), "I;16"),
        (encode(noise(2, mode="RGBA")), "RGBA"),
        (encode(noise(2, mode="LA")), "LA"),
        (encode(noise(2, mode="L")), "L"),
    ],
)
def test_other_modes_are_normalised_not_rejected(data: bytes, mode: str) -> None:
    check = check_image(data, CFG)
    assert check.problem is None
    assert check.normalised_from == mode and check.pixel_hash


def test_plain_rgb_png_is_accepted_as_is() -> None:
    check = check_image(noise_png(3), CFG)
    assert check.problem is None and check.normalised_from is None


def test_pixel_hash_ignores_encoding() -> None:
    fast, small = encode(noise(4), compress_level=0), encode(noise(4), compress_level=9)
    assert fast != small
    assert check_image(fast, CFG).pixel_hash == check_image(small, CFG).pixel_hash
    assert check_image(noise_png(5), CFG).pixel_hash != check_image(fast, CFG).pixel_hash


def test_sixteen_bit_is_scaled_not_clipped() -> None:
    grey = Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16))
    assert grey.mode == "I;16"
    rgb = np.asarray(normalise_to_rgb(grey))
    assert rgb.shape == (8, 8, 3) and int(rgb.max()) == 128  # convert("RGB") would give 255


def test_transparency_is_composited_onto_white() -> None:
    clear = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert np.asarray(normalise_to_rgb(clear)).min() == 255


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", Reason.EMPTY_CAPTION),
        (b" \t\r\n ", Reason.WHITESPACE_CAPTION),
        (b"caf\xe9", Reason.NON_UTF8_CAPTION),
        (b"\xff\xfeh\x00i\x00", Reason.NON_UTF8_CAPTION),  # UTF-16 is not UTF-8
        ("é" * 301, Reason.CAPTION_TOO_LONG),
    ],
)
def test_rejected_captions(data: bytes | str, reason: Reason) -> None:
    raw = data.encode() if isinstance(data, str) else data
    problem = check_caption(raw, CFG)
    assert problem is not None and problem.reason == reason


def test_caption_length_counts_characters_not_bytes() -> None:
    assert check_caption(("é" * 300).encode(), CFG) is None  # 600 bytes, 300 characters
    assert check_caption(b"  a grinning face  \n", CFG) is None


def _meta(**fields: object) -> bytes:
    base = {"id": "noto-1f600", "concept": "grinning face", "captions": ["grinning face"]}
    return json.dumps(base | fields).encode()


@pytest.mark.parametrize(
    "data",
    [b"{not json", b"[1, 2]", _meta(id="noto-1f601"), _meta(captions=[]), _meta(captions=[" "]),
     _meta(concept=None)],
)  # fmt: skip
def test_bad_metadata(data: bytes) -> None:
    problem = check_metadata(data, "noto-1f600")
    assert problem is not None and problem.reason == Reason.BAD_METADATA


def test_good_metadata() -> None:
    assert check_metadata(_meta(), "noto-1f600") is None

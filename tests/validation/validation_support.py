"""Configuration, the broken-corpus recipe and gate helpers shared by the validation tests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from components.settings import PROJECT_ROOT, ValidateConfig
from components.validation.errors import GateFailed
from components.validation.report import ValidationReport

from .corpus_factory import (
    Sample,
    encode,
    flip_byte,
    good_samples,
    header_bomb_png,
    noise,
    noise_png,
    sixteen_bit_png,
    write_corpus,
    write_tar,
)


def params_config(**overrides: object) -> ValidateConfig:
    """params.yaml's validate section (so the real file is exercised), with test overrides."""
    raw = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())["validate"]
    return ValidateConfig(**(raw | overrides))


# pinned, so retuning params.yaml does not move the tests' edges; small image limits keep the
# oversized samples small on disk
TEST_LIMITS = {
    "min_rows": 10,
    "min_caption_chars": 1,
    "max_caption_chars": 300,
    "min_image_side": 8,
    "max_image_side": 512,
    "max_image_pixels": 200_000,
}


@dataclass(frozen=True)
class BadCorpus:
    data_dir: Path
    expected: dict[str, str]  # id -> the reason it must be quarantined for
    normalised: dict[str, str]  # id -> original mode of the accepted, converted images
    good: frozenset[str]


def build_bad_corpus(root: Path) -> BadCorpus:
    data_dir = root / "data"
    good = good_samples(30)
    twin = good[0].image
    assert twin is not None
    valid = noise_png(9_001)
    cases: list[tuple[Sample, str]] = [
        (Sample("zero-bytes", b""), "zero_bytes"),
        (Sample("truncated", valid[: len(valid) // 2]), "truncated"),
        (Sample("text-as-png", b"I am a caption file, not an image\n"), "not_an_image"),
        (Sample("header-bomb", header_bomb_png()), "decompression_bomb"),
        (Sample("pixel-bomb", encode(noise(9_002, (500, 500), "L"))), "decompression_bomb"),
        (Sample("bit-flip", flip_byte(noise_png(9_003), 200)), "corrupt_image"),
        (Sample("empty-caption", noise_png(9_004), caption=b""), "empty_caption"),
        (Sample("blank-caption", noise_png(9_005), caption=b" \t\n "), "whitespace_caption"),
        (Sample("latin1-caption", noise_png(9_006), caption=b"caf\xe9"), "non_utf8_caption"),
        (Sample("long-caption", noise_png(9_007), caption=b"x" * 400), "caption_too_long"),
        # same pixels as good-000, re-encoded: only the decoded-pixel hash can tell
        (Sample("same-pixels", encode(noise(0), compress_level=0)), "duplicate_image"),
        # byte-identical to good-001: the manifest's image_sha256 already tells
        (Sample("same-bytes", good[1].image), "duplicate_image"),
        (Sample("dot-dot", noise_png(9_008), shard="../outside-00000.tar"), "path_escape"),
        (Sample("symlinked", noise_png(9_009), shard="shards/link-00000.tar"), "path_escape"),
        (Sample("no-png-member", None), "missing_member"),
        (Sample("link-member", None, symlink_member=True), "irregular_member"),
        (Sample("no-shard", noise_png(9_010), shard="shards/gone-00000.tar"), "missing_shard"),
        (Sample("garbage-shard", noise_png(9_011), shard="shards/junk-00000.tar"),
         "unreadable_shard"),
        (Sample("tiny", noise_png(9_012, (4, 4))), "image_too_small"),
        # the manifest claims 64x64: only decoding finds the real size
        (Sample("tiny-liar", noise_png(9_013, (4, 4)), manifest={"width": 64, "height": 64}),
         "image_too_small"),
        (Sample("wide", noise_png(9_014, (600, 64))), "image_too_large"),
        (Sample("wide-liar", noise_png(9_015, (520, 64)), manifest={"width": 64}),
         "image_too_large"),
        (Sample("stale-meta", noise_png(9_016), meta_id="someone-else"), "bad_metadata"),
        (Sample("stale-sha", noise_png(9_018), manifest={"image_sha256": "0" * 64}),
         "checksum_mismatch"),
        (Sample("unlisted", noise_png(9_019), listed=False), "not_in_manifest"),
    ]  # fmt: skip
    absolute = data_dir / "shards" / "abs-00000.tar"
    cases.append((Sample("absolute", noise_png(9_017), shard=str(absolute)), "path_escape"))
    normalised = {
        "cmyk-jpeg": (encode(noise(9_100, mode="CMYK"), "JPEG"), "CMYK"),
        "palette": (encode(noise(9_101, mode="P")), "P"),
        "sixteen-bit": (sixteen_bit_png(9_102), "I;16"),
        "rgba": (encode(noise(9_103, mode="RGBA")), "RGBA"),
        "grey-alpha": (encode(noise(9_104, mode="LA")), "LA"),
    }
    samples = list(good)
    samples += [sample for sample, _ in cases]
    samples += [Sample(key, image) for key, (image, _) in normalised.items()]
    write_corpus(data_dir, samples)

    by_id = {s.id: s for s in samples}
    write_tar(root / "outside-00000.tar", [by_id["dot-dot"]])
    write_tar(root / "elsewhere" / "link-target.tar", [by_id["symlinked"]])
    os.symlink(root / "elsewhere" / "link-target.tar", data_dir / "shards" / "link-00000.tar")
    (data_dir / "shards" / "junk-00000.tar").write_bytes(b"this is not a tar archive" * 40)
    write_tar(absolute, [by_id["absolute"]])
    assert twin == by_id["good-000"].image
    return BadCorpus(
        data_dir=data_dir,
        expected={sample.id: reason for sample, reason in cases},
        normalised={key: mode for key, (_, mode) in normalised.items()},
        good=frozenset(s.id for s in good),
    )


def validate(data_dir: Path, cfg: ValidateConfig, report_dir: Path) -> ValidationReport:
    from components.validation.gate import validate_corpus

    return validate_corpus(data_dir, cfg, report_dir)


def gate_failure(data_dir: Path, cfg: ValidateConfig, report_dir: Path) -> GateFailed:
    with pytest.raises(GateFailed) as caught:
        validate(data_dir, cfg, report_dir)
    return caught.value

"""Bad user images are data, not a crash: the build keeps their bytes, the gate rejects them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from userdata import huge_png_header, picture, user_cfg, write, write_csv

from components.data.build import build_corpus
from components.data.manifest import read_manifest
from components.data.reader import read_split
from components.data.webdataset import iter_shard
from components.settings import ValidateConfig, load_settings
from components.validation.gate import validate_corpus

pytestmark = pytest.mark.timeout(300)


def _gate_config() -> ValidateConfig:
    """The project's gate, told that `user` is a known source, reporting rather than failing."""
    base = load_settings(profile="default").validate_
    return base.model_copy(
        update={
            "known_sources": (*base.known_sources, "user"),
            "min_rows": 1,
            "max_rejected_fraction": 1.0,
        }
    )


def _quarantine(report_dir: Path) -> dict[str, str]:
    with (report_dir / "quarantine.csv").open(newline="") as handle:
        return {row["id"]: row["reason"] for row in csv.DictReader(handle)}


def _build(tmp_path: Path, sources_dir: Path, small_cfg, bad: dict[str, bytes]) -> Path:
    """A corpus from a CSV of two good images plus `bad` (file name -> bytes)."""
    rows = []
    for i in range(2):
        write(tmp_path / "in" / f"good{i}.png", picture(i + 40))
        rows.append({"image": f"good{i}.png", "caption": f"good picture {i}"})
    for name, data in bad.items():
        write(tmp_path / "in" / name, data)
        rows.append({"image": name, "caption": f"bad file {name}"})
    table = write_csv(tmp_path / "in" / "table.csv", rows)
    data_dir = tmp_path / "data"
    build_corpus(user_cfg(small_cfg, user_sources=[str(table)]), sources_dir, data_dir)
    return data_dir


def _ids_by_caption(data_dir: Path) -> dict[str, str]:
    return {r["caption"]: r["id"] for r in read_manifest(data_dir).to_pylist()}


def test_gate_quarantines_exactly_the_bad_user_images(tmp_path, sources_dir, small_cfg) -> None:
    good = picture(7)
    bad = {
        "empty.png": b"",
        "cut.png": good[: len(good) // 2],
        "notes.png": b"these are my shopping notes, not a picture\n",
        "bomb.png": huge_png_header(),
    }
    data_dir = _build(tmp_path, sources_dir, small_cfg, bad)
    ids = _ids_by_caption(data_dir)
    rows = {r["id"]: r for r in read_manifest(data_dir).to_pylist()}
    assert rows[ids["bad file bomb.png"]]["width"] == 5000  # the header's claim, kept
    assert rows[ids["bad file cut.png"]]["n_bytes"] == len(good) // 2  # bytes kept unchanged

    report = validate_corpus(data_dir, _gate_config(), tmp_path / "report")
    assert _quarantine(tmp_path / "report") == {
        ids["bad file empty.png"]: "zero_bytes",
        ids["bad file cut.png"]: "truncated",
        ids["bad file notes.png"]: "not_an_image",
        ids["bad file bomb.png"]: "image_too_large",
    }
    assert report.n_rejected == 4

    # the reader copes with every member, and what the gate let through decodes
    quarantined = set(_quarantine(tmp_path / "report"))
    everything = read_split(data_dir, "train") + read_split(data_dir, "val")
    kept = [s for s in everything if s.id not in quarantined]
    assert {ids["good picture 0"], ids["good picture 1"]} <= {s.id for s in kept}
    assert all(s.image_png.startswith(b"\x89PNG") for s in kept)


def test_gate_names_the_problem_of_non_png_members(tmp_path, sources_dir, small_cfg) -> None:
    photo = picture(9, "JPEG")
    bad = {"cut.jpg": photo[: len(photo) // 2], "readme.txt": b"plain text, no image"}
    data_dir = _build(tmp_path, sources_dir, small_cfg, bad)
    ids = _ids_by_caption(data_dir)
    exts = {key: set(parts) for shard in (data_dir / "shards").glob("*.tar")
            for key, parts in iter_shard(shard)}  # fmt: skip
    assert exts[ids["bad file cut.jpg"]] == {"jpg", "txt", "json"}  # the source's extension
    assert exts[ids["bad file readme.txt"]] == {"bin", "txt", "json"}  # not an image type
    validate_corpus(data_dir, _gate_config(), tmp_path / "report")
    assert _quarantine(tmp_path / "report") == {
        ids["bad file cut.jpg"]: "truncated",
        ids["bad file readme.txt"]: "not_an_image",
    }

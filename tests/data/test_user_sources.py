"""User data (data.user_sources): tables and WebDataset shards on local disk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from userdata import (
    img2dataset_sample,
    picture,
    shard_bytes,
    user_cfg,
    write,
    write_csv,
)

from components.checks.limits import SampleLimits
from components.checks.reasons import Reason
from components.data.build import build_corpus
from components.data.corpus.manifest import read_manifest
from components.data.corpus.rejections import read_rejected
from components.data.corpus.webdataset import iter_shard
from components.data.errors import DataSourceError
from components.data.sources.user_sources import UserData, load_user_sources


def _user_rows(data_dir: Path) -> list[dict]:
    return [r for r in read_manifest(data_dir).to_pylist() if r["source"] == "user"]


def _load(cfg, sources: list[str]) -> UserData:
    return load_user_sources(user_cfg(cfg, user_sources=sources), SampleLimits(), workers=1)


def _members(data_dir: Path, row: dict) -> dict[str, bytes]:
    return dict(iter_shard(data_dir / row["shard"]))[row["key"]]


def test_csv_with_relative_paths(tmp_path, sources_dir, small_cfg, digest) -> None:
    folder = tmp_path / "mine"
    images = [picture(i) for i in range(3)]
    for i, data in enumerate(images):
        write(folder / "imgs" / f"{i}.png", data)
    table = write_csv(
        folder / "table.csv",
        [
            {
                "image": "imgs/0.png",
                "caption": "a red fox",
                "captions": "fox|animal",
                "license": "",
            },
            {"image": "imgs/1.png", "caption": "  a  blue  car ", "captions": "", "license": "CC0"},
            {
                "image": "imgs/2.png",
                "caption": "a tree",
                "captions": '["oak", "tree"]',
                "license": "",
            },
            # a row whose image file is gone is rejected at the source; the others stay
            {"image": "imgs/gone.png", "caption": "lost", "captions": "", "license": ""},
        ],
    )
    cfg = user_cfg(small_cfg, user_sources=[str(table)])
    card = build_corpus(cfg, sources_dir, tmp_path / "data")

    rows = {r["caption"]: r for r in _user_rows(tmp_path / "data")}
    assert set(rows) == {"a red fox", "a blue car", "a tree"}
    assert card["counts"]["by_source"]["user"] == 3
    assert card["sources"]["user"][0]["samples"] == 3 and card["build"]["user_sources"]
    assert card["sources"]["user"][0]["rejected"] == {"missing_file": 1}
    assert card["rejected"] == {"total": 1, "missing_file": 1}
    for i, caption in enumerate(["a red fox", "a blue car", "a tree"]):
        row = rows[caption]
        assert row["id"] == "user-" + hashlib.sha256(images[i]).hexdigest()[:16]
        assert row["split"] in {"train", "val"} and row["concept"] == caption
        assert (row["width"], row["height"]) == (40, 28)  # as given: not squashed
        assert _members(tmp_path / "data", row)["png"] == images[i]  # nor re-encoded
    assert rows["a red fox"]["captions"] == ["a red fox", "fox", "animal"]
    assert rows["a tree"]["captions"] == ["a tree", "oak", "tree"]
    assert rows["a blue car"]["license"] == "CC0" and rows["a red fox"]["license"] == "unknown"
    [lost] = read_rejected(tmp_path / "data")
    assert (lost.reference, lost.row, lost.reason, lost.sha256) == (
        "imgs/gone.png",
        4,
        Reason.MISSING_FILE,
        None,
    )
    assert lost.detail == f"row 4: {folder / 'imgs' / 'gone.png'} does not exist"

    again = tmp_path / "again"
    build_corpus(cfg, sources_dir, again, workers=1)
    assert digest(again) == digest(tmp_path / "data")  # user data builds are reproducible too


def test_parquet_with_absolute_paths_and_list_captions(tmp_path, sources_dir, small_cfg) -> None:
    paths = [write(tmp_path / "pics" / f"p{i}.jpg", picture(i + 10, "JPEG")) for i in range(3)]
    table = tmp_path / "elsewhere" / "table.parquet"  # not the images' folder: a root says it
    table.parent.mkdir()
    pd.DataFrame(
        {
            "image": [str(p) for p in paths],
            "caption": ["one", "two", "three"],
            "captions": [["uno"], [], ["tres", "drei"]],
            "license": ["CC-BY-4.0", None, "MIT"],
        }
    ).to_parquet(table)
    roots = [str(tmp_path / "pics")]
    cfg = user_cfg(small_cfg, user_sources=[str(table)], user_roots=roots)
    card = build_corpus(cfg, sources_dir, tmp_path / "data")
    rows = {r["caption"]: r for r in _user_rows(tmp_path / "data")}
    assert card["counts"]["by_source"]["user"] == 3 == len(rows)
    assert card["build"]["user_roots"] == roots and "rejected" not in card["sources"]["user"][0]
    assert rows["three"]["captions"] == ["three", "tres", "drei"]
    assert [rows[c]["license"] for c in ("one", "two", "three")] == ["CC-BY-4.0", "unknown", "MIT"]
    for i, caption in enumerate(["one", "two", "three"]):  # JPEGs stay the JPEGs given
        assert _members(tmp_path / "data", rows[caption])["jpg"] == paths[i].read_bytes()
        assert rows[caption]["n_bytes"] == paths[i].stat().st_size


def test_webdataset_shard_folder_and_glob(tmp_path, sources_dir, small_cfg) -> None:
    shards = tmp_path / "shards"
    write(
        shards / "00000.tar",
        shard_bytes(
            {
                "000000000": img2dataset_sample(0, "a jpeg photo"),
                "000000001": img2dataset_sample(1, "a png drawing", "PNG", "png"),
            }
        ),
    )
    json_only = img2dataset_sample(3, "caption from json", "WEBP", "webp")
    del json_only["txt"]
    write(
        shards / "00001.tar",
        shard_bytes({"000000002": img2dataset_sample(2, "a webp"), "000000003": json_only}),
    )
    write(shards / "00000.parquet", b"img2dataset writes these beside the shards")
    card = build_corpus(
        user_cfg(small_cfg, user_sources=[str(shards)]), sources_dir, tmp_path / "data"
    )
    rows = _user_rows(tmp_path / "data")
    captions = {r["caption"] for r in rows}
    assert captions == {"a jpeg photo", "a png drawing", "a webp", "caption from json"}
    assert card["counts"]["by_source"]["user"] == 4
    assert card["sources"]["user"][0]["kind"] == "webdataset"
    assert all((r["width"], r["height"]) == (40, 28) for r in rows)  # every one as given
    stored = {r["caption"]: set(_members(tmp_path / "data", r)) for r in rows}
    assert stored["a jpeg photo"] >= {"jpg"} and stored["a png drawing"] >= {"png"}
    assert stored["caption from json"] >= {"webp"}

    by_glob = build_corpus(
        user_cfg(small_cfg, user_sources=[str(shards / "0000*.tar")]), sources_dir, tmp_path / "g"
    )
    assert by_glob["counts"] == card["counts"]
    assert {r["id"] for r in _user_rows(tmp_path / "g")} == {r["id"] for r in rows}


def test_csv_without_caption_column_is_a_clear_error(tmp_path, sources_dir, small_cfg) -> None:
    write(tmp_path / "a.png", picture(1))
    table = write_csv(tmp_path / "t.csv", [{"image": "a.png", "text": "a caption"}])
    with pytest.raises(DataSourceError) as caught:
        build_corpus(user_cfg(small_cfg, user_sources=[str(table)]), sources_dir, tmp_path / "d")
    message = str(caught.value)
    assert f"user table {table} has no 'caption' column" in message
    assert "image, text" in message and "\n" not in message
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.csv", None, "no such file"),
        ("broken.parquet", b"not parquet at all", "cannot read user table"),
        ("empty.csv", b"image,caption\n", "has no rows"),
        ("blank.csv", b"", "is empty"),
        ("no-shards", "dir", "holds no .tar shards"),
        ("nowhere/at/all", None, "does not exist"),
        ("empty.tar", "empty-tar", "hold no samples"),
    ],
)
def test_unusable_sources_are_clear_errors(tmp_path, small_cfg, name, content, expected) -> None:
    """A source that cannot be read at all is a mistake in data.user_sources: one line."""
    location = tmp_path / name
    if content == "dir":
        location.mkdir()
    elif content == "empty-tar":
        location.write_bytes(shard_bytes({}))
    elif content is not None:
        location.write_bytes(content)
    with pytest.raises(DataSourceError, match=expected) as caught:
        _load(small_cfg, [str(location)])
    assert str(location) in str(caught.value) and "\n" not in str(caught.value)


def test_the_same_image_twice_is_a_duplicate(tmp_path, small_cfg) -> None:
    write(tmp_path / "a.png", picture(5))
    table = write_csv(
        tmp_path / "t.csv",
        [{"image": "a.png", "caption": "first"}, {"image": "a.png", "caption": "again"}],
    )
    loaded = _load(small_cfg, [str(table)])
    assert [image.captions for image in loaded.images] == [("first",)]
    [again] = loaded.rejected
    assert (again.reason, again.row, again.detail) == (
        Reason.DUPLICATE_IMAGE,
        2,
        "row 2: same bytes as 'a.png'",
    )
    assert again.sha256 == hashlib.sha256(picture(5)).hexdigest()
    assert loaded.provenance[0]["samples"] == 1


def test_card_leaves_out_optional_keys_that_are_off(corpus) -> None:
    _, card = corpus
    assert "user_sources" not in card["build"] and "extra_train_packages" not in card["build"]
    # Twemoji is held out by default (data.extra_heldout_packages): on, so in the card
    assert set(card["sources"]) == {"train", "heldout", "extra_heldout"}
    meta = json.loads((corpus[0] / "card.json").read_text())
    assert meta == card

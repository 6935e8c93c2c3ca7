"""`data.build_on_ray`: the user's WebDataset shards are read, checked and written by Ray tasks
in two passes (offsets, not bytes, through the build process), and the corpus is the one the
build makes on its own threads, byte for byte: shards, manifest, card, refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import tree_digest
from userdata import img2dataset_sample, picture, shard_bytes, user_cfg, write

from components.checks.limits import SampleLimits
from components.data.build import build_corpus
from components.data.corpus.manifest import read_manifest
from components.data.corpus.records import ImageAt
from components.data.corpus.webdataset import iter_shard
from components.data.sources import located_shards, shard_scan, user_shards
from components.data.sources.located_shards import Member, write_located_shard
from components.settings import DataConfig, S3Access
from infra.local.seaweedfs import SeaweedS3

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("local_ray")]

LIMITS = SampleLimits()


def _user_shards(folder: Path) -> list[Path]:
    """Three img2dataset-style shards: JPEGs and PNGs, one 4:3 photo larger than the stored
    side (resized), a broken image, a caption that is not UTF-8, a second copy of an image; and
    a symlinked shard that leaves the folder."""
    samples = [img2dataset_sample(i, f"user picture number {i}") for i in range(40)]
    samples[3] = img2dataset_sample(3, "a png one", "PNG", "png")
    samples[7] = {"jpg": picture(7, "JPEG", size=(900, 675)), "txt": b"a large 4:3 photo"}
    samples[11] = {"jpg": b"\xff\xd8 not really a jpeg", "txt": b"broken bytes"}
    samples[13] = {"jpg": picture(5, "JPEG"), "txt": b"the same image as number 5"}
    samples[17]["txt"] = b"caf\xe9 in latin-1"
    shards = []
    for n in range(3):
        part = dict(enumerate(samples))
        chosen = {f"{k:09d}": v for k, v in part.items() if k % 3 == n}
        shards.append(write(folder / f"{n:05d}.tar", shard_bytes(chosen)))
    outside = write(folder.parent / "elsewhere" / "x.tar", shard_bytes({"0": samples[0]}))
    (folder / "00009.tar").symlink_to(outside)
    return shards


def _driver_never_reads_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the build process, reading a source shard or an image fails the test: only the Ray
    tasks (other processes, with the real functions) may."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the build process read image bytes")

    monkeypatch.setattr(user_shards, "shard_samples", refuse)
    monkeypatch.setattr(shard_scan, "shard_samples", refuse)
    monkeypatch.setattr(located_shards, "read_images", refuse)


def test_a_build_on_ray_makes_the_same_corpus_without_the_bytes_in_the_build(
    tmp_path: Path, sources_dir: Path, small_cfg: DataConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    _user_shards(tmp_path / "user")
    cfg = user_cfg(small_cfg, user_sources=[str(tmp_path / "user")], max_stored_side=300)
    here = build_corpus(cfg, sources_dir, tmp_path / "here" / "data", limits=LIMITS)
    _driver_never_reads_images(monkeypatch)
    on_ray = build_corpus(
        cfg.model_copy(update={"build_on_ray": True}),
        sources_dir,
        tmp_path / "ray" / "data",
        limits=LIMITS,
    )
    assert on_ray == here
    assert tree_digest(tmp_path / "ray" / "data") == tree_digest(tmp_path / "here" / "data")

    rows = read_manifest(tmp_path / "ray" / "data").to_pandas()
    user = rows[rows["source"] == "user"]
    assert len(user) == 37  # 40 less the broken image, the latin-1 caption, the copy
    assert on_ray["rejected"]["total"] == 4  # and the shard outside the folder
    photo = user[user["caption"] == "a large 4:3 photo"].iloc[0]
    assert (photo["width"], photo["height"]) == (400, 300)  # resized, not squashed
    # a stored-as-given JPEG is the source's bytes
    kept = user[user["caption"] == "user picture number 1"].iloc[0]
    (members,) = [
        parts
        for key, parts in iter_shard(tmp_path / "ray" / "data" / kept["shard"])
        if key == kept["key"]
    ]
    assert members["jpg"] == img2dataset_sample(1, "")["jpg"]
    assert json.loads(members["json"])["captions"] == ["user picture number 1"]


def test_shards_on_s3_in_and_out_are_the_same_on_ray(
    tmp_path: Path, sources_dir: Path, small_cfg: DataConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, secret = "ray-build-key", "ray-build-secret-0123456789"
    server = SeaweedS3(tmp_path / "seaweedfs", key, secret).start()
    try:
        client, bucket = server.client(), server.bucket
        for shard in _user_shards(tmp_path / "user"):
            client.put_object(Bucket=bucket, Key=f"in/{shard.name}", Body=shard.read_bytes())
        access = S3Access(endpoint=server.endpoint, access_key_id=key, secret_access_key=secret)
        cfg = user_cfg(
            small_cfg, user_sources=[f"s3://{bucket}/in/"], output=f"s3://{bucket}/corpus"
        )
        here = build_corpus(cfg, sources_dir, tmp_path / "here", limits=LIMITS, s3=access)
        keys_here = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
        _driver_never_reads_images(monkeypatch)
        ray_cfg = cfg.model_copy(update={"build_on_ray": True})
        on_ray = build_corpus(ray_cfg, sources_dir, tmp_path / "ray", limits=LIMITS, s3=access)
        keys_ray = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    finally:
        server.stop()
    assert on_ray == here
    assert keys_ray == keys_here  # the same content-addressed shards: nothing new uploaded
    assert tree_digest(tmp_path / "ray") == tree_digest(tmp_path / "here")
    assert on_ray["counts"]["by_source"]["user"] == 37


def test_an_image_that_changed_since_it_was_checked_stops_its_shard(tmp_path: Path) -> None:
    shard = write(tmp_path / "user" / "00000.tar", shard_bytes({"0": img2dataset_sample(1, "a")}))
    ((key, parts),) = list(iter_shard(shard))
    offset = shard.read_bytes().index(parts["jpg"])
    at = ImageAt(str(tmp_path / "user"), str(shard), offset, len(parts["jpg"]))
    member = Member("user-0", {"txt": b"a"}, at, "0" * 64)
    said = write_located_shard("train", 0, [member], str(tmp_path / "out"), S3Access(), 512)
    assert isinstance(said, str) and "changed while the corpus was built" in said
    assert not (tmp_path / "out" / "shards" / "train-00000.tar").exists()
    # a source shard that is a symlink out of its folder is not read in pass 2 either
    os.replace(shard, tmp_path / "moved.tar")
    (tmp_path / "user" / "00000.tar").symlink_to(tmp_path / "moved.tar")
    said = write_located_shard("train", 0, [member], str(tmp_path / "out"), S3Access(), 512)
    assert isinstance(said, str) and "cannot read" in said

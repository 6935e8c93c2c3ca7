"""No byte from outside the data roots: a table that points at a canary file beside its folder
(through a symlink, a '../' path and an absolute path) goes through `clip-pipeline data build`
with a DVC remote on a real S3 server (SeaweedFS), then `clip-pipeline validate`. The canary is
in no shard, no DVC cache object and no S3 object, and each of its rows is outside_root.

The canary is a real picture (it would pass every image check) plus a text file, so only the
confinement can keep it out. In-process, an audit hook shows the build never even opens it.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from userdata import picture, write, write_csv

from components.data.corpus.stored_image import store_user_image
from components.settings import load_settings

pytestmark = pytest.mark.timeout(600)

BIN = Path(sys.executable).parent
CANARY_TEXT = b"CANARY-d41c: a secret that lives outside the table's folder"
CANARY_PICTURE = picture(611)


def _table(root: Path) -> Path:
    """root/outside: the canary; root/in: the table, two good pictures and three ways out."""
    write(root / "outside" / "canary.png", CANARY_PICTURE)
    write(root / "outside" / "canary.txt", CANARY_TEXT)
    for i in range(2):
        write(root / "in" / f"good{i}.png", picture(620 + i))
    (root / "in" / "holiday.png").symlink_to(root / "outside" / "canary.png")
    return write_csv(
        root / "in" / "table.csv",
        [
            {"image": "good0.png", "caption": "a good picture"},
            {"image": "holiday.png", "caption": "a symlink to the canary"},
            {"image": "../outside/canary.txt", "caption": "a climb to the canary"},
            {"image": str(root / "outside" / "canary.png"), "caption": "the canary by path"},
            {"image": "good1.png", "caption": "another good picture"},
        ],
    )


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def _as_stored(data: bytes) -> bytes:
    """The pixels the build would store for these bytes (its rendering is deterministic)."""
    return _pixels(store_user_image(data, load_settings("tiny").data.max_stored_side).data)


def _pictures_in(blob: bytes) -> set[bytes]:
    """The pixels of every PNG inside `blob` (a shard, a cache object), found by signature."""
    found, start = set(), blob.find(b"\x89PNG")
    while start >= 0:
        end = blob.find(b"IEND", start)
        try:
            found.add(_pixels(blob[start : end + 8]))
        except OSError:
            pass
        start = blob.find(b"\x89PNG", start + 1)
    return found


def _cli(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = [str(BIN / "clip-pipeline"), "--profile", "tiny", "--workdir", str(workdir)]
    overrides = ["data.max_concepts=6", "validate.min_rows=1", "validate.max_rejected_fraction=0.5"]
    for item in overrides:
        command += ["--set", item]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=300)


def test_canary_reaches_no_shard_cache_or_bucket(s3, tmp_path, workdir_with_sources) -> None:
    workdir = workdir_with_sources
    table = _table(tmp_path)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_ENDPOINT_URL_S3": s3.endpoint,
        "CLIP_DVC_REMOTE": f"s3://{s3.bucket}/dvcstore",
    }
    sources = f"data.user_sources=[{table}]"
    built = _cli(workdir, env, "--set", sources, "data", "build")
    assert built.returncode == 0, built.stderr
    checked = _cli(workdir, env, "--set", sources, "validate")
    assert checked.returncode == 0, checked.stderr

    with (workdir / "artifacts" / "validation" / "quarantine.csv").open(newline="") as handle:
        refused = {row["reference"]: row["reason"] for row in csv.DictReader(handle)}
    assert refused == {
        "holiday.png": "outside_root",
        "../outside/canary.txt": "outside_root",
        str(tmp_path / "outside" / "canary.png"): "outside_root",
    }

    client = s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3.bucket)["Contents"]]
    assert any(k.startswith("dvcstore/") for k in keys)  # the corpus was pushed
    cache = [p for p in (workdir / ".dvc" / "cache").rglob("*") if p.is_file()]
    stored = {
        "S3 object": [client.get_object(Bucket=s3.bucket, Key=k)["Body"].read() for k in keys],
        "DVC cache object": [p.read_bytes() for p in cache],
        "corpus file": [p.read_bytes() for p in (workdir / "data").rglob("*") if p.is_file()],
    }
    canary_pixels, good_pixels = _as_stored(CANARY_PICTURE), _as_stored(picture(620))
    seen_good = False
    for where, blobs in stored.items():
        for blob in blobs:
            assert CANARY_TEXT not in blob and CANARY_PICTURE not in blob, where
            pictures = _pictures_in(blob)
            assert canary_pixels not in pictures, f"the canary picture is in a {where}"
            seen_good |= good_pixels in pictures
    assert seen_good  # the search does find a stored user picture when there is one


def test_the_build_never_opens_a_file_outside_the_roots(tmp_path, sources_dir) -> None:
    """Python's audit hook sees every open(): the canary's path is never among them."""
    from components.data.build import build_corpus

    table = _table(tmp_path)
    canaries = {(tmp_path / "outside" / name).resolve() for name in ("canary.png", "canary.txt")}
    opened: list[Path] = []
    recording = [True]

    def hook(event: str, args: tuple) -> None:
        if recording[0] and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            opened.append(Path(os.fsdecode(args[0])))

    sys.addaudithook(hook)  # hooks cannot be removed: this one stops recording after the build
    settings = load_settings("tiny")
    cfg = settings.data.model_copy(update={"max_concepts": 6, "user_sources": [str(table)]})
    try:
        build_corpus(cfg, sources_dir, tmp_path / "data", limits=settings.validate_)
    finally:
        recording[0] = False
    assert any(p.name == "good0.png" for p in opened)  # the hook does see the build's reads
    assert not {p.resolve() for p in opened} & canaries

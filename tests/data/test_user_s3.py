"""User data on S3 (a real SeaweedFS server on loopback), read with the standard AWS variables."""

from __future__ import annotations

import os

import pytest
from userdata import img2dataset_sample, picture, shard_bytes, user_cfg

from components.checks.limits import SampleLimits
from components.checks.reasons import Reason
from components.data.build import build_corpus
from components.data.corpus.manifest import read_manifest
from components.data.corpus.rejections import read_rejected
from components.data.corpus.webdataset import iter_shard
from components.data.errors import DataSourceError
from components.data.sources.user_sources import load_user_sources
from components.settings import S3Access, Services
from infra.local.seaweedfs import SeaweedS3

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("local_ray")]

KEY, SECRET = "clip-user-data-key", "clip-user-data-secret-0123456789"
# a 4:3 camera-sized JPEG, as img2dataset writes them: it must come out the same file
PHOTO_4_3 = {
    "jpg": picture(25, "JPEG", size=(640, 480)),
    "txt": b"a four by three photo",
    "json": b'{"caption": "a four by three photo"}',
}


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory):
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"), KEY, SECRET).start()
    client = server.client()
    table = (
        "image,caption,license\n"
        "imgs/a.png,a picture on s3,CC0-1.0\n"  # relative to the table's folder
        f"s3://{server.bucket}/other/b.jpg,an absolute s3 url,\n"  # another prefix: a root?
        "imgs/gone.png,a missing object,\n"  # rejected, the other rows stay
        "../other/b.jpg,climbs out of the prefix,\n"
        f"s3://{server.bucket}/user/../other/b.jpg,dot segments in a key,\n"
        "s3://another-bucket/x.png,another bucket,\n"
        "/etc/hostname,a local file,\n"
    )
    objects = {
        "user/table.csv": table.encode(),
        "user/imgs/a.png": picture(21),
        "other/b.jpg": picture(22, "JPEG"),
        "shards/00000.tar": shard_bytes(
            {"000000000": img2dataset_sample(23, "from a shard on s3")}
        ),
        "shards/00001.tar": shard_bytes(
            {"000000001": img2dataset_sample(24, "another shard sample", "PNG", "png")}
        ),
        "shards/00002.tar": shard_bytes({"000000002": PHOTO_4_3}),
    }
    for key, body in objects.items():
        client.put_object(Bucket=server.bucket, Key=key, Body=body)
    yield server
    server.stop()


@pytest.fixture
def aws_env(s3: SeaweedS3, use_s3) -> None:
    use_s3(s3)


def _s3_access() -> S3Access:
    """As the settings read it from the environment the test set."""
    return Services.from_environment(os.environ).s3


def test_build_from_an_s3_table_and_s3_shards(
    s3, aws_env, tmp_path, sources_dir, small_cfg
) -> None:
    sources = [f"s3://{s3.bucket}/user/table.csv", f"s3://{s3.bucket}/shards/"]
    cfg = user_cfg(small_cfg, user_sources=sources)
    card = build_corpus(cfg, sources_dir, tmp_path / "data", s3=_s3_access())
    rows = {r["caption"]: r for r in read_manifest(tmp_path / "data").to_pylist()}
    assert card["counts"]["by_source"]["user"] == 4
    assert [s["samples"] for s in card["sources"]["user"]] == [1, 3]
    for caption in ("a picture on s3", "from a shard on s3", "another shard sample"):
        assert rows[caption]["width"] == 40 and rows[caption]["source"] == "user"
    photo = rows["a four by three photo"]
    assert (photo["width"], photo["height"]) == (640, 480)  # not squashed
    stored = dict(iter_shard(tmp_path / "data" / photo["shard"]))[photo["key"]]
    assert stored["jpg"] == PHOTO_4_3["jpg"] and photo["n_bytes"] == len(PHOTO_4_3["jpg"])
    assert rows["a picture on s3"]["license"] == "CC0-1.0"
    refused = {r.row: r.reason for r in read_rejected(tmp_path / "data")}
    assert refused == {
        2: Reason.OUTSIDE_ROOT,  # the table's prefix is its only root by default
        3: Reason.MISSING_FILE,
        4: Reason.OUTSIDE_ROOT,
        5: Reason.OUTSIDE_ROOT,
        6: Reason.OUTSIDE_ROOT,
        7: Reason.OUTSIDE_ROOT,
    }


def test_user_roots_admit_another_prefix(s3, aws_env, tmp_path, small_cfg) -> None:
    roots = [f"s3://{s3.bucket}/user/", f"s3://{s3.bucket}/other"]
    cfg = user_cfg(small_cfg, user_sources=[f"s3://{s3.bucket}/user/table.csv"], user_roots=roots)
    loaded = load_user_sources(cfg, SampleLimits(), workers=1, s3=_s3_access())
    assert [i.captions[0] for i in loaded.images] == ["a picture on s3", "an absolute s3 url"]
    refused = {r.row: r.reason for r in loaded.rejected}
    # "../other/b.jpg" is inside a root now: it is read, and is the same object as row 2
    assert refused[4] == Reason.DUPLICATE_IMAGE
    assert [refused[row] for row in (5, 6, 7)] == [Reason.OUTSIDE_ROOT] * 3


def test_s3_errors_name_the_url_and_the_fix(s3, aws_env, monkeypatch, small_cfg) -> None:
    def load(location: str) -> None:
        load_user_sources(
            user_cfg(small_cfg, user_sources=[location]), SampleLimits(), 1, _s3_access()
        )

    missing = f"s3://{s3.bucket}/user/nope.csv"
    with pytest.raises(DataSourceError, match="no such object") as caught:
        load(missing)
    assert missing in str(caught.value)
    with pytest.raises(DataSourceError, match="holds no .tar shards"):
        load(f"s3://{s3.bucket}/empty-prefix/")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    with pytest.raises(DataSourceError, match="access denied.*AWS_ACCESS_KEY_ID"):
        load(f"s3://{s3.bucket}/user/table.csv")


def test_a_rebuild_reads_again_only_the_s3_objects_that_changed(
    s3, aws_env, tmp_path, sources_dir, small_cfg, caplog
) -> None:
    """The previous corpus answers for an S3 object while the object's ETag (from a listing)
    is the one its fetch logged; an object rewritten under the same key is read again."""
    import logging

    cfg = user_cfg(small_cfg, user_sources=[f"s3://{s3.bucket}/user/table.csv"])
    data = tmp_path / "data"
    build_corpus(cfg, sources_dir, data, s3=_s3_access())
    caplog.set_level(logging.INFO, logger="components.data.sources.user_sources")
    caplog.clear()
    build_corpus(cfg, sources_dir, data, s3=_s3_access())
    # imgs/a.png is answered by the previous corpus; imgs/gone.png failed (missing_file), and a
    # failed S3 read is always tried again (the object may be there now)
    assert "user URLs: 1 fetched, 1 answered by the previous corpus" in caplog.text

    client, original = s3.client(), picture(21)
    client.put_object(Bucket=s3.bucket, Key="user/imgs/a.png", Body=picture(31))
    try:
        caplog.clear()
        build_corpus(cfg, sources_dir, data, s3=_s3_access())
        assert "user URLs: 2 fetched, 0 answered by the previous corpus" in caplog.text
        [row] = [r for r in read_manifest(data).to_pylist() if r["caption"] == "a picture on s3"]
        assert dict(iter_shard(data / row["shard"]))[row["key"]]["png"] == picture(31)
    finally:
        client.put_object(Bucket=s3.bucket, Key="user/imgs/a.png", Body=original)

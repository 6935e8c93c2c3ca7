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


@pytest.mark.parametrize("walk", ["listing", "heads"])
def test_etags_of_answers_only_the_urls_asked_whatever_the_folder(
    s3, aws_env, monkeypatch, walk
) -> None:
    """A rebuild checks its window's S3 objects: by walking the listing between the smallest and
    the largest key while it is dense, else by one HEAD each; a missing key is left out."""
    import components.data.s3 as s3_module
    from components.data.s3 import S3Store

    client = s3.client()
    for n in range(40):
        client.put_object(Bucket=s3.bucket, Key=f"many/{n:03d}.bin", Body=bytes([n]) * (n + 1))
    store = S3Store(_s3_access())
    everything = {url: etag for url, _, etag in store.listing(f"s3://{s3.bucket}/many/")}
    if walk == "heads":  # pages of 5 keys and no density allowance: the walk gives up early
        monkeypatch.setattr(s3_module, "LIST_PAGE_KEYS", 5)
        monkeypatch.setattr(s3_module, "LIST_WALK_PER_KEY", 0)
    headed: list[str] = []
    heads = S3Store._heads
    monkeypatch.setattr(
        S3Store, "_heads", lambda self, b, keys: headed.extend(keys) or heads(self, b, keys)
    )
    asked = [f"s3://{s3.bucket}/many/{n:03d}.bin" for n in (3, 17, 39)]
    missing = f"s3://{s3.bucket}/many/020x.bin"
    found = store.etags_of([*asked, missing])
    assert found == {url: everything[url] for url in asked}
    assert len(set(found.values())) == 3 and all(found.values())
    # the listing reached every key; the short walk left the later ones to HEADs
    assert headed == (
        [] if walk == "listing" else ["many/017.bin", "many/020x.bin", "many/039.bin"]
    )


def test_s3_tables_are_read_in_ranges_csv_and_parquet(s3, aws_env, monkeypatch, small_cfg):
    """A table on S3 is never one GET: with 64-byte ranges the CSV streams through many (of the
    size the text reader asks), and a parquet table of several row groups reads its footer and
    groups; both give the same rows."""
    import io as std_io

    import pyarrow as pa
    import pyarrow.parquet as pq

    import components.data.sources.user_tables as user_tables
    from components.data.s3 import S3RangeFile

    client = s3.client()
    captions = [f"ranged row {n} with a caption long enough to cross ranges" for n in range(6)]
    for n in range(6):
        client.put_object(Bucket=s3.bucket, Key=f"ranged/imgs/{n}.png", Body=picture(60 + n))
    padding = "p" * 6_000  # a column the build ignores: the CSV spans several reads
    csv_text = "image,caption,padding\n" + "".join(
        f"imgs/{n}.png,{c},{padding}\n" for n, c in enumerate(captions)
    )
    client.put_object(Bucket=s3.bucket, Key="ranged/table.csv", Body=csv_text.encode())
    buffer = std_io.BytesIO()
    images = [f"imgs/{n}.png" for n in range(6)]
    table = pa.table({"image": images, "caption": captions, "padding": [padding] * 6})
    pq.write_table(table, buffer, row_group_size=2, compression="none")  # three row groups
    client.put_object(Bucket=s3.bucket, Key="ranged/table.parquet", Body=buffer.getvalue())

    ranges: list[int] = []  # the length of each GET
    get = S3RangeFile.read_range
    monkeypatch.setattr(
        S3RangeFile, "read_range", lambda self, at, n: ranges.append(n) or get(self, at, n)
    )
    monkeypatch.setattr(user_tables, "READ_CHUNK", 64)
    for name in ("table.csv", "table.parquet"):
        ranges.clear()
        cfg = user_cfg(small_cfg, user_sources=[f"s3://{s3.bucket}/ranged/{name}"])
        loaded = load_user_sources(cfg, SampleLimits(), workers=1, s3=_s3_access())
        assert [image.captions[0] for image in loaded.images] == captions, name
        assert loaded.rejected == [], name
        assert len(ranges) > 3, (name, ranges)
        if name == "table.csv":  # streamed: no GET near the whole object
            assert max(ranges) < len(csv_text) / 3, ranges


def test_an_s3_table_rewritten_while_read_is_one_line(s3, aws_env) -> None:
    from components.data.s3 import S3RangeFile, S3Store

    client = s3.client()
    client.put_object(Bucket=s3.bucket, Key="moving/table.csv", Body=b"a" * 100)
    reader = S3RangeFile(S3Store(_s3_access()), f"s3://{s3.bucket}/moving/table.csv", chunk=10)
    first = bytearray(10)
    assert reader.readinto(first) == 10 and bytes(first) == b"a" * 10
    client.put_object(Bucket=s3.bucket, Key="moving/table.csv", Body=b"b" * 100)
    with pytest.raises(DataSourceError, match="changed while it was read"):
        reader.readinto(bytearray(10))

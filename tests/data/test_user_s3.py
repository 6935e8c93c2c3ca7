"""User data on S3 (a real SeaweedFS server on loopback), read with the standard AWS variables."""

from __future__ import annotations

import pytest
from userdata import img2dataset_sample, picture, shard_bytes, user_cfg

from components.data.build import build_corpus
from components.data.errors import DataSourceError
from components.data.manifest import read_manifest
from components.data.user_sources import load_user_sources
from infra.local.seaweedfs import SeaweedS3

pytestmark = pytest.mark.timeout(300)

KEY, SECRET = "clip-user-data-key", "clip-user-data-secret-0123456789"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory):
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"), KEY, SECRET).start()
    client = server.client()
    table = (
        "image,caption,license\n"
        "imgs/a.png,a picture on s3,CC0-1.0\n"  # relative to the table's folder
        f"s3://{server.bucket}/other/b.jpg,an absolute s3 url,\n"
        "imgs/gone.png,a missing object,\n"  # kept with empty bytes: the gate rejects it
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
    }
    for key, body in objects.items():
        client.put_object(Bucket=server.bucket, Key=key, Body=body)
    yield server
    server.stop()


@pytest.fixture
def aws_env(s3: SeaweedS3, use_s3) -> None:
    use_s3(s3)


def test_build_from_an_s3_table_and_s3_shards(
    s3, aws_env, tmp_path, sources_dir, small_cfg
) -> None:
    sources = [f"s3://{s3.bucket}/user/table.csv", f"s3://{s3.bucket}/shards/"]
    card = build_corpus(user_cfg(small_cfg, user_sources=sources), sources_dir, tmp_path / "data")
    rows = {r["caption"]: r for r in read_manifest(tmp_path / "data").to_pylist()}
    assert card["counts"]["by_source"]["user"] == 5
    assert [s["samples"] for s in card["sources"]["user"]] == [3, 2]
    for caption in ("a picture on s3", "an absolute s3 url", "from a shard on s3"):
        assert rows[caption]["width"] == 32 and rows[caption]["source"] == "user"
    assert rows["a picture on s3"]["license"] == "CC0-1.0"
    assert rows["a missing object"]["n_bytes"] == 0


def test_s3_errors_name_the_url_and_the_fix(s3, aws_env, monkeypatch) -> None:
    missing = f"s3://{s3.bucket}/user/nope.csv"
    with pytest.raises(DataSourceError, match="no such object") as caught:
        load_user_sources([missing])
    assert missing in str(caught.value)
    with pytest.raises(DataSourceError, match="holds no .tar shards"):
        load_user_sources([f"s3://{s3.bucket}/empty-prefix/"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    with pytest.raises(DataSourceError, match="access denied.*AWS_ACCESS_KEY_ID"):
        load_user_sources([f"s3://{s3.bucket}/user/table.csv"])

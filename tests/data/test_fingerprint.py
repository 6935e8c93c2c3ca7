"""The sources' fingerprint, part of the corpus's cache key: it changes when a source changes
behind an unchanged name, and only then."""

from __future__ import annotations

from userdata import img2dataset_sample, picture, shard_bytes, user_cfg, write, write_csv

from components.data.sources.fingerprint import source_fingerprint
from components.settings import S3Access
from flows.retrain import _corpus_key, _sources_now


def _table(folder, rows: int):
    for n in range(rows):
        write(folder / f"{n}.png", picture(n))
    return write_csv(
        folder / "t.csv", [{"image": f"{n}.png", "caption": f"p {n}"} for n in range(rows)]
    )


def test_a_local_table_that_grows_changes_it_and_nothing_else_does(tmp_path, small_cfg) -> None:
    table = _table(tmp_path, 2)
    cfg = user_cfg(small_cfg, user_sources=[str(table)])
    first = source_fingerprint(cfg)
    assert source_fingerprint(cfg) == first  # nothing touched, nothing changed
    with table.open("a") as out:
        out.write("0.png,one more row\n")
    grown = source_fingerprint(cfg)
    assert grown[f"user {table}"] != first[f"user {table}"]
    assert {k: v for k, v in grown.items() if k != f"user {table}"} == {
        k: v for k, v in first.items() if k != f"user {table}"
    }


def test_a_new_local_shard_and_a_new_package_version_change_it(tmp_path, small_cfg) -> None:
    shards = tmp_path / "shards"
    write(shards / "00000.tar", shard_bytes({"0": img2dataset_sample(1, "one")}))
    cfg = user_cfg(small_cfg, user_sources=[str(shards)])
    first = source_fingerprint(cfg)
    write(shards / "00001.tar", shard_bytes({"1": img2dataset_sample(2, "two")}))
    assert source_fingerprint(cfg)[f"user {shards}"] != first[f"user {shards}"]

    name, _, version = cfg.heldout_package.rpartition("@")
    bumped = cfg.model_copy(update={"heldout_package": f"{name}@{version}1"})
    assert source_fingerprint(bumped) != source_fingerprint(cfg)
    assert f"npm {name}@{version}1" in source_fingerprint(bumped)


def test_a_new_object_under_an_s3_prefix_changes_it(s3, use_s3, small_cfg) -> None:
    use_s3(s3)
    client = s3.client()
    client.put_object(Bucket=s3.bucket, Key="weekly/00000.tar", Body=b"shard zero")
    client.put_object(Bucket=s3.bucket, Key="weekly/t.csv", Body=b"image,caption\n")
    access = S3Access(endpoint=s3.endpoint)
    prefix, table = f"s3://{s3.bucket}/weekly/", f"s3://{s3.bucket}/weekly/t.csv"
    cfg = user_cfg(small_cfg, user_sources=[prefix, table])
    first = source_fingerprint(cfg, access)
    assert source_fingerprint(cfg, access) == first
    client.put_object(Bucket=s3.bucket, Key="weekly/00001.tar", Body=b"a new week")
    added = source_fingerprint(cfg, access)
    assert added[f"user {prefix}"] != first[f"user {prefix}"]
    assert added[f"user {table}"] == first[f"user {table}"]  # its own object did not change
    client.put_object(Bucket=s3.bucket, Key="weekly/t.csv", Body=b"image,caption\na.png,x\n")
    assert source_fingerprint(cfg, access)[f"user {table}"] != added[f"user {table}"]


def test_the_flow_rebuilds_when_a_source_changed(tmp_path, monkeypatch) -> None:
    """The build-corpus task's cache key (flows/retrain.py) sees the table grow."""
    from components.settings import load_settings

    table = _table(tmp_path / "mine", 2)
    monkeypatch.chdir(tmp_path)
    settings = load_settings(
        "tiny", workdir=tmp_path, overrides={"data": {"user_sources": [str(table)]}}
    )

    def key_now() -> str:  # the task's parameters, as the flow passes them
        return _corpus_key(None, {"settings": settings, "sources": _sources_now(settings)})

    key = key_now()
    assert key_now() == key
    with table.open("a") as out:
        out.write("1.png,again\n")
    assert key_now() != key

"""A corpus whose shards live on S3 (`data.output`, a real SeaweedFS on loopback): shards under
content-addressed keys, data/ keeping only manifest, card and logs, the gate and the readers
reading S3, and DVC versioning nothing shard-sized."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import SecretStr
from userdata import img2dataset_sample, shard_bytes, user_cfg

from components.checks.reasons import Reason
from components.data.build import build_corpus
from components.data.corpus.location import CorpusLocation
from components.data.corpus.manifest import MANIFEST, read_manifest
from components.data.corpus.reader import read_split
from components.data.corpus.shard_store import HASH_CHARS
from components.data.corpus.versioning import configure_s3_remote, dvc_add_data, pull_data
from components.data.corpus.webdataset import iter_shard
from components.settings import DataConfig, Services, load_settings
from components.tracking.lineage import dvc_data_hash
from components.validation.errors import GateFailed
from components.validation.gate import validate_corpus
from components.validation.quarantine import load_quarantined_ids

pytestmark = pytest.mark.timeout(300)

PREFIX = "corpora/emoji"


@pytest.fixture
def on_s3(s3, use_s3, tmp_path: Path, small_cfg: DataConfig) -> tuple[DataConfig, Services]:
    """The small corpus's parameters with its shards sent to the server, plus a user shard of
    JPEGs (a photo stays its own bytes there too)."""
    use_s3(s3)
    user = tmp_path / "user-shards"
    user.mkdir()
    samples = {f"{i:09d}": img2dataset_sample(i, f"a user photo number {i}") for i in range(5)}
    (user / "00000.tar").write_bytes(shard_bytes(samples))
    cfg = user_cfg(small_cfg, user_sources=[str(user)], output=f"s3://{s3.bucket}/{PREFIX}/")
    return cfg, Services.from_environment(os.environ)


def _objects(s3) -> dict[str, bytes]:
    client = s3.client()
    listing = client.list_objects_v2(Bucket=s3.bucket, Prefix=f"{PREFIX}/")
    return {
        o["Key"]: client.get_object(Bucket=s3.bucket, Key=o["Key"])["Body"].read()
        for o in listing.get("Contents", [])
    }


def test_shards_go_to_content_addressed_keys_and_data_keeps_the_index(
    s3, on_s3, tmp_path, sources_dir, small_cfg, capsys
) -> None:
    cfg, services = on_s3
    card = build_corpus(cfg, sources_dir, tmp_path / "data", s3=services.s3)
    data = tmp_path / "data"
    assert not (data / "shards").exists()  # nothing shard-sized on the build machine
    assert {p.name for p in data.iterdir()} <= {"manifest.parquet", "card.json",
                                               "rejected.parquet", "fetched.parquet"}  # fmt: skip
    assert card["build"]["output"] == f"s3://{s3.bucket}/{PREFIX}"

    objects = _objects(s3)
    named = set(read_manifest(data, ["shard"]).column("shard").to_pylist())
    assert {key.removeprefix(f"{PREFIX}/") for key in objects} == named
    for key, body in objects.items():  # each key names its own bytes
        assert key.rsplit("-", 1)[1] == hashlib.sha256(body).hexdigest()[:HASH_CHARS] + ".tar"

    # the same shards as a build into data/shards, byte for byte, only named by content
    local = build_corpus(cfg.model_copy(update={"output": None}), sources_dir, tmp_path / "l")
    local_shards = {p.stem: p.read_bytes() for p in (tmp_path / "l" / "shards").iterdir()}
    assert {key.rsplit("/", 1)[1].rsplit("-", 1)[0]: body for key, body in objects.items()} == (
        local_shards
    )
    assert local["counts"] == card["counts"]

    # the readers find every sample through the card: the user's JPEG bytes as given
    location = CorpusLocation.of(data, services.s3)
    assert location.shards_uri == f"s3://{s3.bucket}/{PREFIX}"
    rows = read_manifest(data).to_pylist()
    train = read_split(location, "train")
    expected = {r["id"]: r["image_sha256"] for r in rows if r["split"] == "train"}
    assert {s.id: hashlib.sha256(s.image_png).hexdigest() for s in train} == expected
    photo = next(r for r in rows if r["caption"] == "a user photo number 3")
    stored = dict(iter_shard(io.BytesIO(objects[f"{PREFIX}/{photo['shard']}"])))[photo["key"]]
    assert stored["jpg"] == img2dataset_sample(3, "")["jpg"]

    # a rebuild makes the same manifest and uploads nothing
    capsys.readouterr()
    build_corpus(cfg, sources_dir, tmp_path / "again", s3=services.s3)
    assert (tmp_path / "again" / MANIFEST).read_bytes() == (data / MANIFEST).read_bytes()
    assert f"0 uploaded (0.0 MB), {len(objects)} already there" in capsys.readouterr().out
    assert _objects(s3) == objects


def test_the_gate_reads_the_shards_on_s3_and_confines_their_names(
    s3, on_s3, tmp_path, sources_dir
) -> None:
    cfg, services = on_s3
    data = tmp_path / "data"
    build_corpus(cfg, sources_dir, data, s3=services.s3)
    gate = load_settings("tiny", workdir=tmp_path).validate_.model_copy(update={"min_rows": 1})
    report = validate_corpus(data, gate, tmp_path / "report", s3=services.s3)
    assert report.passed and report.n_rejected == 0
    assert report.n_decoded == report.n_rows == pq.read_metadata(data / MANIFEST).num_rows

    # a manifest naming a shard that is not there, and one outside the shards' prefix
    table = pq.read_table(data / MANIFEST)
    shards = table.column("shard").to_pylist()
    first, second = 0, next(i for i, s in enumerate(shards) if s != shards[0])
    ids = table.column("id").to_pylist()
    shards[first], shards[second] = "shards/train-99999-absent.tar", "card.json"
    edited = table.set_column(table.schema.get_field_index("shard"), "shard",
                              pa.array(shards, pa.string()))  # fmt: skip
    pq.write_table(edited, data / MANIFEST)
    relaxed = gate.model_copy(update={"max_rejected_fraction": 0.5})
    report = validate_corpus(data, relaxed, tmp_path / "report2", s3=services.s3)
    assert report.reasons[Reason.MISSING_SHARD] >= 1
    assert report.reasons[Reason.PATH_ESCAPE] >= 1
    quarantined = load_quarantined_ids(tmp_path / "report2")
    assert {ids[first], ids[second]} <= quarantined

    # the shards' store refusing the keys: one sentence about the store, not a row per shard
    wrong = services.s3.model_copy(update={"secret_access_key": SecretStr("not-the-secret")})
    with pytest.raises(GateFailed, match="cannot list s3://.*access denied") as failed:
        validate_corpus(data, relaxed, tmp_path / "report3", s3=wrong)
    assert failed.value.report.n_rejected == 0 and "\n" not in str(failed.value)


def test_versioning_an_s3_corpus_caches_only_the_index_and_a_clone_reads_it(
    s3, on_s3, monkeypatch, workdir_with_sources, sources_dir, tmp_path_factory, digest
) -> None:
    cfg, services = on_s3
    workdir = workdir_with_sources
    settings = load_settings("tiny", workdir=workdir)
    build_corpus(cfg, sources_dir, settings.paths.data, s3=services.s3)
    before = digest(settings.paths.data)
    version = dvc_add_data(settings)  # through .dvc/cache: the local default

    manifest_bytes = (settings.paths.data / MANIFEST).stat().st_size
    shard_sizes = [len(body) for body in _objects(s3).values()]
    cached = [p for p in (workdir / ".dvc" / "cache").rglob("*") if p.is_file()]
    assert cached and max(p.stat().st_size for p in cached) <= manifest_bytes
    assert sum(p.stat().st_size for p in cached) < sum(shard_sizes)

    configure_s3_remote(
        workdir, f"s3://{s3.bucket}/dvcstore", s3.endpoint, s3.access_key, s3.secret_key
    )
    from components.data.corpus.versioning import dvc_push

    dvc_push(workdir)
    clone = tmp_path_factory.mktemp("clone")  # the repo's files, no data, no cache
    shutil.copy(workdir / "data.dvc", clone / "data.dvc")
    shutil.copytree(workdir / ".dvc", clone / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp"))
    pull_data(load_settings("tiny", workdir=clone))
    assert digest(clone / "data") == before and dvc_data_hash(clone) == version
    location = CorpusLocation.of(clone / "data", services.s3)
    heldout = read_split(location, "heldout_style")
    rows = read_manifest(clone / "data").to_pylist()
    assert len(heldout) == sum(r["split"] == "heldout_style" for r in rows) > 0

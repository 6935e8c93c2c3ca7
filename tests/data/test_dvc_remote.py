"""The corpus round-trips through a DVC remote on a real S3 server (SeaweedFS on loopback)."""

from __future__ import annotations

import shutil

import pytest

from components.data.build import build_corpus
from components.data.corpus.versioning import (
    configure_s3_remote,
    dvc_add_data,
    dvc_pull,
    dvc_push,
    pull_data,
)
from components.settings import load_settings
from components.tracking.lineage import dvc_data_hash

pytestmark = pytest.mark.timeout(300)


def test_push_delete_pull_gives_the_same_corpus(s3, workdir_with_sources, small_cfg, digest):
    workdir = workdir_with_sources
    settings = load_settings("tiny", workdir=workdir)
    build_corpus(small_cfg, settings.paths.sources, settings.paths.data)
    before = digest(settings.paths.data)
    version = dvc_add_data(settings)

    configure_s3_remote(
        workdir, f"s3://{s3.bucket}/dvcstore", s3.endpoint, s3.access_key, s3.secret_key
    )
    assert s3.secret_key not in (workdir / ".dvc" / "config").read_text()  # keys stay local
    dvc_push(workdir)
    stored = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix="dvcstore/")
    assert stored["KeyCount"] >= len(before)  # every file, plus the directory listing

    shutil.rmtree(settings.paths.data)
    shutil.rmtree(workdir / ".dvc" / "cache")
    dvc_pull(workdir)
    assert digest(settings.paths.data) == before
    assert dvc_data_hash(workdir) == version


def test_wrong_keys_fail_with_dvc_words(s3, workdir_with_sources, small_cfg):
    from components.data.corpus.versioning import DvcError

    workdir = workdir_with_sources
    settings = load_settings("tiny", workdir=workdir)
    build_corpus(small_cfg, settings.paths.sources, settings.paths.data)
    dvc_add_data(settings)
    configure_s3_remote(workdir, f"s3://{s3.bucket}/dvcstore", s3.endpoint, "wrong", "wrong-secret")
    with pytest.raises(DvcError, match="dvc push"):
        dvc_push(workdir)


def test_a_corpus_versioned_to_the_remote_leaves_no_copy_in_the_cache(
    s3, use_s3, monkeypatch, workdir_with_sources, small_cfg, digest, tmp_path_factory
):
    """data.dvc_local_cache: false: `dvc add --to-remote`, so .dvc/cache holds nothing the
    size of the corpus, and a clean clone of the repo (data.dvc and the DVC config, no data,
    no cache) pulls the same corpus back from the remote."""
    workdir = workdir_with_sources
    use_s3(s3)
    monkeypatch.setenv("CLIP_DVC_REMOTE", f"s3://{s3.bucket}/dvcstore")
    settings = load_settings(
        "tiny", workdir=workdir, overrides={"data": {"dvc_local_cache": False}}
    )
    build_corpus(small_cfg, settings.paths.sources, settings.paths.data)
    before = digest(settings.paths.data)
    corpus_bytes = sum(p.stat().st_size for p in settings.paths.data.rglob("*") if p.is_file())
    version = dvc_add_data(settings)

    cached = [p for p in (workdir / ".dvc" / "cache").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in cached) < 4096 < corpus_bytes  # at most a listing
    listing = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix="dvcstore/files/md5/")
    sent = [o for o in listing.get("Contents", []) if not o["Key"].rsplit("/", 1)[1][0] == "."]
    assert len(sent) >= len(before) and sum(o["Size"] for o in sent) >= corpus_bytes

    clone = tmp_path_factory.mktemp("clone")
    shutil.copy(workdir / "data.dvc", clone / "data.dvc")
    shutil.copytree(
        workdir / ".dvc",
        clone / ".dvc",
        ignore=shutil.ignore_patterns("cache", "tmp", "config.local"),
    )
    cloned = load_settings("tiny", workdir=clone)
    pull_data(cloned)
    assert digest(clone / "data") == before
    assert dvc_data_hash(clone) == version


def test_versioning_to_the_remote_without_one_says_what_to_set(workdir_with_sources, small_cfg):
    from components.data.corpus.versioning import DvcError

    settings = load_settings(
        "tiny", workdir=workdir_with_sources, overrides={"data": {"dvc_local_cache": False}},
        environment={},
    )  # fmt: skip
    build_corpus(small_cfg, settings.paths.sources, settings.paths.data)
    with pytest.raises(DvcError, match="CLIP_DVC_REMOTE=s3://"):
        dvc_add_data(settings)

"""The corpus round-trips through a DVC remote on a real S3 server (SeaweedFS on loopback)."""

from __future__ import annotations

import shutil

import pytest

from components.data.build import build_corpus
from components.data.corpus.versioning import configure_s3_remote, dvc_add_data, dvc_pull, dvc_push
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

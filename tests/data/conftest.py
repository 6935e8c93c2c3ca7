"""Shared fixtures for the data stage: one small corpus, built once per test session."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from components.data.build import build_corpus
from components.settings import DataConfig, load_settings
from infra.local.seaweedfs import SeaweedS3

SMALL = {"max_concepts": 40, "image_size": 32, "val_fraction": 0.1, "samples_per_shard": 16}


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`, by posix path relative to it."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="session")
def digest() -> Callable[[Path], dict[str, str]]:
    return tree_digest


@pytest.fixture(scope="session")
def small_cfg() -> DataConfig:
    """The project's data parameters (same packages and seed), scaled down."""
    base = load_settings(profile="default").data
    return DataConfig(**{**base.model_dump(), **SMALL})


@pytest.fixture(scope="session")
def corpus(
    tmp_path_factory: pytest.TempPathFactory, sources_dir: Path, small_cfg: DataConfig
) -> tuple[Path, dict]:
    """(data dir, card) of the small corpus. Tests must not modify it."""
    out_dir = tmp_path_factory.mktemp("corpus") / "data"
    card = build_corpus(small_cfg, sources_dir, out_dir)
    return out_dir, card


@pytest.fixture
def s3(tmp_path_factory: pytest.TempPathFactory):
    """A SeaweedFS S3 server on loopback for one test (started with keys; stopped by PID)."""
    folder = tmp_path_factory.mktemp("seaweedfs")
    server = SeaweedS3(folder, "clip-test-key", "clip-test-secret-0123456789")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory):
    """One local Ray for a module whose builds fetch URLs or S3 objects: the fetcher uses a Ray
    that is up instead of starting (and stopping) one per build."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()

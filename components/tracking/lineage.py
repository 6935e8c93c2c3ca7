"""What a run was made from: the git commit, the data version, the params and the dvc.lock.

Recorded on every MLflow run and every registered model version, so any of them can be rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import yaml

from components.artifacts import MANIFEST_FILE
from components.settings import PROJECT_ROOT, Tracking

EMPTY_DIFF = hashlib.sha256(b"").hexdigest()


def git_commit(root: Path) -> tuple[str, bool]:
    """(commit sha or "unknown", whether the work tree has uncommitted changes)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return sha, bool(status.strip())
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False


def git_diff_sha256(root: Path) -> str:
    """sha256 of the uncommitted changes to tracked files (`git diff HEAD`): with the commit,
    the code a run was made from. The empty diff's hash for a clean checkout; "unknown" outside
    git. Untracked files are not seen."""
    try:
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--binary"], cwd=root, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return hashlib.sha256(diff).hexdigest()


def dvc_data_hash(workdir: Path) -> str:
    """The md5 that data.dvc records for the corpus (the dataset version), or "untracked"."""
    dvc_file = workdir / "data.dvc"
    if not dvc_file.is_file():
        return "untracked"
    outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
    return str(outs[0].get("md5", "untracked"))


def corpus_checksum(data_dir: Path) -> str:
    """sha256 over every file of the corpus (paths and bytes): the build's own checksum."""
    digest = hashlib.sha256()
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(data_dir).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def manifest_sha256(corpus) -> str:  # a corpus folder, or a CorpusLocation
    """The corpus's identity for a run: the sha256 of its manifest, which lists every sample's
    id, split, shard, captions and image sha256 (byte-stable for the same build). One small
    file, where corpus_checksum re-reads every shard."""
    if hasattr(corpus, "read_bytes") and not isinstance(corpus, Path):
        return hashlib.sha256(corpus.read_bytes(MANIFEST_FILE)).hexdigest()
    path = Path(corpus) / MANIFEST_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "absent"


def params_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "absent"


def lineage_tags(tracking: Tracking) -> dict[str, str]:
    # The workdir's checkout; a scratch workdir (tests) falls back to this code's checkout.
    paths = tracking.paths
    checkout = paths.workdir
    commit, dirty = git_commit(checkout)
    if commit == "unknown":
        checkout = PROJECT_ROOT
        commit, dirty = git_commit(checkout)
    return {
        "git_commit": commit,
        "git_dirty": str(dirty).lower(),
        "git_diff_sha256": git_diff_sha256(checkout) if dirty else EMPTY_DIFF,
        "data_dvc_md5": dvc_data_hash(paths.workdir),
        "data_manifest_sha256": manifest_sha256(paths.data),
        "params_hash": params_hash(tracking.params),
        "dvc_lock_hash": file_hash(paths.workdir / "dvc.lock"),
        "profile": tracking.profile,
    }

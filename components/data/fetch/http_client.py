"""Fetch one image over http(s), bounded in every direction, and say what happened.

A URL table comes from someone else, and the web is slow, wrong and sometimes hostile, so each
fetch has limits: a timeout per connect and per read plus a deadline for the whole body, a
byte cap checked against Content-Length and again while reading, redirects followed one hop
at a time (each hop re-checked), retries with exponential backoff only for what may pass
(timeouts, refused connections, 429 and 5xx), and no address on this machine's networks
(loopback, private, link-local: the cloud's metadata service) unless the user allows private
ones (data.fetch_private_addresses, for an intranet mirror; link-local never). Every outcome is
the bytes or a Problem with a reason code (http_404, timeout, file_too_large, not_an_image...).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from components.checks.reasons import Problem, Reason

WEB_SCHEMES = ("http", "https")
MAX_URL_CHARS = 4096
_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
_RETRYABLE = (429, 500, 502, 503, 504)
_STATUS_REASONS = {
    int(r.value.removeprefix("http_")): r
    for r in Reason
    if r.value.startswith("http_") and r.value.removeprefix("http_").isdigit()
}
# a body served as one of these is a page or an API answer, not an image: not even read
_IMAGE_TYPES = ("image/", "application/octet-stream", "binary/octet-stream")
USER_AGENT = "clip-pipeline-data-build (+https://github.com/; img2dataset-style fetcher)"


@dataclass(frozen=True)
class FetchPolicy:
    timeout_s: float = 10.0  # connect, and each read of the body
    deadline_s: float = 60.0  # one attempt's whole body
    retries: int = 2  # further attempts after a retryable failure
    backoff_s: float = 0.5  # before retry n: backoff_s * 2**(n-1)
    max_redirects: int = 5
    max_bytes: int = 64 * 1024 * 1024
    private_addresses: bool = False  # loopback and private networks; link-local never


@dataclass(frozen=True)
class Fetched:
    """The bytes (problem None) or why not; the last HTTP status seen and the attempts made."""

    data: bytes | None
    problem: Problem | None
    http_status: int | None = None
    attempts: int = 1  # 0: answered by a previous build's log, not fetched
    sha256: str | None = None  # of bytes refused on a previous build (their verdict stands)
    etag: str | None = None  # an S3 object's, to tell on a rebuild whether it changed


def _address_problem(host: str, address: str, policy: FetchPolicy) -> Problem | None:
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.is_link_local or (
        not policy.private_addresses
        and (ip.is_private or ip.is_loopback or ip.is_reserved or ip.is_unspecified)
    ):
        kind = "link-local" if ip.is_link_local else "a loopback or private"
        allow = "" if ip.is_link_local else " (data.fetch_private_addresses allows those)"
        return Problem(Reason.PRIVATE_ADDRESS, f"{host} is {kind} address {ip}{allow}")
    if ip.is_multicast:
        return Problem(Reason.PRIVATE_ADDRESS, f"{host} is multicast address {ip}")
    return None


def check_web_url(url: str, policy: FetchPolicy) -> Problem | None:
    """What can be said of a URL without the network: scheme, host, and a literal address."""
    if len(url) > MAX_URL_CHARS:
        return Problem(Reason.INVALID_REFERENCE, f"a URL of {len(url):,} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as err:
        return Problem(Reason.INVALID_REFERENCE, f"{url[:200]!r} is not a URL: {err}")
    if parts.scheme.lower() not in WEB_SCHEMES:
        return Problem(Reason.UNSUPPORTED_URL, f"{url[:200]!r}: only http and https are fetched")
    if not host:
        return Problem(Reason.INVALID_REFERENCE, f"{url[:200]!r} names no host")
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None  # a name: its addresses are checked when it is resolved
    return _address_problem(host, host, policy)


def _resolved_problem(url: str, policy: FetchPolicy) -> Problem | None:
    """The URL's host resolved: every address it has must be one that may be fetched.
    (urllib3 resolves again to connect; a name that changes its answer in between is not
    defended against here: run the build where such names cannot reach private networks.)"""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        return Problem(Reason.UNREACHABLE, f"{host} does not resolve: {err}")
    for info in infos:
        problem = _address_problem(host, str(info[4][0]), policy)
        if problem is not None:
            return problem
    return None


def _status_problem(status: int) -> Problem:
    reason = _STATUS_REASONS.get(status, Reason.HTTP_ERROR)
    return Problem(reason, f"the server answered HTTP {status}")


def _read_body(response: Any, started: float, policy: FetchPolicy) -> bytes | Problem:
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > policy.max_bytes:
        return Problem(
            Reason.FILE_TOO_LARGE,
            f"Content-Length {int(length):,} is above validate.max_image_bytes="
            f"{policy.max_bytes:,}; not read",
        )
    body = bytearray()
    while True:
        chunk = response.read(_CHUNK)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > policy.max_bytes:
            return Problem(
                Reason.FILE_TOO_LARGE,
                f"more than validate.max_image_bytes={policy.max_bytes:,} bytes; stopped reading",
            )
        if time.monotonic() - started > policy.deadline_s:
            return Problem(
                Reason.TIMEOUT, f"the body took over {policy.deadline_s:g} s ({len(body):,} bytes)"
            )


def _attempt(url: str, pool: Any, policy: FetchPolicy) -> tuple[Fetched, bool]:
    """One attempt, redirects followed; (outcome, worth retrying)."""
    import urllib3

    timeout = urllib3.Timeout(connect=policy.timeout_s, read=policy.timeout_s)
    headers = {"User-Agent": USER_AGENT, "Accept": "image/*"}
    started = time.monotonic()
    current = url
    for _ in range(policy.max_redirects + 1):
        problem = check_web_url(current, policy) or _resolved_problem(current, policy)
        if problem is not None:
            return Fetched(None, problem), False
        try:
            response = pool.request(
                "GET", current, headers=headers, timeout=timeout, retries=False,
                redirect=False, preload_content=False,
            )  # fmt: skip
        except urllib3.exceptions.TimeoutError as err:
            return Fetched(None, Problem(Reason.TIMEOUT, f"no answer: {type(err).__name__}")), True
        except urllib3.exceptions.HTTPError as err:
            detail = f"{urlsplit(current).hostname}: {type(err).__name__}"
            return Fetched(None, Problem(Reason.UNREACHABLE, detail)), True
        try:
            status = response.status
            if status in _REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    detail = f"HTTP {status} without a Location header"
                    return Fetched(None, Problem(Reason.HTTP_ERROR, detail), status), False
                current = urljoin(current, location)
                continue
            if status != 200:
                return Fetched(None, _status_problem(status), status), status in _RETRYABLE
            kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if kind and not kind.startswith(_IMAGE_TYPES):
                problem = Problem(Reason.NOT_AN_IMAGE, f"served as {kind[:80]}, not an image")
                return Fetched(None, problem, status), False
            body = _read_body(response, started, policy)
        except urllib3.exceptions.TimeoutError:
            problem = Problem(Reason.TIMEOUT, f"the body stalled for over {policy.timeout_s:g} s")
            return Fetched(None, problem, status), True
        except urllib3.exceptions.HTTPError as err:
            detail = f"the connection broke while reading: {type(err).__name__}"
            return Fetched(None, Problem(Reason.UNREACHABLE, detail), status), True
        finally:
            response.release_conn()
        if isinstance(body, Problem):
            return Fetched(None, body, status), body.reason == Reason.TIMEOUT
        return Fetched(body, None, status), False
    detail = f"more than data.fetch_max_redirects={policy.max_redirects} redirects"
    return Fetched(None, Problem(Reason.TOO_MANY_REDIRECTS, detail)), False


def fetch_url(url: str, pool: Any, policy: FetchPolicy) -> Fetched:
    """The bytes behind `url` or why not, after up to `policy.retries` retries (`pool`: a
    urllib3.PoolManager, shared by the threads of one worker)."""
    attempts = 0
    while True:
        attempts += 1
        fetched, retryable = _attempt(url, pool, policy)
        if not retryable or attempts > policy.retries:
            return Fetched(fetched.data, fetched.problem, fetched.http_status, attempts)
        time.sleep(policy.backoff_s * 2 ** (attempts - 1))

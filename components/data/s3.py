"""Read user data from S3 with boto3, reached as the settings say (S3Access: read once from the
standard AWS variables: the keys, or any other boto3 credential source; the endpoint from
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for an S3-compatible store such as SeaweedFS or MinIO;
the region from AWS_REGION / AWS_DEFAULT_REGION, else us-east-1). Every failure becomes a
one-sentence DataSourceError naming the URL and what to check.
"""

from __future__ import annotations

import io
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from components.data.errors import DataSourceError, one_line
from components.settings import S3Access

SCHEME = "s3://"
DEFAULT_REGION = "us-east-1"
_MISSING = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"}
# an ETag lookup walks the listing of the wanted keys' range while it stays this dense (listed
# keys per wanted key, plus a page); past that, one HEAD per key left (a table in random order)
LIST_WALK_PER_KEY = 8
LIST_PAGE_KEYS = 1_000  # keys a listing request answers (S3's most)
HEAD_THREADS = 16


def is_s3(location: str) -> bool:
    return location.startswith(SCHEME)


def split_url(url: str) -> tuple[str, str]:
    """'s3://bucket/a/b.csv' -> ('bucket', 'a/b.csv')."""
    bucket, _, key = url.removeprefix(SCHEME).partition("/")
    if not is_s3(url) or not bucket:
        raise DataSourceError(f"{url!r} is not an S3 URL of the form s3://bucket/key")
    return bucket, key


def join_url(bucket: str, key: str) -> str:
    return f"{SCHEME}{bucket}/{key}"


def explain_s3_error(
    err: Exception, url: str, action: str, endpoint: str | None
) -> DataSourceError:
    """One sentence: which URL, what went wrong, what to check."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    where = endpoint or "AWS"
    if isinstance(err, NoCredentialsError):
        hint = "no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    elif isinstance(err, EndpointConnectionError):
        hint = f"cannot reach the S3 endpoint {where}; check AWS_ENDPOINT_URL_S3"
    elif isinstance(err, ClientError):
        code = str(err.response.get("Error", {}).get("Code", "unknown"))
        if code == "NoSuchBucket":
            hint = f"the bucket does not exist on {where} (NoSuchBucket)"
        elif code in _MISSING:
            hint = f"there is no such object on {where} ({code}); check the URL"
        elif code in _DENIED:
            hint = f"access denied by {where} ({code}); check AWS_ACCESS_KEY_ID/SECRET_ACCESS_KEY"
        else:
            hint = f"{where} answered {code}"
    else:
        hint = f"{type(err).__name__}: {one_line(err)}"
    return DataSourceError(f"cannot {action} {url}: {hint}")


class S3Store:
    """A boto3 S3 client made from the settings' S3Access, created on first use."""

    def __init__(self, access: S3Access) -> None:
        self.access = access
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            keys = self.access.credentials()
            # a fresh session: boto3's default one caches the credentials it first saw
            session = boto3.session.Session(
                aws_access_key_id=keys[0] if keys else None,
                aws_secret_access_key=keys[1] if keys else None,
            )
            self._client = session.client(
                "s3", endpoint_url=self.access.endpoint, region_name=self.access.region
            )
        return self._client

    def open_object(self, url: str) -> tuple[int, Any, str] | str:
        """(size, streaming body, ETag) of an object, or a word for a per-object failure:
        "missing" (no such key) or the refusal's code. A store that cannot be reached raises."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = split_url(url)
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code"))
            if code in _MISSING:
                return "missing"
            if code in _DENIED:
                return f"access denied ({code})"
            raise explain_s3_error(err, url, "read", self.access.endpoint) from err
        except BotoCoreError as err:
            raise explain_s3_error(err, url, "read", self.access.endpoint) from err
        return int(response.get("ContentLength", 0)), response["Body"], response.get("ETag", "")

    def etags_of(self, urls: list[str]) -> dict[str, str]:
        """URL -> ETag now of each of `urls` that exists (a missing one is left out). Per
        bucket, the listing is walked from the smallest wanted key to the largest (a table in
        key order: 1,000 keys a request) while it stays dense; the rest get one HEAD each.
        Memory and requests follow len(urls), never the size of the folders."""
        by_bucket: dict[str, set[str]] = defaultdict(set)
        for url in urls:
            bucket, key = split_url(url)
            by_bucket[bucket].add(key)
        found: dict[str, str] = {}
        for bucket, keys in by_bucket.items():
            listed, rest = self._walk_range(bucket, sorted(keys))
            found |= listed
            found |= self._heads(bucket, rest)
        return found

    def _walk_range(self, bucket: str, keys: list[str]) -> tuple[dict[str, str], list[str]]:
        """(URL -> ETag of the keys listed, the keys not reached before the walk stopped)."""
        from botocore.exceptions import BotoCoreError, ClientError

        wanted, found = set(keys), {}
        budget = LIST_WALK_PER_KEY * len(keys) + LIST_PAGE_KEYS
        walked, last = 0, ""
        # StartAfter is exclusive: a proper prefix of the smallest key sorts before it
        start = {"StartAfter": keys[0][:-1]} if keys[0][:-1] else {}
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, PaginationConfig={"PageSize": LIST_PAGE_KEYS}, **start
            )
            for page in pages:
                for item in page.get("Contents", []):
                    last = item["Key"]
                    if last in wanted:
                        found[join_url(bucket, last)] = item.get("ETag", "")
                if last >= keys[-1] or not page.get("IsTruncated"):
                    return found, []
                walked += len(page.get("Contents", []))
                if walked > budget:
                    break
        except (BotoCoreError, ClientError) as err:
            raise explain_s3_error(
                err, join_url(bucket, keys[0]), "list", self.access.endpoint
            ) from err
        return found, [key for key in keys if key > last]

    def _heads(self, bucket: str, keys: list[str]) -> dict[str, str]:
        from botocore.exceptions import BotoCoreError, ClientError

        def head(key: str) -> tuple[str, str | None]:
            url = join_url(bucket, key)
            try:
                return url, self.client.head_object(Bucket=bucket, Key=key).get("ETag", "")
            except ClientError as err:
                if str(err.response.get("Error", {}).get("Code")) in _MISSING:
                    return url, None
                raise explain_s3_error(err, url, "read", self.access.endpoint) from err
            except BotoCoreError as err:
                raise explain_s3_error(err, url, "read", self.access.endpoint) from err

        if not keys:
            return {}
        self.client  # noqa: B018  (made once, before the threads share it)
        with ThreadPoolExecutor(max_workers=min(HEAD_THREADS, len(keys))) as pool:
            return {url: etag for url, etag in pool.map(head, keys) if etag is not None}

    def size_of(self, url: str) -> int | None:
        """The object's size (a HEAD), None when there is no such key."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = split_url(url)
        try:
            return int(self.client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except ClientError as err:
            if str(err.response.get("Error", {}).get("Code")) in _MISSING:
                return None
            raise explain_s3_error(err, url, "read", self.access.endpoint) from err
        except BotoCoreError as err:
            raise explain_s3_error(err, url, "read", self.access.endpoint) from err

    def upload(self, path: Path, url: str) -> None:
        """The file at `path` as the object at `url` (multipart when large)."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = split_url(url)
        try:
            self.client.upload_file(str(path), bucket, key)
        except (BotoCoreError, ClientError) as err:
            raise explain_s3_error(err, url, "write", self.access.endpoint) from err

    def reachable(self, prefix_url: str) -> None:
        """Raise the one-sentence DataSourceError when `prefix_url` cannot be listed (no such
        bucket, wrong keys, the endpoint down): one request for a key or none."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, prefix = split_url(prefix_url)
        try:
            self.client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except (BotoCoreError, ClientError) as err:
            raise explain_s3_error(err, prefix_url, "list", self.access.endpoint) from err

    def listing(self, prefix_url: str) -> list[tuple[str, int, str]]:
        """(URL, size, ETag) of every object under `prefix_url`, in key order."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, prefix = split_url(prefix_url)
        found: list[tuple[str, int, str]] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                for item in page.get("Contents", []):
                    url = join_url(bucket, item["Key"])
                    found.append((url, int(item.get("Size", 0)), item.get("ETag", "")))
        except (BotoCoreError, ClientError) as err:
            raise explain_s3_error(err, prefix_url, "list", self.access.endpoint) from err
        return found

    def list_urls(self, prefix_url: str, suffix: str) -> list[str]:
        """Sorted URLs of the objects under `prefix_url` whose key ends with `suffix`."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, prefix = split_url(prefix_url)
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(suffix)]
        except (BotoCoreError, ClientError) as err:
            raise explain_s3_error(err, prefix_url, "list", self.access.endpoint) from err
        return [join_url(bucket, key) for key in sorted(keys)]


READ_CHUNK = 8 * 2**20  # bytes a ranged GET of an S3 file asks for


class S3RangeFile(io.RawIOBase):
    """An S3 object as a seekable binary file, read by ranged GETs of `chunk` bytes (or what a
    larger read asks for), each pinned to the ETag the object had when opened: an object
    rewritten while it is read is an error, never a mix of two. A CSV is streamed a chunk per
    request and a parquet file read by its footer and row groups; one chunk is held at a time."""

    def __init__(self, store: S3Store, url: str, chunk: int = READ_CHUNK) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        self.store, self.url, self.chunk = store, url, chunk
        self.bucket, self.key = split_url(url)
        try:
            head = store.client.head_object(Bucket=self.bucket, Key=self.key)
        except (BotoCoreError, ClientError) as err:
            raise explain_s3_error(err, url, "read", store.access.endpoint) from err
        self.size, self.etag = int(head.get("ContentLength", 0)), head.get("ETag", "")
        self.position = 0
        self._held, self._held_at = b"", 0  # the last range fetched, and where it starts

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:  # noqa: ANN001 (a writable buffer)
        if self.position >= self.size or not len(buffer):
            return 0
        offset = self.position - self._held_at
        if not 0 <= offset < len(self._held):
            self._held = self.read_range(self.position, max(len(buffer), self.chunk))
            self._held_at, offset = self.position, 0
        count = min(len(buffer), len(self._held) - offset)
        buffer[:count] = self._held[offset : offset + count]
        self.position += count
        return count

    def read_range(self, start: int, length: int) -> bytes:
        """`length` bytes from `start` (fewer at the end), by one GET pinned to the ETag."""
        from botocore.exceptions import BotoCoreError, ClientError

        last = min(self.size, start + length) - 1
        try:
            response = self.store.client.get_object(
                Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{last}", IfMatch=self.etag
            )
            return response["Body"].read()
        except ClientError as err:
            if str(err.response.get("Error", {}).get("Code")) in ("PreconditionFailed", "412"):
                raise DataSourceError(
                    f"cannot read {self.url}: the object changed while it was read; build again"
                ) from err
            raise explain_s3_error(err, self.url, "read", self.store.access.endpoint) from err
        except BotoCoreError as err:
            raise explain_s3_error(err, self.url, "read", self.store.access.endpoint) from err


def s3_filesystem(access: S3Access):
    """A pyarrow S3FileSystem from the settings' endpoint, keys and region."""
    from urllib.parse import urlparse

    from pyarrow.fs import S3FileSystem

    kwargs: dict[str, Any] = {"region": access.region}
    url = access.endpoint
    if url:
        parsed = urlparse(url)
        kwargs["endpoint_override"] = parsed.netloc or parsed.path
        kwargs["scheme"] = parsed.scheme or "http"
    keys = access.credentials()
    if keys:
        kwargs.update(access_key=keys[0], secret_key=keys[1])
    return S3FileSystem(**kwargs)

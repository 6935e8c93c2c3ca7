"""Read user data from S3 with boto3, reached as the settings say (S3Access: read once from the
standard AWS variables: the keys, or any other boto3 credential source; the endpoint from
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for an S3-compatible store such as SeaweedFS or MinIO;
the region from AWS_REGION / AWS_DEFAULT_REGION, else us-east-1). Every failure becomes a
one-sentence DataSourceError naming the URL and what to check.
"""

from __future__ import annotations

from typing import Any

from components.data.errors import DataSourceError, one_line
from components.settings import S3Access

SCHEME = "s3://"
DEFAULT_REGION = "us-east-1"
_MISSING = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"}


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


def _explain(err: Exception, url: str, action: str, endpoint: str | None) -> DataSourceError:
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

    def read(self, url: str) -> bytes:
        """The object's bytes; any failure is a DataSourceError."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = split_url(url)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as err:
            raise _explain(err, url, "read", self.access.endpoint) from err

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
            raise _explain(err, url, "read", self.access.endpoint) from err
        except BotoCoreError as err:
            raise _explain(err, url, "read", self.access.endpoint) from err
        return int(response.get("ContentLength", 0)), response["Body"], response.get("ETag", "")

    def etags(self, prefix_url: str) -> dict[str, str]:
        """URL -> ETag of every object under `prefix_url` (a listing: 1,000 per request)."""
        return {url: etag for url, _, etag in self.listing(prefix_url)}

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
            raise _explain(err, prefix_url, "list", self.access.endpoint) from err
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
            raise _explain(err, prefix_url, "list", self.access.endpoint) from err
        return [join_url(bucket, key) for key in sorted(keys)]


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

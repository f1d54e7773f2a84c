"""Bytes in an S3-compatible object store (``blob_store: s3://BUCKET/PREFIX``).

Works with AWS S3, Cloudflare R2, MinIO and anything else that speaks the S3
protocol, through boto3. The object of key ``ab12...`` is
``PREFIX/ab/ab12...`` (the local folder's layout). Endpoint, region and
credentials come from the ``s3_*`` settings, or from boto3's usual sources
(``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_ACCESS_KEY_ID``, ...). A
service that cannot be reached or refuses is a :class:`BlobStoreError`,
after a few quick retries; an object that is not there is a ``KeyError``.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError

from echodesk.store.blobs import CHUNK, BlobStoreError, check_key, verified, verify_stream

if TYPE_CHECKING:
    from echodesk.config import Settings

#: Larger values go up in parts (several at once), after asking whether they are there.
MULTIPART = 8 * 1024 * 1024
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def split_spec(spec: str) -> tuple[str, str]:
    """``s3://BUCKET/PREFIX`` as (bucket, prefix ending in '/' or empty)."""
    bucket, _, prefix = spec.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


class S3BlobStore:
    """Content-addressed objects under ``prefix`` in ``bucket``."""

    def __init__(self, bucket: str, prefix: str, client_options: dict[str, Any]) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.name = f"s3://{bucket}/{prefix}"
        self.fork_safe = False  # its client's connections
        self._options = client_options
        self._client: Any = None
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, spec: str, settings: Settings) -> S3BlobStore:
        from botocore.config import Config

        bucket, prefix = split_spec(spec)
        options: dict[str, Any] = {
            "config": Config(
                s3={"addressing_style": settings.s3_addressing_style},
                connect_timeout=10,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
            )
        }
        given = {
            "endpoint_url": settings.s3_endpoint_url,
            "region_name": settings.s3_region,
            "aws_access_key_id": settings.s3_access_key_id,
            "aws_secret_access_key": settings.s3_secret_access_key,
        }
        options.update({k: v for k, v in given.items() if v})
        return cls(bucket, prefix, options)

    @property
    def client(self) -> Any:
        """The boto3 client, made on first use (boto3 clients are thread-safe)."""
        with self._lock:
            if self._client is None:
                import boto3

                with self._failing():
                    self._client = boto3.session.Session().client("s3", **self._options)
            return self._client

    def _object(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}{key[:2]}/{key}"

    def put(self, data: bytes, *, durable: bool = True) -> str:
        key = hashlib.sha256(data).hexdigest()
        name = self._object(key)
        with self._failing():
            if len(data) <= MULTIPART:
                self.client.put_object(Bucket=self.bucket, Key=name, Body=data)
            elif not self.exists(key):
                from boto3.s3.transfer import TransferConfig

                parts = TransferConfig(multipart_threshold=MULTIPART, multipart_chunksize=MULTIPART)
                self.client.upload_fileobj(io.BytesIO(data), self.bucket, name, Config=parts)
        return key

    def put_many(self, values: Sequence[bytes], *, durable: bool = True) -> list[str]:
        return [self.put(value, durable=durable) for value in values]

    def get(self, key: str) -> bytes:
        name = self._object(key)
        with self._failing(key):
            body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"]
        out = io.BytesIO()  # chunk by chunk: the value is held once, not read and joined
        for chunk in self._chunks(body, key):
            out.write(chunk)
        return verified(key, out.getvalue())

    def stream(self, key: str) -> Iterator[bytes]:
        name = self._object(key)
        with self._failing(key):
            body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"]
        return verify_stream(key, self._chunks(body, key))

    def _chunks(self, body: Any, key: str) -> Iterator[bytes]:
        with body, self._failing(key):
            yield from body.iter_chunks(CHUNK)

    def delete(self, key: str) -> None:
        name = self._object(key)
        with self._failing():
            self.client.delete_object(Bucket=self.bucket, Key=name)

    def exists(self, key: str) -> bool:
        name = self._object(key)
        try:
            with self._failing(key):
                self.client.head_object(Bucket=self.bucket, Key=name)
        except KeyError:
            return False
        return True

    def keys(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2")
        with self._failing():
            for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", ()):
                    folder, _, key = item["Key"][len(self.prefix) :].partition("/")
                    try:
                        check_key(key)
                    except KeyError:
                        continue
                    if key.startswith(folder):
                        yield key

    @contextmanager
    def _failing(self, key: str | None = None) -> Iterator[None]:
        """KeyError for an object that is not there; BlobStoreError for anything else."""
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if key is not None and code in _MISSING:
                raise KeyError(key) from None
            message = error.get("Message") or code
            raise BlobStoreError(f"{self.name}: {code}: {message}") from exc
        except (BotoCoreError, Boto3Error) as exc:
            raise BlobStoreError(f"{self.name} cannot be used: {exc}") from exc

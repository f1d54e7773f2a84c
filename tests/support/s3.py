"""A real S3-protocol server on loopback for the tests: moto's standalone server.

Started by the tests themselves, bound to 127.0.0.1 (never moto's default
0.0.0.0:5000), spoken to with path-style addressing as MinIO is. Each test
takes a bucket of its own, so the tests of one worker can share a server.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

ACCESS = {"s3_access_key_id": "testing", "s3_secret_access_key": "testing"}


class S3Server:
    def __init__(self, port: int = 0) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        _host, self.port = self.server.get_host_and_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(s3={"addressing_style": "path"}),
        )

    def stop(self) -> None:
        self.server.stop()

    def settings(self) -> dict[str, str]:
        """The ``s3_*`` settings that reach this server."""
        return settings_for(self.endpoint)

    def env(self) -> dict[str, str]:
        """The same as ``ECHODESK_*`` variables, for an ``echodesk`` process."""
        return {f"ECHODESK_{k.upper()}": v for k, v in self.settings().items()}

    def bucket(self) -> str:
        """A new, empty bucket of this test's own; its ``s3://`` store spec."""
        name = f"t-{uuid.uuid4().hex[:20]}"
        self.client.create_bucket(Bucket=name)
        return f"s3://{name}/echo"

    def objects(self, spec: str) -> dict[str, bytes]:
        """Every object under the spec's prefix: name -> bytes."""
        bucket, _, prefix = spec.removeprefix("s3://").partition("/")
        found = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return {
            item["Key"]: self.client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for item in found
        }

    def write(self, spec: str, key: str, data: bytes) -> None:
        """Put ``data`` under a blob key, behind Echo's back."""
        bucket, _, prefix = spec.removeprefix("s3://").partition("/")
        self.client.put_object(Bucket=bucket, Key=f"{prefix}/{key[:2]}/{key}", Body=data)

    def remove(self, spec: str, key: str) -> None:
        bucket, _, prefix = spec.removeprefix("s3://").partition("/")
        self.client.delete_object(Bucket=bucket, Key=f"{prefix}/{key[:2]}/{key}")


def settings_for(endpoint: str) -> dict[str, str]:
    return {
        "s3_endpoint_url": endpoint,
        "s3_region": "us-east-1",
        "s3_addressing_style": "path",
        **ACCESS,
    }

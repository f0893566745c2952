"""A real S3 protocol server for the tests: moto's stand-alone server on a free port, in this
process (its buckets survive a stop and a start, as a restarted object store's do)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.service.servers import free_port

BUCKET = "initlab-checkpoints"
KEYS = {"AWS_ACCESS_KEY_ID": "initlab-test", "AWS_SECRET_ACCESS_KEY": "initlab-test-secret"}


class S3Server:
    """moto's server on 127.0.0.1:`port`, stoppable and restartable on the same port."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._make = lambda: ThreadedMotoServer(ip_address="127.0.0.1", port=self.port)
        self._server = self._make()
        self.running = False

    def start(self) -> None:
        self._server = self._make()
        self._server.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._server.stop()
            self.running = False

    def env(self, prefix: str) -> dict[str, str]:
        """A worker's settings for the artifact root s3://BUCKET/prefix on this server."""
        return {
            "INITLAB_ARTIFACT_URL": f"s3://{BUCKET}/{prefix}",
            "INITLAB_S3_ENDPOINT": self.url,
            "AWS_DEFAULT_REGION": "us-east-1",
            **KEYS,
        }

    def keys(self, prefix: str) -> list[str]:
        """The object names under `prefix`, read through the S3 protocol."""
        import boto3

        client = boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", **_keys())
        listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/")
        return sorted(item["Key"].rsplit("/", 1)[-1] for item in listed.get("Contents", []))


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": KEYS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": KEYS["AWS_SECRET_ACCESS_KEY"]}


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """A started server with the bucket made; stopped after."""
    try:
        import boto3
        import moto.server  # noqa: F401
    except ImportError as error:
        if os.environ.get("INITLAB_REQUIRE_SERVICES") == "1":
            pytest.fail(f"moto[server] is not installed ({error}); pip install -e '.[dev]'")
        pytest.skip(f"moto[server] is not installed ({error})")
    server = S3Server()
    server.start()
    try:
        client = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", **_keys())
        client.create_bucket(Bucket=BUCKET)
        yield server
    finally:
        server.stop()


def unique_prefix(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"

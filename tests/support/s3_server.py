"""A real S3 server for tier tests: ``weed server -s3`` from the same Go binary (its own
master, volume server and filer, all on 127.0.0.1), with one bucket made through boto3."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import boto3

from tests.support.go_cluster import GoProcess, free_port_pair, wait_until


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    client: object

    def keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.bucket)
        return [item["Key"] for item in listing.get("Contents", [])]

    def master_toml(self) -> str:
        """Go master configuration naming this bucket as the ``s3.default`` tier."""
        return f"""
[storage.backend]
  [storage.backend.s3.default]
  enabled = true
  aws_access_key_id = "any"
  aws_secret_access_key = "any"
  region = "us-east-1"
  bucket = "{self.bucket}"
  endpoint = "{self.endpoint}"
  storage_class = "STANDARD"
  force_path_style = true
"""


@contextlib.contextmanager
def running_s3(workdir: str, bucket: str = "tier") -> Iterator[S3Server]:
    data = os.path.join(workdir, "s3data")
    os.makedirs(data, exist_ok=True)
    port = free_port_pair()
    process = GoProcess(
        "s3",
        [
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={free_port_pair()}",
            f"-volume.port={free_port_pair()}",
            f"-filer.port={free_port_pair()}",
            "-filer",
            "-s3",
            f"-s3.port={port}",
        ],
        os.path.join(workdir, "s3.log"),
    )
    process.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="any",
        aws_secret_access_key="any",
        region_name="us-east-1",
    )

    def bucket_made() -> bool:
        if process.process is not None and process.process.poll() is not None:
            raise RuntimeError(f"weed server -s3 exited:\n{process.log_tail()}")
        client.create_bucket(Bucket=bucket)
        return True

    try:
        wait_until(bucket_made, timeout=90, what="the S3 server")
        yield S3Server(endpoint, bucket, client)
    finally:
        process.stop()

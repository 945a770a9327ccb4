"""Replicated writes and deletes (``topology/store_replicate.go``).

A write that is not itself a replication (``type=replicate``) goes to the local volume and
then, for a volume with copies elsewhere, to every other
location the master lists, as a multipart upload marked ``type=replicate``. Any replica
failing fails the write or the delete with Go's message (each failure as ``[host]: error``).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlencode

from ...core.needle.parse_upload import PAIR_NAME_PREFIX
from ...core.needle.record import Needle
from .context import HttpContext

log = logging.getLogger(__name__)

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="replicate")


class ReplicationError(Exception):
    """A replication failure; ``reason`` is Go's ``classifyReplicationError`` label."""

    def __init__(self, message: str, reason: str = "server_error") -> None:
        super().__init__(message)
        self.reason = reason


def _failure(host: str, err: OSError) -> ReplicationError:
    text = str(err)
    if isinstance(err, TimeoutError) or "timed out" in text:
        reason = "timeout"
    elif isinstance(err, ConnectionRefusedError) or "Connection refused" in text:
        reason = "connection_refused"
    else:
        reason = "server_error"
    return ReplicationError(f"[{host}]: {text}", reason)


def _answer_error(host: str, body: bytes, reason: str) -> ReplicationError:
    """A replica's non-2xx answer as Go's upload and delete helpers word it: the JSON
    ``error`` field when there is one, else the body."""
    detail = body.decode("utf-8", "replace")
    try:
        detail = json.loads(detail).get("error", detail)
    except (ValueError, AttributeError):
        pass
    return ReplicationError(f"[{host}]: {detail or reason}")


def needs_replication(ctx: HttpContext, volume_id: int, query: dict[str, str]) -> bool:
    """Whether a write must be forwarded: not a replica itself, and the local volume has
    copies elsewhere. (A volume that is not here fails locally, as 4.48 answers:
    ``volume N not found on ip:port``.)"""
    if query.get("type") == "replicate" or ctx.lookup_volume is None:
        return False
    volume = ctx.store.find_volume(volume_id)
    return volume is not None and volume.super_block.replica_placement.copy_count > 1


def remote_locations(ctx: HttpContext, volume_id: int, deleting: bool = False) -> list[str]:
    """``GetWritableRemoteReplications``: every other server holding the volume that the
    master does not report read-only. Too few of them fails the write or delete before it
    starts (4.48 words the two cases differently, checked against the binary)."""
    volume = ctx.store.find_volume(volume_id)
    lookup = ctx.lookup_writable or ctx.lookup_volume
    try:
        locations = lookup(volume_id)
    except Exception as err:  # noqa: BLE001 - reported as Go words it
        raise ReplicationError(f"replicating lookup failed for {volume_id}: {err}") from None
    here = f"{ctx.config.ip}:{ctx.config.port}"
    remotes = [url for url in locations if url != here]
    if volume is not None:
        copies = volume.super_block.replica_placement.copy_count
        if len(locations) < copies:
            if ctx.forget_lookup is not None:
                ctx.forget_lookup(volume_id)
            raise ReplicationError(
                f"{'' if deleting else 'writable '}replication locations [{len(locations)}] "
                f"is less than volume {volume_id} replication copy count [{copies}]"
            )
    return remotes


def upload_needle(host: str, url: str, needle: Needle, content_md5: str = "") -> None:
    """POST a needle as a multipart form, as Go's uploader replicates one."""
    boundary = uuid.uuid4().hex
    disposition = 'form-data; name="file"'
    if needle.name:
        escaped = needle.name.decode("utf-8", "replace").replace('"', '\\"')
        disposition += f'; filename="{escaped}"'
    part = [f"--{boundary}", f"Content-Disposition: {disposition}"]
    if needle.mime:
        part.append(f"Content-Type: {needle.mime.decode('utf-8', 'replace')}")
    if needle.is_compressed:
        part.append("Content-Encoding: gzip")
    body = ("\r\n".join(part) + "\r\n\r\n").encode() + needle.data
    body += f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if content_md5:
        headers["Content-MD5"] = content_md5
    if needle.has_pairs and needle.pairs:
        try:
            for key, value in json.loads(needle.pairs).items():
                headers[PAIR_NAME_PREFIX + key] = value
        except ValueError:
            log.info("unmarshal pairs error for needle %x", needle.id)
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
    except urllib.error.HTTPError as err:
        raise _answer_error(host, err.read(), str(err.reason)) from None
    except OSError as err:
        raise _failure(host, err) from None


def _all(hosts: list[str], action) -> list[ReplicationError]:
    """``DistributedOperation``: ``action(host)`` on every replica at once; the failures.
    Go fails fast, so only the first failure is reported."""
    futures = [_POOL.submit(action, host) for host in hosts]
    errors = []
    for future in futures:
        try:
            future.result()
        except ReplicationError as err:
            errors.append(err)
    return errors


def replicate_write(
    ctx: HttpContext, remotes: list[str], path: str, needle: Needle, content_md5: str
) -> None:
    query = {"type": "replicate", "ttl": str(needle.ttl)}
    if needle.last_modified:
        query["ts"] = str(needle.last_modified)
    if needle.is_chunk_manifest:
        query["cm"] = "true"
    target = f"{quote(path, safe='/,')}?{urlencode(sorted(query.items()))}"
    errors = _all(
        remotes,
        lambda host: upload_needle(host, f"http://{host}{target}", needle, content_md5),
    )
    if errors:
        raise errors[0]


def replicate_delete(remotes: list[str], path: str) -> None:
    """Delete on every replica (``util_http.Delete``: 404 counts as done)."""

    target = f"{quote(path, safe='/,')}?type=replicate"

    def delete(host: str) -> None:
        request = urllib.request.Request(f"http://{host}{target}", method="DELETE")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        except urllib.error.HTTPError as err:
            if err.code != 404:
                raise _answer_error(host, err.read(), str(err.code)) from None
        except OSError as err:
            raise _failure(host, err) from None

    errors = _all(remotes, delete)
    if errors:
        raise errors[0]

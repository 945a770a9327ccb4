"""Replicated writes and deletes (``topology/store_replicate.go``).

A write that is not itself a replication (``type=replicate``) goes to the local volume and
then, for a volume with copies elsewhere, to every other
location the master lists, as a multipart upload marked ``type=replicate``. Any replica
failing fails the write or the delete with Go's message (each failure as ``[host]: error``).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlencode

from ...core.needle.record import Needle
from ...core.volume.volume import Volume
from ..replica_upload import ReplicationError, answer_error, connection_failure, upload_needle
from .context import HttpContext

log = logging.getLogger(__name__)

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="replicate")


def needs_replication(ctx: HttpContext, volume: Volume | None, query: dict[str, str]) -> bool:
    """Whether a write to ``volume`` (as the caller found it here) must be forwarded: not a
    replica itself, and the volume has copies elsewhere. (A volume that is not here fails
    locally, as 4.48 answers: ``volume N not found on ip:port``.)"""
    if query.get("type") == "replicate" or ctx.master is None:
        return False
    return volume is not None and volume.super_block.replica_placement.copy_count > 1


def remote_locations(ctx: HttpContext, volume_id: int, deleting: bool = False) -> list[str]:
    """``GetWritableRemoteReplications``: every other server holding the volume that the
    master does not report read-only. Too few of them fails the write or delete before it
    starts (4.48 words the two cases differently, checked against the binary)."""
    volume = ctx.store.find_volume(volume_id)
    master = ctx.master
    if master is None:
        raise ReplicationError(f"replicating lookup failed for {volume_id}: no master to ask")
    try:
        locations = master.lookup_writable(volume_id)
    except Exception as err:  # noqa: BLE001 - reported as Go words it
        raise ReplicationError(f"replicating lookup failed for {volume_id}: {err}") from None
    here = f"{ctx.config.ip}:{ctx.config.port}"
    remotes = [url for url in locations if url != here]
    if volume is not None:
        copies = volume.super_block.replica_placement.copy_count
        if len(locations) < copies:
            master.forget_lookup(volume_id)
            raise ReplicationError(
                f"{'' if deleting else 'writable '}replication locations [{len(locations)}] "
                f"is less than volume {volume_id} replication copy count [{copies}]"
            )
    return remotes


def _all(hosts: list[str], action: Callable[[str], object]) -> list[ReplicationError]:
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
                raise answer_error(host, err.read(), str(err.code)) from None
        except OSError as err:
            raise connection_failure(host, err) from None

    errors = _all(remotes, delete)
    if errors:
        raise errors[0]

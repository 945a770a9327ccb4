"""Sending a needle to another volume server as Go's uploader does (a multipart POST), and
the errors of doing so: shared by HTTP's replicated writes and gRPC's FetchAndWriteNeedle, so
neither adapter imports the other."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid

from ..core.needle.parse_upload import PAIR_NAME_PREFIX
from ..core.needle.record import Needle

log = logging.getLogger(__name__)


class ReplicationError(Exception):
    """A replication failure; ``reason`` is Go's ``classifyReplicationError`` label."""

    def __init__(self, message: str, reason: str = "server_error") -> None:
        super().__init__(message)
        self.reason = reason


def connection_failure(host: str, err: OSError) -> ReplicationError:
    text = str(err)
    if isinstance(err, TimeoutError) or "timed out" in text:
        reason = "timeout"
    elif isinstance(err, ConnectionRefusedError) or "Connection refused" in text:
        reason = "connection_refused"
    else:
        reason = "server_error"
    return ReplicationError(f"[{host}]: {text}", reason)


def answer_error(host: str, body: bytes, reason: str) -> ReplicationError:
    """A replica's non-2xx answer as Go's upload and delete helpers word it: the JSON
    ``error`` field when there is one, else the body."""
    detail = body.decode("utf-8", "replace")
    try:
        detail = json.loads(detail).get("error", detail)
    except (ValueError, AttributeError):
        pass
    return ReplicationError(f"[{host}]: {detail or reason}")


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
        raise answer_error(host, err.read(), str(err.reason)) from None
    except OSError as err:
        raise connection_failure(host, err) from None

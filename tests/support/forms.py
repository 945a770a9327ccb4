"""Building multipart/form-data upload bodies for tests."""

from __future__ import annotations

import uuid


def multipart(content: bytes, filename: str = "", mime: str = "") -> tuple[bytes, str]:
    """One ``file`` part: (body, Content-Type header value)."""
    boundary = uuid.uuid4().hex
    disposition = 'form-data; name="file"'
    if filename:
        disposition += f'; filename="{filename}"'
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
    if mime:
        head += f"Content-Type: {mime}\r\n"
    body = head.encode() + b"\r\n" + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"

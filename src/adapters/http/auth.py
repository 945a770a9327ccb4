"""JWT checks on file-id requests (``maybeCheckJwtAuthorization``, ``weed/security/jwt.go``).

Keys come from ``security.toml``: ``[jwt.signing] key`` guards writes and deletes,
``[jwt.signing.read] key`` guards reads; an empty key means no check. The token is the ``jwt``
query parameter, else an ``Authorization: Bearer`` header, else the ``AT`` cookie; it must be
an HMAC-signed token whose ``fid`` claim names the file (without a ``_delta`` suffix), within
its ``exp``/``nbf`` window. Every failure answers 401 ``{"error": "wrong jwt"}``.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import logging
import os
import time
import tomllib
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any, Final

from ...core.white_list import WhiteList

log = logging.getLogger(__name__)

WRONG_JWT: Final = "wrong jwt"
# Where Go's LoadSecurityConfiguration looks for security.toml, in order.
SECURITY_SEARCH_PATHS: Final = (
    "./security.toml",
    "~/.seaweedfs/security.toml",
    "/usr/local/etc/seaweedfs/security.toml",
    "/etc/seaweedfs/security.toml",
)


@dataclass(frozen=True, slots=True)
class JwtGuard:
    write_key: bytes = b""
    read_key: bytes = b""
    white_list: WhiteList = field(default_factory=WhiteList)
    """``-whiteList`` plus ``[guard] white_list``: IPs or CIDRs allowed to write and delete."""

    def with_white_list(self, extra: list[str]) -> JwtGuard:
        return JwtGuard(self.write_key, self.read_key, self.white_list + extra)

    def host_allowed(self, host: str) -> bool:
        return self.white_list.allows(host)

    @classmethod
    def from_security_file(cls, path: str = "") -> JwtGuard:
        candidates = [path] if path else [os.path.expanduser(p) for p in SECURITY_SEARCH_PATHS]
        for candidate in candidates:
            try:
                with open(candidate, "rb") as src:
                    config = tomllib.load(src)
            except FileNotFoundError:
                continue
            signing = config.get("jwt", {}).get("signing", {})
            read = signing.get("read", {}) if isinstance(signing.get("read"), dict) else {}
            log.info("loaded security configuration from %s", candidate)
            guard_list = str(config.get("guard", {}).get("white_list", ""))
            return cls(
                str(signing.get("key", "")).encode(),
                str(read.get("key", "")).encode(),
                WhiteList(guard_list.split(",")),
            )
        return cls()

    def allows(
        self, query: dict[str, str], headers: dict[str, str], vid: str, fid: str, is_write: bool
    ) -> bool:
        key = self.write_key if is_write else self.read_key
        if not key:
            return True
        token = _token(query, headers)
        if not token:
            return False
        claims = verified_claims(token, key)
        if claims is None:
            return False
        cut = fid.rfind("_")
        if cut > 0:
            fid = fid[:cut]
        return claims.get("fid") == f"{vid},{fid}"


_HMACS: Final = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}
_URL_SAFE: Final = bytes.maketrans(b"-_", b"+/")
# A cluster's tokens share one header segment ({"alg":"HS256","typ":"JWT"} as Go signs them):
# its digest is looked up once, not decoded per request. Bounded: a flood of odd headers only
# stops the caching.
_DIGEST_OF_HEADER: dict[str, str | None] = {}
_CACHED_AT_MOST: Final = 16
_KEYED: dict[tuple[bytes, str], tuple[Any, Any]] = {}
_SCAN_JSON: Final = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # set in __init__
_JSON_SPACE: Final = " \t\n\r"


def _segment(text: str) -> bytes:
    """A base64url JWT segment, unpadded as RFC 7515 writes it (Go's ``RawURLEncoding``
    refuses padding; so does this). Characters outside the alphabet are skipped, as
    ``base64.urlsafe_b64decode`` (PyJWT's decoder) skips them."""
    if "=" in text:
        raise ValueError("padded JWT segment")
    data = text.encode("ascii").translate(_URL_SAFE)
    return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


def _digest_of(head: str) -> str | None:
    """The hash of the header's HMAC ``alg``; ``None`` for any other algorithm."""
    try:
        return _DIGEST_OF_HEADER[head]
    except KeyError:
        pass
    header = json.loads(_segment(head).decode())
    algorithm = header.get("alg") if isinstance(header, dict) else None
    digest = _HMACS.get(algorithm) if isinstance(algorithm, str) else None
    if len(_DIGEST_OF_HEADER) < _CACHED_AT_MOST:
        _DIGEST_OF_HEADER[head] = digest
    return digest


def _signature(key: bytes, digest: str, signed: bytes) -> bytes:
    """HMAC (RFC 2104) of ``signed``, from the key's precomputed inner and outer hash states:
    ``hmac.digest`` would set the key up again (an OpenSSL fetch, ~10 us on a busy server)
    for every request, and ``hmac.HMAC.copy`` goes through Python code."""
    keyed = _KEYED.get((key, digest))
    if keyed is None:
        block = hashlib.new(digest).block_size
        short = hashlib.new(digest, key).digest() if len(key) > block else key
        padded = short.ljust(block, b"\0")
        keyed = (
            hashlib.new(digest, bytes(b ^ 0x36 for b in padded)),
            hashlib.new(digest, bytes(b ^ 0x5C for b in padded)),
        )
        if len(_KEYED) < _CACHED_AT_MOST:
            _KEYED[key, digest] = keyed
    inner, outer = keyed[0].copy(), keyed[1].copy()
    inner.update(signed)
    outer.update(inner.digest())
    result: bytes = outer.digest()
    return result


def _json_object(text: str) -> Any:
    """``json.loads`` of a small document through the C scanner alone (what ``loads`` does
    underneath, without its three Python calls): ``ValueError`` on anything it refuses."""
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    try:
        value, end = _SCAN_JSON(text, start)
    except StopIteration:
        raise ValueError("not JSON") from None
    if text[end:].strip(_JSON_SPACE):
        raise ValueError("extra data after JSON")
    return value


def verified_claims(token: str, key: bytes, now: float | None = None) -> dict | None:
    """The claims of an HMAC-signed JWT whose signature, ``exp`` and ``nbf`` hold, else
    ``None``. What ``jwt.decode(token, key, algorithms=HS256/384/512, verify_iat off)``
    accepts, less padded segments, which Go refuses too (``tests/unit/test_jwt_verify.py``
    holds the two side by side), in a few microseconds instead of ~25: every guarded request
    pays it."""
    head, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if not signature or "." in signature:
        return None
    try:
        digest = _digest_of(head)
        if digest is None:
            return None
        signed = token[: len(head) + 1 + len(payload)].encode()
        if not hmac.compare_digest(_signature(key, digest, signed), _segment(signature)):
            return None
        claims = _json_object(_segment(payload).decode())
    except (ValueError, TypeError, RecursionError):  # RecursionError: JSON nested too deep
        return None
    if not isinstance(claims, dict):
        return None
    moment = time.time() if now is None else now
    try:
        if "exp" in claims and int(claims["exp"]) <= moment:
            return None
        if "nbf" in claims and int(claims["nbf"]) > moment:
            return None
    except (ValueError, TypeError):
        return None
    return claims


def _token(query: dict[str, str], headers: dict[str, str]) -> str:
    token = query.get("jwt", "")
    if not token:
        bearer = headers.get("authorization", "")
        if len(bearer) > 7 and bearer[:6].upper() == "BEARER":
            token = bearer[7:]
    if not token and "cookie" in headers:
        cookie = SimpleCookie()
        try:
            cookie.load(headers["cookie"])
        except Exception:  # noqa: BLE001 - a malformed cookie header carries no token
            return ""
        if "AT" in cookie:
            token = cookie["AT"].value
    return token

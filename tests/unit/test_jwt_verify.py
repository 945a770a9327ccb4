"""The lean JWT check against PyJWT, the reference it replaces on the hot path: the same
verdict for well-formed, tampered, expired, premature, oddly typed and malformed tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time

import jwt
import pytest

from seaweed_volume.adapters.http import auth
from seaweed_volume.adapters.http.auth import verified_claims

KEY = b"the-write-key-of-this-test-0123456789-abcdefghijklmnopqrstuvwxyz"
NOW = 1_800_000_000


def reference(token: str, key: bytes) -> dict | None:
    try:
        return jwt.decode(
            token,
            key,
            algorithms=["HS256", "HS384", "HS512"],
            options={"verify_iat": False, "verify_aud": False},
        )
    except jwt.PyJWTError:
        return None


def raw_token(header: object, claims: object, key: bytes = KEY, alg: str = "HS256") -> str:
    """A token signed over arbitrary JSON (PyJWT refuses to build some of these)."""

    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    head, body = part(header), part(claims)
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signature = hmac.new(key, f"{head}.{body}".encode(), digest).digest()
    return f"{head}.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def tokens() -> list[str]:
    now = int(time.time())
    fid = {"fid": "3,01637037d6"}
    made = [
        jwt.encode(fid, KEY, algorithm="HS256"),
        jwt.encode(fid, KEY, algorithm="HS384"),
        jwt.encode(fid, KEY, algorithm="HS512"),
        jwt.encode({**fid, "exp": now + 60}, KEY, algorithm="HS256"),
        jwt.encode({**fid, "exp": now - 1}, KEY, algorithm="HS256"),
        jwt.encode({**fid, "exp": now}, KEY, algorithm="HS256"),
        jwt.encode({**fid, "nbf": now + 60}, KEY, algorithm="HS256"),
        jwt.encode({**fid, "nbf": now - 60, "exp": now + 60}, KEY, algorithm="HS256"),
        jwt.encode({**fid, "iat": "not a number"}, KEY, algorithm="HS256"),
        jwt.encode(fid, b"another key", algorithm="HS256"),
        jwt.encode(fid, KEY, algorithm="HS256", headers={"kid": "1"}),
        raw_token({"alg": "HS256", "typ": "JWT"}, {**fid, "exp": "soon"}),
        raw_token({"alg": "HS256"}, {**fid, "exp": str(now + 60)}),
        raw_token({"alg": "HS256"}, {**fid, "exp": now + 60.5}),
        raw_token({"alg": "HS256"}, {**fid, "nbf": None}),
        raw_token({"alg": "HS256"}, ["not", "an", "object"]),
        raw_token({"alg": "none"}, fid),
        raw_token({"alg": "RS256"}, fid),
        raw_token("a string header", fid),
        raw_token({}, fid),
        "abc.def.ghi",
        "only.two",
        "",
        "...",
        "a.b.c.d",
    ]
    good = made[0]
    head, body, signature = good.split(".")
    made += [
        f"{head}.{body}.{signature[:-2]}",
        f"{head}.{body}x.{signature}",
        f"{head}={head}.{body}.{signature}",
        f"{head}.{body}.{signature}==",
    ]
    rng = random.Random(7)
    for _ in range(200):  # random single-character damage
        chars = list(good)
        chars[rng.randrange(len(chars))] = rng.choice("abcXYZ019-_.=")
        made.append("".join(chars))
    return made


@pytest.mark.parametrize("token", tokens())
def test_the_lean_check_agrees_with_pyjwt(token: str) -> None:
    """Padding is refused outright (RFC 7515 segments are unpadded; Go refuses it too)."""
    expected = None if "=" in token else reference(token, KEY)
    assert verified_claims(token, KEY) == expected


def test_the_window_is_checked_at_the_given_moment() -> None:
    token = jwt.encode({"fid": "1,ff", "nbf": NOW, "exp": NOW + 10}, KEY, algorithm="HS256")
    assert verified_claims(token, KEY, now=NOW - 1) is None
    assert verified_claims(token, KEY, now=NOW)["fid"] == "1,ff"
    assert verified_claims(token, KEY, now=NOW + 10) is None


def test_json_nested_too_deep_is_a_wrong_token_not_a_crash() -> None:
    """A URL holds up to 64 KiB: enough brackets to exhaust the JSON parser's recursion."""
    deep = base64.urlsafe_b64encode(b"[" * 40_000).rstrip(b"=").decode()
    assert verified_claims(f"{deep}.e30.c2ln", KEY) is None
    head = base64.urlsafe_b64encode(b'{"alg":"HS256"}').rstrip(b"=").decode()
    signed = f"{head}.{deep}"
    signature = hmac.new(KEY, signed.encode(), hashlib.sha256).digest()
    token = f"{signed}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    assert verified_claims(token, KEY) is None


@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("length", [1, 32, 64, 65, 128, 129, 300])
def test_the_kept_hash_states_sign_as_hmac_does(digest: str, length: int) -> None:
    key = bytes(range(256))[:length] * (length // 256 + 1)
    key = key[:length]
    for message in (b"", b"a.b", b"x" * 1000):
        expected = hmac.new(key, message, digest).digest()
        assert auth._signature(key, digest, message) == expected


@pytest.mark.parametrize(
    "text",
    ['{"fid":"3,01"}', ' \t{"exp": 1}\r\n', "[1, 2]", '"s"', "{}x", "", "  ", "{", "[1,]", "nan"],
)
def test_claims_are_read_as_json_loads_reads_them(text: str) -> None:
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            auth._json_object(text)
    else:
        assert auth._json_object(text) == expected

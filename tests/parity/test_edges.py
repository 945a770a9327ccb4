"""Differential: edge cases of the HTTP surface, each a short script of requests sent to the
Go 4.48 volume server and to ours, every answer compared.

Go's ``ParseForm`` side effects, name and extension rules for types, ``dl`` spellings,
``readDeleted``, TTL and ``ts`` options, conditional reads, pairs, unchanged rewrites, bad
multipart bodies and odd methods.
"""

from __future__ import annotations

import gzip
import itertools

import pytest

from tests.parity.test_basic_data_path import TS, both
from tests.support.compare import assert_same
from tests.support.forms import multipart
from tests.support.pair import go_and_ours

_keys = itertools.count(0x600)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    with go_and_ours(str(tmp_path_factory.mktemp("edges"))) as urls:
        yield urls


def fid() -> str:
    return f"1,{next(_keys):x}0000abcd"


def upload(name: str, content: bytes = b"some content", mime: str = "") -> tuple:
    body, content_type = multipart(content, name, mime)
    return ("POST", f"?ts={TS}", body, {"Content-Type": content_type})


GZIP = {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}
BROKEN_GZIP = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 20  # bad block type
TRUNCATED_GZIP = gzip.compress(b"hello world " * 1000, mtime=0)[:30]
LONG_BOUNDARY = "x" * 5000
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TEXT = {"Content-Type": "text/plain"}
READ = ("GET", "", None, {"Accept-Encoding": "identity"})

# name -> requests on one fresh file id; a suffix starting with "/" is a file name after the
# /vid/fid form of the path.
SCRIPTS: dict[str, list[tuple]] = {
    # Go's ParseForm runs before every upload.
    "form body stored empty": [("PUT", f"?ts={TS}", b"a=1&b=2", FORM), READ],
    "form body options win over the query": [("POST", "?ts=5", b"ts=1700000000", FORM), READ],
    "form body bad escape": [("POST", "", b"a=%zz", FORM), READ],
    "form body semicolon": [("POST", "", b"a;b", FORM)],
    "form body bad escape then semicolon": [("POST", "", b"a=%zz&b;c&d=%", FORM)],
    "query bad escape then semicolon": [("POST", "?a=%zz&b;c", b"x", TEXT)],
    "form type with charset": [
        ("POST", f"?ts={TS}", b"x", {"Content-Type": "Application/X-WWW-Form-Urlencoded; a=b"}),
        READ,
    ],
    "form body too many fields": [("POST", "", b"&" * 10000, FORM)],
    "query bad escape": [("POST", "?a=%zz", b"x", TEXT)],
    "query semicolon": [("PUT", "?a;b", b"x", TEXT)],
    "query bad escape on delete": [("PUT", f"?ts={TS}", b"x", TEXT), ("DELETE", "?a=%zz")],
    "query bad escape on read": [("PUT", f"?ts={TS}", b"x", TEXT), ("GET", "?a=%zz")],
    "type without slash": [("POST", f"?ts={TS}", b"x", {"Content-Type": "text"}), READ],
    "type trailing semicolon": [("POST", f"?ts={TS}", b"x", {"Content-Type": "text/plain;"})],
    "type bad parameter": [("POST", "", b"x", {"Content-Type": "text/plain; charset"})],
    "type without type": [("POST", "", b"x", {"Content-Type": "/plain"})],
    "type without subtype": [("POST", "", b"x", {"Content-Type": "text/"})],
    "type trailing junk": [("POST", "", b"x", {"Content-Type": "text/plain junk"})],
    "type duplicate parameter": [("PUT", "", b"x", {"Content-Type": "a/b; x=1; x=2"})],
    # Types from names and extensions.
    "json by name": [upload("data.json", b'{"a": 1}'), READ],
    "css by name": [upload("style.css", b"body{}"), READ],
    "svg by name": [upload("pic.svg", b"<svg/>"), READ],
    "unknown extension": [upload("file.zzz", b"\x00\x01binary"), READ],
    "no extension sniffed": [upload("README", b"plain words here"), READ],
    "upper-case extension": [upload("PHOTO.JPG", b"\xff\xd8\xff\xe0 not really"), READ],
    "type given and name disagree": [upload("x.txt", b"hello", "application/json"), READ],
    "other name in the path": [upload("a.txt", b"hello"), ("GET", "/other.json")],
    "extension in the path": [upload("a.bin", b"\x00\x00"), ("GET", ".png")],
    # The path name is decoded (Go's URL.Path), then quoted as mime.FormatMediaType does.
    "escaped name in the path": [upload("a.txt"), ("GET", "/other%20name.txt?dl=true")],
    "escaped name in the path inline": [upload("a.txt"), ("GET", "/other%20name.txt")],
    "escaped quote and semicolon": [upload("a.txt"), ("GET", "/we%22ird%3Bname.json?dl=1")],
    "escaped unicode name": [upload("a.txt"), ("GET", "/caf%C3%A9.txt?dl=1")],
    "escaped extension": [upload("a.txt", b"{}"), ("GET", "/x%2Ejson")],
    "escaped name uploaded in the path": [
        ("PUT", f"/up%20load.txt?ts={TS}", b"raw body", TEXT),
        ("GET", "?dl=1"),
    ],
    # dl spellings
    "dl=t": [upload("d.txt"), ("GET", "?dl=t")],
    "dl=0": [upload("d.txt"), ("GET", "?dl=0")],
    "dl=TRUE": [upload("d.txt"), ("GET", "?dl=TRUE")],
    "dl=junk": [upload("d.txt"), ("GET", "?dl=junk")],
    "quoted name": [upload('we ird;name".txt'), ("GET", "?dl=1")],
    "unicode name": [upload("caf\u00e9.txt"), READ],
    # deletes, readDeleted, TTL
    "readDeleted": [upload("gone.txt"), ("DELETE", ""), ("GET", "?readDeleted=true")],
    "readDeleted=false": [upload("gone.txt"), ("DELETE", ""), ("GET", "?readDeleted=false")],
    "delete with ts": [upload("ts.txt"), ("DELETE", "?ts=1600000000"), READ],
    "ttl option": [("PUT", f"?ts={TS}&ttl=3d", b"lives", TEXT), READ],
    "bad ttl ignored": [("PUT", f"?ts={TS}&ttl=3x", b"lives", TEXT), READ],
    "bad ts ignored": [("PUT", "?ts=yesterday&ttl=5m", b"x", TEXT), ("HEAD", "")],
    # conditional reads, ranges on tiny files
    "etag mismatch": [upload("e.txt"), ("GET", "", None, {"If-None-Match": '"nope"'})],
    "modified since long ago": [
        upload("m.txt"),
        ("GET", "", None, {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}),
    ],
    "modified since garbage": [
        upload("m.txt"),
        ("GET", "", None, {"If-Modified-Since": "yesterday"}),
    ],
    "range of an empty file": [
        ("PUT", f"?ts={TS}", b"", TEXT),
        ("GET", "", None, {"Range": "bytes=0-1"}),
    ],
    "range whole file": [upload("r.txt", b"0123456789"), ("GET", "", None, {"Range": "bytes=0-9"})],
    # pairs, checksums, rewrites
    "pairs any case": [
        ("PUT", f"?ts={TS}", b"p", {**TEXT, "seaweed-lower": "v", "SEAWEED-UP": "w"}),
        READ,
    ],
    "content md5 right": [
        ("PUT", f"?ts={TS}", b"abc", {**TEXT, "Content-MD5": "kAFQmDzST7DWlj99KOF/cg=="}),
    ],
    "unchanged rewrite": [("PUT", f"?ts={TS}", b"same", TEXT), ("PUT", f"?ts={TS}", b"same", TEXT)],
    "changed rewrite": [
        ("PUT", f"?ts={TS}", b"one", TEXT),
        ("PUT", f"?ts={TS}", b"two", TEXT),
        READ,
    ],
    "cm=false on a plain file": [upload("c.txt"), ("GET", "?cm=false")],
    "pretty error": [("POST", "?pretty=y", b"x", {"Content-Type": "text/plain; charset"})],
    # bad multipart bodies
    "multipart without boundary": [
        ("POST", "", b"--x\r\n", {"Content-Type": "multipart/form-data"})
    ],
    "multipart without parts": [
        ("POST", "", b"--xyz--\r\n", {"Content-Type": "multipart/form-data; boundary=xyz"})
    ],
    "multipart cut short": [
        (
            "POST",
            "",
            b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
            {"Content-Type": "multipart/form-data; boundary=xyz"},
        ),
    ],
    "multipart boundary past 4 KiB": [
        (
            "POST",
            "",
            f'--{LONG_BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a"'
            f"\r\n\r\nhello\r\n--{LONG_BOUNDARY}--\r\n".encode(),
            {"Content-Type": f"multipart/form-data; boundary={LONG_BOUNDARY}"},
        ),
    ],
    # gzip bodies that do not inflate: stored as sent, read back empty without gzip
    "gzip that does not inflate": [
        ("PUT", f"?ts={TS}", BROKEN_GZIP, GZIP),
        READ,
        ("GET", "", None, {"Accept-Encoding": "gzip"}),
    ],
    "truncated gzip": [
        ("PUT", f"?ts={TS}", TRUNCATED_GZIP, GZIP),
        READ,
        ("GET", "", None, {"Accept-Encoding": "gzip"}),
    ],
    # methods
    # Header values from the query: a line break is a space, text is its UTF-8, ends trimmed.
    "response header with a line break": [
        ("PUT", "", b"x", TEXT),
        ("GET", "?response-expires=a%0D%0AX-Evil:%201"),
        ("GET", "?response-content-language=%20en%09"),
        ("GET", "?response-cache-control=%E2%82%AC%20caf%C3%A9"),
    ],
    "file name with a line break": [
        ("PUT", "", b"x", TEXT),
        ("GET", "/a%0D%0AX-Evil:%201.txt"),
    ],
    "TRACE": [("TRACE", "")],
    "PROPFIND": [("PROPFIND", "")],
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_edge_scripts_match(servers, name: str) -> None:
    target = fid()
    for step, request in enumerate(SCRIPTS[name]):
        method, suffix, *rest = request
        body = rest[0] if rest else None
        headers = rest[1] if len(rest) > 1 else {}
        path = f"/{target.replace(',', '/')}{suffix}" if suffix[:1] == "/" else f"/{target}{suffix}"
        go, ours = both(servers, method, path, body, headers)
        assert_same(go, ours, f"{name} #{step}: {method} {path}")

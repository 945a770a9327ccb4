"""The volume server's ``Query`` over JSON lines (weed/query/json, gjson paths).

A needle holding newline-separated JSON documents is filtered by one condition on a field
and projected onto the selected fields. Values keep their raw JSON text, as gjson's ``Raw``
does, so ``{"score": 12.50}`` selects as ``12.50``. Paths are gjson's common form: keys
separated by dots (``a.b``), array indexes (``list.0``) and ``#`` for an array's length.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_decoder = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Node:
    kind: str
    """``string``, ``number``, ``true``, ``false``, ``null``, ``object`` or ``array``."""
    raw: str
    value: Any
    """The Python value; for objects a dict of key -> Node, for arrays a list of Node."""


def _skip_space(text: str, at: int) -> int:
    """Where the JSON whitespace starting at ``at`` ends."""
    match = _WHITESPACE.match(text, at)
    return match.end() if match else at


def parse(text: str, at: int = 0) -> tuple[Node, int]:
    """One JSON value starting at ``at`` (after whitespace); returns it and where it ends."""
    at = _skip_space(text, at)
    if at >= len(text):
        raise ValueError("unexpected end of JSON")
    char = text[at]
    if char == "{":
        return _parse_object(text, at)
    if char == "[":
        return _parse_array(text, at)
    if char == '"':
        value, end = _decoder.raw_decode(text, at)
        return Node("string", text[at:end], value), end
    for literal, kind, literal_value in (("true", "true", True), ("false", "false", False)):
        if text.startswith(literal, at):
            return Node(kind, literal, literal_value), at + len(literal)
    if text.startswith("null", at):
        return Node("null", "null", None), at + 4
    number = _NUMBER.match(text, at)
    if number:
        return Node("number", number.group(), float(number.group())), number.end()
    raise ValueError(f"invalid JSON at {at}")


def _parse_object(text: str, at: int) -> tuple[Node, int]:
    """The object whose ``{`` is at ``at``: members by key, each a :class:`Node`."""
    members: dict[str, Node] = {}
    end = _skip_space(text, at + 1)
    if text[end : end + 1] == "}":
        return Node("object", text[at : end + 1], members), end + 1
    while True:
        key, end = _decoder.raw_decode(text, _skip_space(text, end))
        end = _skip_space(text, end)
        if text[end : end + 1] != ":":
            raise ValueError("expected ':' in JSON object")
        node, end = parse(text, end + 1)
        members[str(key)] = node
        end = _skip_space(text, end)
        if text[end : end + 1] == ",":
            end += 1
            continue
        if text[end : end + 1] == "}":
            return Node("object", text[at : end + 1], members), end + 1
        raise ValueError("expected ',' or '}' in JSON object")


def _parse_array(text: str, at: int) -> tuple[Node, int]:
    """The array whose ``[`` is at ``at``: a list of :class:`Node`."""
    items: list[Node] = []
    end = _skip_space(text, at + 1)
    if text[end : end + 1] == "]":
        return Node("array", text[at : end + 1], items), end + 1
    while True:
        node, end = parse(text, end)
        items.append(node)
        end = _skip_space(text, end)
        if text[end : end + 1] == ",":
            end += 1
            continue
        if text[end : end + 1] == "]":
            return Node("array", text[at : end + 1], items), end + 1
        raise ValueError("expected ',' or ']' in JSON array")


def get(node: Node | None, path: str) -> Node | None:
    """The value at a gjson path, ``None`` when it does not exist."""
    for part in _split_path(path):
        if node is None:
            return None
        if node.kind == "object":
            node = node.value.get(part)
        elif node.kind == "array":
            if part == "#":
                count = str(len(node.value))
                return Node("number", count, float(count))
            node = node.value[int(part)] if part.isdigit() and int(part) < len(node.value) else None
        else:
            return None
    return node


def _split_path(path: str) -> list[str]:
    parts, current, escaped = [], [], False
    for char in path:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def passes(line: Node, field: str, op: str, value: str) -> bool:
    """``filterJson``: the field must exist; no operator means existence is enough."""
    found = get(line, field)
    if found is None:
        return False
    if op == "":
        return True
    if found.kind == "string":
        text: str = found.value
        comparisons = {
            "=": text == value,
            "!=": text != value,
            "<": text < value,
            "<=": text <= value,
            ">": text > value,
            ">=": text >= value,
            "%": fnmatch.fnmatchcase(text, value),
            "!%": not fnmatch.fnmatchcase(text, value),
        }
        return comparisons.get(op, False)
    if found.kind == "number":
        try:
            wanted = float(value)
        except ValueError:
            wanted = 0.0  # Go ignores the ParseFloat error
        number: float = found.value
        comparisons = {
            "=": number == wanted,
            "!=": number != wanted,
            "<": number < wanted,
            "<=": number <= wanted,
            ">": number > wanted,
            ">=": number >= wanted,
        }
        return comparisons.get(op, False)
    if found.kind == "true":
        return {"=": value == "true", "!=": value != "true", ">": value == "false", ">=": True}.get(
            op, False
        )
    if found.kind == "false":
        return {
            "=": value == "false",
            "!=": value != "false",
            "<": value == "true",
            "<=": True,
        }.get(op, False)
    return False


def query_lines(
    data: bytes | bytearray | memoryview, selections: list[str], field: str, op: str, value: str
) -> bytes:
    """Every line passing the filter as ``{sel:raw,...}`` (Go's ``ToJson``: keys unquoted, a
    missing field empty), concatenated."""
    out = []
    for raw_line in str(data, "utf-8", "replace").split("\n"):
        if not raw_line.strip():
            continue
        try:
            line, _ = parse(raw_line)
        except ValueError:
            continue
        if not passes(line, field, op, value):
            continue
        fields = []
        for selection in selections:
            found = get(line, selection)
            fields.append(f"{selection}:{found.raw if found is not None else ''}")
        out.append("{" + ",".join(fields) + "}")
    return "".join(out).encode()

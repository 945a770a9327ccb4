"""The ``.vif`` file: a ``VolumeInfo`` protobuf message written as protojson.

Go writes it with ``protojson.MarshalOptions{EmitUnpopulated: true, Indent: "  "}``
(``weed/storage/volume_info/volume_info.go``): fields in field-number order, camelCase names,
64-bit integers as strings, two spaces after each colon, no trailing newline. It reads with
protojson, which takes camelCase or original names and numbers or strings for 64-bit values.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from .atomic_file import replace_file

log = logging.getLogger(__name__)

_UINT64 = "uint64"
_INT64 = "int64"

# (json name, proto name, kind) in field-number order: message RemoteFile.
_REMOTE_FILE_FIELDS = (
    ("backendType", "backend_type", "string"),
    ("backendId", "backend_id", "string"),
    ("key", "key", "string"),
    ("offset", "offset", _UINT64),
    ("fileSize", "file_size", _UINT64),
    ("modifiedTime", "modified_time", _UINT64),
    ("extension", "extension", "string"),
)


class VolumeInfoError(ValueError):
    pass


@dataclass(slots=True)
class RemoteFile:
    backend_type: str = ""
    backend_id: str = ""
    key: str = ""
    offset: int = 0
    file_size: int = 0
    modified_time: int = 0
    extension: str = ""

    def to_json_fields(self) -> list[tuple[str, Any]]:
        return [(j, _emit(getattr(self, p), kind)) for j, p, kind in _REMOTE_FILE_FIELDS]

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RemoteFile:
        values = {p: _read(obj, j, p, kind) for j, p, kind in _REMOTE_FILE_FIELDS}
        return cls(**values)


@dataclass(slots=True)
class VolumeInfo:
    files: list[RemoteFile] = field(default_factory=list)
    version: int = 0
    replication: str = ""
    bytes_offset: int = 0
    dat_file_size: int = 0
    expire_at_sec: int = 0
    read_only: bool = False
    ec_shard_config: dict[str, Any] | None = None
    """Kept as the JSON object Go wrote (its fields vary between Go releases)."""
    read_only_can_delete: bool = False

    def to_json(self) -> str:
        """Bytes for bytes what Go's ``SaveVolumeInfo`` writes."""
        fields: list[tuple[str, Any]] = [
            ("files", [_Object(f.to_json_fields()) for f in self.files]),
            ("version", self.version),
            ("replication", self.replication),
            ("bytesOffset", self.bytes_offset),
            ("datFileSize", str(self.dat_file_size)),
            ("expireAtSec", str(self.expire_at_sec)),
            ("readOnly", self.read_only),
            (
                "ecShardConfig",
                None
                if self.ec_shard_config is None
                else _Object(list(self.ec_shard_config.items())),
            ),
            ("readOnlyCanDelete", self.read_only_can_delete),
        ]
        return _format(_Object(fields), 0)

    @classmethod
    def from_json(cls, text: str | bytes) -> VolumeInfo:
        try:
            obj = json.loads(text)
        except ValueError as err:
            raise VolumeInfoError(f"unmarshal error: {err}") from None
        if not isinstance(obj, dict):
            raise VolumeInfoError("unmarshal error: volume info is not a JSON object")
        files = _pick(obj, "files", "files") or []
        ec = _pick(obj, "ecShardConfig", "ec_shard_config")
        return cls(
            files=[RemoteFile.from_json(f) for f in files],
            version=_read(obj, "version", "version", _UINT64),
            replication=_read(obj, "replication", "replication", "string"),
            bytes_offset=_read(obj, "bytesOffset", "bytes_offset", _UINT64),
            dat_file_size=_read(obj, "datFileSize", "dat_file_size", _INT64),
            # Older Go releases called the expiry destroyTime (OldVersionVolumeInfo).
            expire_at_sec=_read(obj, "expireAtSec", "expire_at_sec", _UINT64)
            or _read(obj, "destroyTime", "destroy_time", _UINT64),
            read_only=_read(obj, "readOnly", "read_only", "bool"),
            ec_shard_config=ec if isinstance(ec, dict) else None,
            read_only_can_delete=_read(obj, "readOnlyCanDelete", "read_only_can_delete", "bool"),
        )

    @property
    def has_remote_file(self) -> bool:
        return bool(self.files)


class _Object(list):
    """An ordered JSON object: a list of (key, value) pairs."""


def _emit(value: Any, kind: str) -> Any:
    return str(value) if kind in (_UINT64, _INT64) else value


def _pick(obj: dict[str, Any], json_name: str, proto_name: str) -> Any:
    if json_name in obj:
        return obj[json_name]
    return obj.get(proto_name)


def _read(obj: dict[str, Any], json_name: str, proto_name: str, kind: str) -> Any:
    value = _pick(obj, json_name, proto_name)
    if kind == "string":
        return value if isinstance(value, str) else ""
    if kind == "bool":
        return bool(value) if isinstance(value, bool) else False
    if value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise VolumeInfoError(
            f"unmarshal error: invalid value for {json_name}: {value!r}"
        ) from None


def _format(value: Any, depth: int) -> str:
    """Go protojson's indented layout: ``"key":  value``, nested by two spaces."""
    inner = "  " * (depth + 1)
    outer = "  " * depth
    if isinstance(value, _Object):
        if not value:
            return "{}"
        rows = [f"{inner}{json.dumps(k)}:  {_format(v, depth + 1)}" for k, v in value]
        return "{\n" + ",\n".join(rows) + "\n" + outer + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        rows = [inner + _format(v, depth + 1) for v in value]
        return "[\n" + ",\n".join(rows) + "\n" + outer + "]"
    if isinstance(value, dict):
        return _format(_Object(value.items()), depth)
    return json.dumps(value, ensure_ascii=False)


def load_volume_info(path: str) -> VolumeInfo | None:
    """``MaybeLoadVolumeInfo``: ``None`` when there is no (or an empty) ``.vif``."""
    try:
        with open(path, "rb") as src:
            text = src.read()
    except FileNotFoundError:
        return None
    if not text.strip():
        log.warning("empty volume info file %s, treating as non-existent", path)
        return None
    return VolumeInfo.from_json(text)


def save_volume_info(path: str, info: VolumeInfo) -> None:
    """``SaveVolumeInfo``, made atomic: write a temporary file, fsync, rename."""
    replace_file(path, info.to_json().encode())

"""The volume server's persistent flags (``store_state.go``): maintenance mode and a version.

Stored as the protobuf ``VolumeServerState`` in ``state.pb`` of the first data directory,
encoded here by hand (two varint fields) so the core needs no generated code.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

STATE_FILE_NAME = "state.pb"


class StateVersionMismatch(ValueError):
    pass


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(raw: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


@dataclass
class ServerState:
    maintenance: bool = False
    version: int = 0

    def encode(self) -> bytes:
        out = b""
        if self.maintenance:
            out += b"\x08\x01"
        if self.version:
            out += b"\x10" + _varint(self.version)
        return out

    @classmethod
    def decode(cls, raw: bytes) -> ServerState:
        state = cls()
        pos = 0
        while pos < len(raw):
            tag, pos = _read_varint(raw, pos)
            field, wire = tag >> 3, tag & 7
            if wire == 0:
                value, pos = _read_varint(raw, pos)
                if field == 1:
                    state.maintenance = bool(value)
                elif field == 2:
                    state.version = value & 0xFFFFFFFF
            elif wire == 2:
                length, pos = _read_varint(raw, pos)
                pos += length
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            else:
                raise ValueError(f"unsupported wire type {wire} in {STATE_FILE_NAME}")
        return state


class StateStore:
    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, STATE_FILE_NAME)
        self._lock = threading.Lock()
        try:
            with open(self.path, "rb") as src:
                self.state = ServerState.decode(src.read())
        except FileNotFoundError:
            self.state = ServerState()

    def update(self, maintenance: bool, version: int) -> ServerState:
        """``State.Update``: the caller's version must match; the stored one then increments."""
        with self._lock:
            if version != self.state.version:
                raise StateVersionMismatch(
                    f"version mismatch for VolumeServerState (got {self.state.version}, "
                    f"want {version})"
                )
            new = ServerState(maintenance=maintenance, version=(version + 1) & 0xFFFFFFFF)
            tmp = self.path + ".tmp"
            with open(tmp, "wb") as out:
                out.write(new.encode())
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            self.state = new
            return new

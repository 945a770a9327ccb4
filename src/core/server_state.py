"""The volume server's persistent flags (``store_state.go``): maintenance mode and a version.

Stored as the protobuf ``VolumeServerState`` in ``state.pb`` of the first data directory,
encoded here by hand (two varint fields) so the core needs no generated code.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from .protowire import VARINT, fields, int_field

STATE_FILE_NAME = "state.pb"


class StateVersionMismatch(ValueError):
    pass


@dataclass
class ServerState:
    maintenance: bool = False
    version: int = 0

    def encode(self) -> bytes:
        return int_field(1, int(self.maintenance)) + int_field(2, self.version)

    @classmethod
    def decode(cls, raw: bytes) -> ServerState:
        state = cls()
        try:
            for number, wire, value in fields(raw):
                if wire != VARINT or not isinstance(value, int):
                    continue
                if number == 1:
                    state.maintenance = bool(value)
                elif number == 2:
                    state.version = value & 0xFFFFFFFF
        except ValueError as err:
            raise ValueError(f"{STATE_FILE_NAME}: {err}") from None
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

"""Remote tiers for volume ``.dat`` files (Go's ``backend.BackendStorages``, volume_tier.go).

The master names the backends (``GetMasterConfiguration``'s storage backends, from its
``master.toml``); factories registered by plugins build them by type. A volume whose ``.vif``
lists a remote file reads its ``.dat`` from the tier, read-only.

Beyond Go: ``-tierConfig=<file>`` names backends on the volume server's side, in
``master.toml``'s ``[storage.backend.<type>.<id>]`` form. A stock Go master refuses to start
on a type it was not built with, so a plugin's type can only be configured this way; the
file's backends come first, the master's add the names the file does not have.
"""

from __future__ import annotations

import logging
import threading
import tomllib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import ReadOnlyVolume, VolumeError
from .ports import TierBackend, TierBackendFactory

log = logging.getLogger(__name__)


class TierConfigError(ValueError):
    """A ``-tierConfig`` file that cannot be read or is not in ``master.toml``'s form."""


@dataclass(frozen=True, slots=True)
class TierBackendConfig:
    """One ``[storage.backend.<type>.<id>]`` table."""

    type: str
    id: str
    properties: dict[str, str] = field(default_factory=dict)


def _property(value: object) -> str:
    """A TOML value as the string Go's ``GetString`` would give (``true``, ``12``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_tier_config(text: str) -> list[TierBackendConfig]:
    """The enabled backends of a ``master.toml``-style text (other sections are ignored, so
    the master's own file can be used as it is). Values become strings, as the master hands
    them out; ``enabled`` is not passed on."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise TierConfigError(str(err)) from None
    types = document.get("storage", {}).get("backend", {})
    if not isinstance(types, dict):
        raise TierConfigError("[storage.backend] must be a table of tables")
    found = []
    for backend_type, backends in types.items():
        if not isinstance(backends, dict) or "." in backend_type:
            raise TierConfigError(f"storage.backend.{backend_type}: expected [<type>.<id>] tables")
        for backend_id, table in backends.items():
            if not isinstance(table, dict) or "." in backend_id:
                raise TierConfigError(
                    f"storage.backend.{backend_type}.{backend_id}: expected a table"
                )
            enabled = table.get("enabled", False)
            if enabled is not True and str(enabled).lower() != "true":
                continue
            properties = {k: _property(v) for k, v in table.items() if k != "enabled"}
            found.append(TierBackendConfig(backend_type, backend_id, properties))
    return found


def load_tier_config(path: str) -> list[TierBackendConfig]:
    try:
        with open(path, encoding="utf-8") as src:
            return parse_tier_config(src.read())
    except OSError as err:
        raise TierConfigError(f"cannot read: {err.strerror or err}") from None


class TierRegistry:
    def __init__(self, factories: dict[str, TierBackendFactory] | None = None) -> None:
        self.factories = dict(factories or {})
        self.backends: dict[str, TierBackend] = {}
        self._lock = threading.Lock()

    def configure(self, backend_type: str, backend_id: str, properties: dict[str, str]) -> None:
        """Add ``<type>.<id>`` (and ``<type>`` for the ``default`` id) unless known already
        (``LoadFromPbStorageBackends``)."""
        name = f"{backend_type}.{backend_id}"
        with self._lock:
            if name in self.backends:
                return
            factory = self.factories.get(backend_type)
            if factory is None:
                log.warning("storage type %s not found", backend_type)
                return
            backend = factory.create(backend_id, properties)
            self.backends[name] = backend
            if backend_id == "default":
                self.backends[backend_type] = backend

    def configure_all(self, configs: Iterable[TierBackendConfig]) -> None:
        for config in configs:
            self.configure(config.type, config.id, config.properties)

    def get(self, name: str) -> TierBackend:
        backend = self.backends.get(name)
        if backend is None:
            raise VolumeError(
                f"destination {name} not found, supported: [{' '.join(sorted(self.backends))}]"
            )
        return backend


class RemoteDatFile:
    """A ``.dat`` held by a tier, read with ranged reads; the backend is looked up at first
    use, since the master names the backends only once we have talked to it."""

    writable = False

    def __init__(self, registry: TierRegistry, backend_name: str, key: str, size: int) -> None:
        self.registry = registry
        self.backend_name = backend_name
        self.name = key
        self._size = size
        self.closed = False

    def read_at(self, length: int, offset: int) -> bytes:
        if offset >= self._size or length <= 0:
            return b""
        length = min(length, self._size - offset)
        return self.registry.get(self.backend_name).read_at(self.name, offset, length)

    def write_at(self, data: bytes | memoryview, offset: int) -> None:
        raise ReadOnlyVolume(f"{self.name} is on remote tier {self.backend_name}")

    def write_pieces_at(self, pieces: list[bytes | bytearray | memoryview], offset: int) -> None:
        raise ReadOnlyVolume(f"{self.name} is on remote tier {self.backend_name}")

    def append(self, data: bytes) -> int:
        raise ReadOnlyVolume(f"{self.name} is on remote tier {self.backend_name}")

    def size(self) -> int:
        return self._size

    def on_disk_size(self) -> int:
        return self._size

    def note_size(self, size: int) -> None:
        """Nothing appends to a tiered ``.dat``."""

    def identity(self) -> int:
        return -(zlib.crc32(f"{self.backend_name}/{self.name}".encode()) + 1)

    def truncate(self, size: int) -> None:
        raise ReadOnlyVolume(f"{self.name} is on remote tier {self.backend_name}")

    def sync(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

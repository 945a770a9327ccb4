"""One volume appended to and read by several real processes (``-workers``): appends never
interleave, every acknowledged write and delete is seen by the next lookup in every other
process, v3 append times stay strictly increasing, a process killed mid-append loses nothing
acknowledged, and the files stay what a single writer would have made."""

from __future__ import annotations

import multiprocessing
import os
import signal

from seaweed_volume.core.needle.record import Needle
from seaweed_volume.core.types import OffsetWidth
from seaweed_volume.core.volume.scan import scan_records
from seaweed_volume.core.volume.sharing import Generation
from tests.unit.test_volume import needle, open_store

CTX = multiprocessing.get_context("fork")
WRITERS = 4
PER_WRITER = 150
DELETED = {w * 10_000 + i - 5 for w in range(WRITERS) for i in range(PER_WRITER) if i % 10 == 9}


class AlwaysCurrent:
    """A process view with no admin changes: only appends are shared."""

    def __init__(self) -> None:
        self.generation = Generation()

    def is_current(self) -> bool:
        return True

    def announce(self) -> None:
        self.generation.bump()


def shared_store(path: str):
    store = open_store(path, OffsetWidth.FIVE)
    if store.find_volume(1) is None:
        store.add_volume(1)
    store.find_volume(1).share(AlwaysCurrent())
    return store


def write_many(path: str, writer: int, opened, acknowledged) -> None:
    store = shared_store(path)  # a full load checks the tail: before anyone appends
    opened.wait()
    for i in range(PER_WRITER):
        key = writer * 10_000 + i
        store.write_needle(1, needle(key, f"writer {writer} item {i} ".encode() * (1 + i % 7)))
        if i % 10 == 9:  # delete an earlier one of ours
            store.delete_needle(1, key - 5, 0xABCD)
        acknowledged.put(key)
    acknowledged.put(None)


def test_concurrent_appends_from_several_processes(tmp_path) -> None:
    path = str(tmp_path)
    parent = shared_store(path)  # opened before the writers start: it must catch up
    opened = CTX.Barrier(WRITERS + 1)
    acknowledged = CTX.Queue()
    workers = [
        CTX.Process(target=write_many, args=(path, w, opened, acknowledged)) for w in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    opened.wait(60)  # every writer has its volume open: now they append at once
    done, keys = 0, []
    while done < WRITERS:
        key = acknowledged.get(timeout=60)
        if key is None:
            done += 1
            continue
        keys.append(key)
        # read-your-writes across processes: acknowledged there, found here at once (its
        # writer may have deleted it since, if it is one of those it deletes)
        if key not in DELETED:
            assert parent.read_needle(1, key).data.startswith(f"writer {key // 10_000} ".encode())
        else:
            assert parent.find_volume(1).locate(key) is not None
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    volume = parent.find_volume(1)
    assert volume.file_count == WRITERS * PER_WRITER
    for key in keys:
        if key in DELETED:
            assert volume.locate(key)[1] < 0
        else:
            assert parent.read_needle(1, key).id == key

    records = list(scan_records(volume.dat, 3, 8))
    assert records[-1].end == os.path.getsize(os.path.join(path, "1.dat"))  # no torn bytes
    stamps = [
        Needle.from_bytes(volume.dat.read_at(r.end - r.offset, r.offset), 3, r.size).append_at_ns
        for r in records
    ]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # strictly increasing
    counts = (volume.file_count, volume.deleted_count)
    sizes = {key: (volume.locate(key) or (0, 0))[1] for key in keys}
    parent.close()

    reopened = open_store(path, OffsetWidth.FIVE)  # a fresh load agrees with the live views
    again = reopened.find_volume(1)
    assert again.read_only_reason == ""
    assert (again.file_count, again.deleted_count) == counts
    assert {key: (again.locate(key) or (0, 0))[1] for key in keys} == sizes
    reopened.close()


class _DyingAfterWrite:
    """A volume's ``.dat`` whose process dies once a record is written to it."""

    def __init__(self, file: object) -> None:
        self._file = file

    def write_at(self, data: bytes, offset: int) -> None:
        self._file.write_at(data, offset)
        os.kill(os.getpid(), signal.SIGKILL)

    def __getattr__(self, name: str) -> object:
        return getattr(self._file, name)


def die_mid_append(path: str) -> None:
    """Write a record to the .dat and die before its .idx entry (never acknowledged)."""
    store = shared_store(path)
    volume = store.find_volume(1)
    volume.dat = _DyingAfterWrite(volume.dat)
    store.write_needle(1, needle(99, b"never acknowledged" * 50))


def test_a_process_killed_mid_append_loses_nothing_acknowledged(tmp_path) -> None:
    path = str(tmp_path)
    store = shared_store(path)
    store.write_needle(1, needle(1, b"acknowledged before"))
    dying = CTX.Process(target=die_mid_append, args=(path,))
    dying.start()
    dying.join(timeout=30)
    assert dying.exitcode == -signal.SIGKILL
    dat_path = os.path.join(path, "1.dat")
    torn_size = os.path.getsize(dat_path)
    store.write_needle(1, needle(2, b"acknowledged after"))  # cuts the orphan bytes first
    volume = store.find_volume(1)
    assert volume.locate(99) is None
    assert [r.needle_id for r in scan_records(volume.dat, 3, 8)] == [1, 2]
    assert os.path.getsize(dat_path) < torn_size + 100
    store.close()
    reopened = open_store(path, OffsetWidth.FIVE)
    assert reopened.find_volume(1).read_only_reason == ""
    assert reopened.read_needle(1, 1).data == b"acknowledged before"
    assert reopened.read_needle(1, 2).data == b"acknowledged after"
    reopened.close()

"""Following a volume as it is written: the sender streams every record appended after a
time, the receiver pulls them from a peer into a local copy (volume_grpc_tail.go,
operation/tail_volume.go). ``weed shell volume.move`` copies a volume, then tails it so writes
made during the copy are not lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator, Iterator

import grpc

from ...core.errors import VolumeError
from ...core.needle.record import Needle, NeedleError
from ...core.types import NEEDLE_CHECKSUM_SIZE
from ...core.volume.backup import first_appended_after
from ...core.volume.scan import scan_records
from ...core.volume.volume import Volume
from .base import ServicerBase, fail
from .pb import volume_server_pb2 as pb
from .pb import volume_server_pb2_grpc as pb_grpc
from .server_address import grpc_address

log = logging.getLogger(__name__)

BUFFER_SIZE_LIMIT = 2 * 1024 * 1024
"""A record's body goes out in pieces of at most this size (``BufferSizeLimit``)."""
POLL_SECONDS = 2.0
"""Between two looks for new records; the idle timeout counts these rounds (as Go does)."""


class TailRpcs(ServicerBase):
    def VolumeTailSender(  # noqa: N802
        self, request: pb.VolumeTailSenderRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.VolumeTailSenderResponse]:
        """Records appended after ``since_ns``, then new ones as they come; with an idle
        timeout it ends after that many quiet rounds, otherwise when the client leaves. An
        empty round still sends a heartbeat (``is_last_chunk`` without a header)."""
        volume = self.volume_or_fail(context, request.volume_id)
        left = threading.Event()
        context.add_callback(left.set)
        since = request.since_ns
        draining = request.idle_timeout_seconds
        while True:
            try:
                processed = yield from _records_since(volume, since)
            except (VolumeError, NeedleError, OSError) as err:
                fail(context, f"streamFollow: {err}")
            if left.wait(POLL_SECONDS):
                return
            if request.idle_timeout_seconds == 0:
                since = processed
            elif processed == since:
                draining -= 1
                if draining <= 0:
                    return
            else:
                since = processed
                draining = request.idle_timeout_seconds

    def VolumeTailReceiver(  # noqa: N802
        self, request: pb.VolumeTailReceiverRequest, context: grpc.ServicerContext
    ) -> pb.VolumeTailReceiverResponse:
        """Write into the local volume every record the source's tail sends, until the source
        has been idle ``idle_timeout_seconds`` rounds (``TailVolumeFromSource``)."""
        volume = self.volume_or_fail(
            context, request.volume_id, "receiver not found volume id {vid}"
        )
        try:
            with grpc.insecure_channel(grpc_address(request.source_volume_server)) as channel:
                stream = pb_grpc.VolumeServerStub(channel).VolumeTailSender(
                    pb.VolumeTailSenderRequest(
                        volume_id=request.volume_id,
                        since_ns=request.since_ns,
                        idle_timeout_seconds=request.idle_timeout_seconds,
                    )
                )
                for needle in _received_needles(stream):
                    if needle.size == 0 and needle.checksum != 0:
                        # A tombstone: it keeps the deleted needle's checksum, which an empty
                        # file (CRC 0) cannot have. Go writes it as an empty needle, which
                        # brings a file deleted on the source back as an empty one.
                        self.store.delete_needle(volume.id, needle.id, needle.cookie)
                    else:
                        self.store.write_needle(volume.id, needle, check_cookie=False)
        except grpc.RpcError as err:
            fail(context, err.details() or err.code().name)
        except (VolumeError, NeedleError, OSError) as err:
            fail(context, err)
        return pb.VolumeTailReceiverResponse()


def _records_since(
    volume: Volume, since_ns: int
) -> Generator[pb.VolumeTailSenderResponse, None, int]:
    """Send the records appended after ``since_ns``; return the append time of the last one
    sent (``since_ns`` itself when there was none: then a heartbeat goes out instead)."""
    version = volume.version
    start = first_appended_after(volume, since_ns)
    if start is None:
        yield pb.VolumeTailSenderResponse(is_last_chunk=True, version=version)
        return since_ns
    processed = since_ns
    for record in scan_records(volume.dat, version, start, volume.dat_size()):
        body = record.body
        for at in range(0, len(body), BUFFER_SIZE_LIMIT):
            piece = body[at : at + BUFFER_SIZE_LIMIT]
            yield pb.VolumeTailSenderResponse(
                needle_header=record.header,
                needle_body=piece,
                is_last_chunk=at + len(piece) >= len(body),
                version=version,
            )
        if version == 3:
            at = record.size + NEEDLE_CHECKSUM_SIZE
            processed = int.from_bytes(body[at : at + 8], "big")
        else:
            processed = 0
    return processed


def _received_needles(stream: Iterator[pb.VolumeTailSenderResponse]) -> Iterator[Needle]:
    """Reassemble the records of a tail stream (heartbeats carry no header and are skipped)."""
    for response in stream:
        if not response.needle_header:
            continue
        header = response.needle_header
        version = response.version or 3
        pieces = [response.needle_body]
        last = response.is_last_chunk
        while not last:
            chunk = next(stream, None)
            if chunk is None:
                break
            pieces.append(chunk.needle_body)
            last = chunk.is_last_chunk
        record = header + b"".join(pieces)
        yield Needle.from_bytes(record, version)

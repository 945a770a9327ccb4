"""``Query`` (volume_grpc_query.go): filter and project JSON-lines needles on the server.
CSV input is accepted and answers nothing, as in Go."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from ...core.errors import VolumeError
from ...core.file_id import FileIdError, parse_needle_path, parse_volume_id
from ...core.goparse import GoNumError
from ...core.needle.record import NeedleError
from ...core.query_json import query_lines
from .base import ServicerBase, fail
from .pb import volume_server_pb2 as pb


class QueryRpcs(ServicerBase):
    def Query(  # noqa: N802
        self, request: pb.QueryRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.QueriedStripe]:
        for fid in request.from_file_ids:
            comma = fid.find(",")
            if comma <= 0:
                fail(context, "Wrong fid format.")
            try:
                volume_id = parse_volume_id(fid[:comma])
            except GoNumError:
                volume_id = 0  # Go ignores the volume id's parse error here
            try:
                needle_id, cookie = parse_needle_path(fid[comma + 1 :])
            except FileIdError as err:
                fail(context, err)
            try:
                stored = self.store.read_needle(volume_id, needle_id)
            except (VolumeError, NeedleError) as err:
                fail(context, err)
            if stored.cookie != cookie:
                return  # Go returns its (nil) error here: the stream just ends
            inputs = request.input_serialization
            if inputs.HasField("json_input"):
                selected = request.filter
                yield pb.QueriedStripe(
                    records=query_lines(
                        stored.data,
                        list(request.selections),
                        selected.field,
                        selected.operand,
                        selected.value,
                    )
                )

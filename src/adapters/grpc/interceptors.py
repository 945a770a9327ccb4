"""Server interceptors that run a step before and/or after the RPCs they select, whatever
the RPC's streaming shape (the admin whitelist, the change announcements of ``-workers``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc

SERVICE = "/volume_server_pb.VolumeServer/"


class MethodInterceptor(grpc.ServerInterceptor):
    """Wraps the handlers of the RPCs :meth:`selects` picks with :meth:`before` and
    :meth:`after`."""

    def selects(self, rpc: str) -> bool:
        raise NotImplementedError

    def before(self, context: grpc.ServicerContext) -> None:
        """Runs first; it may abort the RPC."""

    def after(self) -> None:
        """Runs once the RPC is over, however it ended."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not self.selects(method.removeprefix(SERVICE)):
            return handler
        return self._wrap(handler)

    def _wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        before, after = self.before, self.after
        codecs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            unary_unary = handler.unary_unary

            def answer(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    before(context)
                    return unary_unary(request, context)
                finally:
                    after()

            return grpc.unary_unary_rpc_method_handler(answer, **codecs)
        if handler.unary_stream is not None:
            unary_stream = handler.unary_stream

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                try:
                    before(context)
                    yield from unary_stream(request, context)
                finally:
                    after()

            return grpc.unary_stream_rpc_method_handler(stream, **codecs)
        if handler.stream_unary is not None:
            stream_unary = handler.stream_unary

            def receive(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                try:
                    before(context)
                    return stream_unary(requests, context)
                finally:
                    after()

            return grpc.stream_unary_rpc_method_handler(receive, **codecs)
        stream_stream = handler.stream_stream
        assert stream_stream is not None  # a handler has exactly one of the four kinds

        def both(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                before(context)
                yield from stream_stream(requests, context)
            finally:
                after()

        return grpc.stream_stream_rpc_method_handler(both, **codecs)

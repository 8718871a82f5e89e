"""The one error type of tfvidgen.serving: a gRPC status code and a message."""
from __future__ import annotations

import grpc

# HTTP statuses of TF Serving's REST API for each gRPC code (its ToHTTPStatusCode).
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
_FROM_HTTP = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND,
              401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED,
              408: grpc.StatusCode.DEADLINE_EXCEEDED, 409: grpc.StatusCode.ABORTED,
              411: grpc.StatusCode.INVALID_ARGUMENT, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
              429: grpc.StatusCode.RESOURCE_EXHAUSTED,
              499: grpc.StatusCode.CANCELLED, 501: grpc.StatusCode.UNIMPLEMENTED,
              502: grpc.StatusCode.UNAVAILABLE, 503: grpc.StatusCode.UNAVAILABLE,
              504: grpc.StatusCode.DEADLINE_EXCEEDED}


# Start of the message of every RESOURCE_EXHAUSTED that means "busy, retry later" (the
# run queue or the REST connections are full), as opposed to a request too large or a
# run out of memory; gRPC's own limit on concurrent RPCs says the second.
OVERLOADED = "Server overloaded"
_GRPC_OVERLOADED = "Concurrent RPC limit exceeded"


class ServingError(Exception):
    """A request that failed: ``code`` is a ``grpc.StatusCode``, ``message`` says why.

    The server answers with these codes; the client raises them (for REST
    too, with the code that matches the HTTP status).
    """

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


def code_from_http(status: int) -> grpc.StatusCode:
    if status in _FROM_HTTP:
        return _FROM_HTTP[status]
    return grpc.StatusCode.INTERNAL if status >= 500 else grpc.StatusCode.UNKNOWN


def invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def retryable(error: ServingError) -> bool:
    """Whether a client should retry (with backoff): UNAVAILABLE, or a server at capacity."""
    if error.code == grpc.StatusCode.UNAVAILABLE:
        return True
    return error.code == grpc.StatusCode.RESOURCE_EXHAUSTED and \
        error.message.startswith((OVERLOADED, _GRPC_OVERLOADED))

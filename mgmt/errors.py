"""The API's typed errors and the one JSON envelope every error response uses.

Domain code (the recorder, the query parsing) raises an `ApiError` subclass with a
message an operator can act on; the REST layer turns it into
`{"error": {"code": ..., "message": ...}}` with the class's status code. Codes are
stable snake_case strings: clients branch on them, so never rename one.

`CatchAllMiddleware` is the last line: any exception nothing else handled becomes a 500
envelope (logged with its traceback here, never sent to the client).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mgmt.models import ErrorBody, ErrorEnvelope, json_encoder

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with a stable code and an HTTP status; its message goes to the client."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameterError(ApiError):
    status_code = 400
    code = "invalid_parameter"


class NotRecordingError(ApiError):
    """The live capture was asked for while nothing is recording."""

    status_code = 404
    code = "not_recording"


class RecordingNotFoundError(ApiError):
    """No recording with that id (hostile and malformed ids end up here too)."""

    status_code = 404
    code = "recording_not_found"


class RecordingCorruptError(ApiError):
    """A file in the captures dir is not a readable recording."""

    status_code = 500
    code = "recording_corrupt"


class RecordingWriteError(ApiError):
    """Saving a capture failed; the capture is still armed and held in memory."""

    status_code = 500
    code = "recording_write_failed"


# Codes for errors raised by the HTTP layer itself rather than by an ApiError.
CODE_BY_STATUS: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    500: "internal_error",
}


def error_body(code: str, message: str) -> bytes:
    return json_encoder.encode(ErrorEnvelope(error=ErrorBody(code=code, message=message)))


def error_response(
    status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        error_body(code, message),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def api_error_response(exc: ApiError) -> Response:
    return error_response(exc.status_code, exc.code, exc.message)


class CatchAllMiddleware:
    """Turn any unhandled exception into a logged 500 envelope (no traceback to clients)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_tracking(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if response_started:
                # Too late for an envelope; the server closes the connection.
                raise
            response = error_response(
                500, "internal_error", "internal server error; the host log has the details"
            )
            await response(scope, receive, send)

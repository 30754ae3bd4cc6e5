"""Error answers of the HTTP service: always valid JSON, always 4xx for what the client sent, always naming the field.

A client may send anything: NaN or Infinity (Python's json reads them), numbers past float range, lone UTF-16
surrogates ("\\ud800" is legal JSON but not encodable as UTF-8), bytes that are no JSON at all, megabytes of text.
FastAPI's default handlers echo the offending value back and fail on several of these with a 500. Here every
message, location and echoed input goes through `_safe_*` first, so writing the error can never fail.

Shapes: 400, 413 and 415 are `{"detail": "message"}` (FastAPI's HTTPException shape); 422 is FastAPI's list of
`{"type", "loc", "msg"}`, where `msg` starts with the field's path ("requests[1].history[0].timestamp: ...").
The rule between 400 and 422: 400 when the body is not a JSON object at all (empty, malformed, not UTF-8, nested
too deeply, an array), 422 when it is an object with a bad field.
"""

from __future__ import annotations

import email.message
import logging
import math
import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 500  # a message quotes the value; a 1 MB value must not come back in every error
MAX_ECHO_CHARS = 100
_FASTAPI_PARSE_ERROR = "There was an error parsing the body"
_NOT_AN_OBJECT = {"model_attributes_type", "dict_type", "model_type"}


class FieldError(BaseModel):
    type: str = Field(description="request_error for the Scorer's own checks, else pydantic's error type")
    loc: list[str | int] = Field(description='["body", field, index, ...]')
    msg: str = Field(description="starts with the field's path, e.g. 'history[0].timestamp: ...'")
    input: Any = Field(None, description="the offending value when it is a short scalar")


class ValidationErrorBody(BaseModel):
    detail: list[FieldError]


class MessageBody(BaseModel):
    detail: str


def error_responses() -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of an endpoint with a JSON body."""
    return {
        400: {"model": MessageBody, "description": "the body is not a JSON object: empty, malformed JSON, not UTF-8,"
              " nested too deeply or an array; or an invalid Content-Length header"},
        413: {"model": MessageBody, "description": "body larger than max_body_bytes"},
        415: {"model": MessageBody, "description": "Content-Type is not application/json"},
        422: {"model": ValidationErrorBody, "description": "invalid request; `detail[].loc` names the field"},
    }


def require_json(request: Request) -> None:
    """A dependency of the POST endpoints: without it, a text/plain body reaches pydantic as a string and the
    client reads "Input should be a valid dictionary", which never says the Content-Type was the problem."""
    value = request.headers.get("content-type")
    if value is None:
        raise HTTPException(415, "no Content-Type header; send the body as application/json")
    message = email.message.Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    if message.get_content_maintype() != "application" or not (subtype == "json" or subtype.endswith("+json")):
        raise HTTPException(415, f"Content-Type {_safe_text(value, MAX_ECHO_CHARS)!r} is not accepted; "
                                 "send the body as application/json")


def install(app: Any) -> None:
    from neurec.serving.request import RequestError

    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(RequestError, _request_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _server_error)


def message_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": _safe_text(message, MAX_MESSAGE_CHARS)}, status_code=status, headers=headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    for e in errors:
        if e.get("type") == "json_invalid":
            where = e["loc"][1] if len(e.get("loc", ())) > 1 else "?"
            reason = (e.get("ctx") or {}).get("error", "malformed")
            return message_response(400, f"body is not valid JSON: {reason} (at character {where})")
    whole = [e for e in errors if tuple(e.get("loc", ())) == ("body",)]
    if whole and whole[0].get("type") == "missing":
        return message_response(400, "body is empty; expected a JSON object")
    if whole and whole[0].get("type") in _NOT_AN_OBJECT:
        return message_response(400, f"body: expected a JSON object, got {_kind(whole[0].get('input'))}")
    detail = [_field_error(e) for e in errors]
    return JSONResponse({"detail": detail}, status_code=422)


def _field_error(error: dict[str, Any]) -> dict[str, Any]:
    loc = [_safe_loc(part) for part in error.get("loc", ("body",))]
    path = field_path(loc)
    out: dict[str, Any] = {"type": _safe_text(str(error.get("type", "invalid")), 100), "loc": loc,
                           "msg": _safe_text(f"{path}: {error.get('msg', 'invalid value')}", MAX_MESSAGE_CHARS)}
    echo = _safe_scalar(error.get("input"))
    if echo is not None:
        out["input"] = echo
    return out


async def _request_error(_: Request, exc: Exception) -> JSONResponse:
    # The Scorer's own checks, after pydantic: same shape, so a client parses one error format.
    message = _safe_text(str(exc), MAX_MESSAGE_CHARS)
    detail = [{"type": "request_error", "loc": error_location(message), "msg": message}]
    return JSONResponse({"detail": detail}, status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if exc.status_code == 400 and detail == _FASTAPI_PARSE_ERROR:
        detail = f"body is not valid JSON: {_parse_failure(exc.__cause__)}"
    return message_response(exc.status_code, str(detail), headers=exc.headers)


def _parse_failure(cause: BaseException | None) -> str:
    if isinstance(cause, RecursionError):
        return "nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return f"not UTF-8 text (byte {cause.start})"
    if isinstance(cause, ValueError):  # e.g. an integer literal over Python's 4,300-digit limit
        return str(cause)
    return "could not be decoded"


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette still re-raises after this, so the server logs the traceback; the client gets JSON without one.
    log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return JSONResponse({"detail": "internal server error; the service log has the details"}, status_code=500)


# "history[0].event_type" → ["history", 0, "event_type"]; the Scorer's messages start with such a path.
_PATH_PART = re.compile(r"\[(\d+)\]|\.?([A-Za-z_][A-Za-z0-9_]*)")


def error_location(message: str) -> list[str | int]:
    """FastAPI-style `loc` for a RequestError message; ["body"] when it does not start with a field path."""
    path, sep, _ = message.partition(": ")
    loc: list[str | int] = ["body"]
    if not sep or path == "request":
        return loc
    pos = 0
    while pos < len(path):
        match = _PATH_PART.match(path, pos)
        if not match or match.end() == pos:
            return ["body"]  # not a path after all: name no field rather than a wrong one
        loc.append(int(match.group(1)) if match.group(1) is not None else match.group(2))
        pos = match.end()
    return loc


def field_path(loc: list[str | int]) -> str:
    """["body", "requests", 1, "k"] → "requests[1].k", as the Scorer's messages spell it; "request" for the body."""
    out = ""
    for part in loc[1:] if loc[:1] == ["body"] else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "request"


def _safe_text(text: str, limit: int) -> str:
    # A lone surrogate cannot be written as UTF-8; backslashreplace spells it "\ud800" instead.
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text)} characters)"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _safe_loc(part: Any) -> str | int:
    if isinstance(part, int) and not isinstance(part, bool):
        return part
    return _safe_text(str(part), MAX_ECHO_CHARS)


def _safe_scalar(value: Any) -> Any:
    """The value as JSON can hold it, or None to leave it out (containers, bytes, very long numbers)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int):
        return value if abs(value) < 10**30 else None
    if isinstance(value, str):
        return _safe_text(value, MAX_ECHO_CHARS)
    return None


def _kind(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number",
             type(None): "null", bytes: "bytes"}
    return names.get(type(value), type(value).__name__)

"""Validate a JSON-shaped recommendation request into plain arrays, naming the field of every mistake.

Unknown fields are refused rather than ignored: a misspelt "candidates" would otherwise silently mean "all items".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from neurec.history_summary import SUMMARY_EVENTS
from neurec.schema import EventType
from neurec.serving.rules_config import PLACEMENTS
from neurec.vocab import normalize_id

MAX_HISTORY_EVENTS = SUMMARY_EVENTS  # what the whole-history summary reads; training reads no more
MAX_CANDIDATES = 100_000
MAX_SEGMENT_CHARS = 200  # echoed into every response and log line: a label, not a payload
REQUEST_FIELDS = (
    "history", "placement", "anchor", "cart", "cart_value", "declined", "shown", "segment", "candidates", "k", "explain",
    "now", "customer_id",
)
EVENT_FIELDS = ("item_id", "event_type", "timestamp")
# datetime's range; a larger number is almost always milliseconds sent as seconds.
_MIN_TS = datetime(1, 1, 2, tzinfo=timezone.utc).timestamp()
_MAX_TS = datetime(9999, 12, 30, tzinfo=timezone.utc).timestamp()
UNIX_SECONDS_RANGE = (_MIN_TS, _MAX_TS)  # what a numeric timestamp may be; the HTTP spec declares it
_EVENT_TYPES = {label: int(EventType.from_label(label)) for label in EventType.names()}
MAX_EXACT_FLOAT = 2.0**53  # past it, neighbouring integers share a float: 1e17 + 1 arrives as 1e17


class RequestError(ValueError):
    """The request is malformed; the message starts with the path of the offending field."""


@dataclass(frozen=True)
class ParsedRequest:
    history_items: list[str]  # oldest first (stable by timestamp)
    history_types: np.ndarray  # (H,) int64 EventType values
    history_ts: np.ndarray  # (H,) float64 unix seconds, ascending
    candidates: list[str] | None  # None: generated from the anchors; duplicates removed, first kept
    cart: list[str]
    k: int | None  # None: the bundle's top_k
    explain: bool
    placement: str = PLACEMENTS[0]
    anchor: str | None = None  # None: the scorer takes the newest history item
    cart_value: float | None = None  # None: the scorer sums the cart's prices when it knows them all
    declined: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)  # offered earlier in this visit, not taken
    segment: str | None = None  # echoed, never interpreted
    now: float | None = None  # unix seconds; None: the newest history timestamp


def parse_request(data: Any, max_events: int = MAX_HISTORY_EVENTS) -> ParsedRequest:
    try:
        return _parse_request(data, max_events)
    except RequestError:
        raise
    except (ValueError, OverflowError) as exc:
        # A conversion (datetime, float) refusing a value the checks let through: the request's fault, not ours.
        raise RequestError(f"request: a value could not be read ({type(exc).__name__}: {exc})") from exc


def _parse_request(data: Any, max_events: int) -> ParsedRequest:
    if not isinstance(data, dict):
        raise RequestError(f"request: expected a JSON object, got {_kind(data)}")
    for key in data:
        if key not in REQUEST_FIELDS:
            raise RequestError(f"{_printable(key)}: unknown field; expected some of {', '.join(REQUEST_FIELDS)}")
    if data.get("customer_id") is not None:
        parse_customer_id(data["customer_id"])  # only an experiment reads it (to pick the variant)
    if "history" not in data:
        raise RequestError("history: missing field (send [] for a customer without history)")
    items, types, ts = _parse_history(data["history"], max_events)
    order = np.argsort(ts, kind="stable")
    candidates = None
    if data.get("candidates") is not None:
        candidates = list(dict.fromkeys(_parse_ids(data["candidates"], "candidates", MAX_CANDIDATES)))
    cart = _parse_ids(data["cart"], "cart", MAX_CANDIDATES) if data.get("cart") is not None else []
    declined = _parse_ids(data["declined"], "declined", MAX_CANDIDATES) if data.get("declined") is not None else []
    shown = _parse_ids(data["shown"], "shown", MAX_CANDIDATES) if data.get("shown") is not None else []
    k = data.get("k")
    if isinstance(k, float) and k.is_integer():  # what a JSON parser makes of 2.0, an integer to JSON Schema
        k = int(k)
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise RequestError(f"k: expected an integer >= 1, got {k!r}")
    explain = data.get("explain", False)
    if not isinstance(explain, bool):
        raise RequestError(f"explain: expected true or false, got {explain!r}")
    return ParsedRequest(
        history_items=[items[i] for i in order],
        history_types=types[order],
        history_ts=ts[order],
        candidates=candidates,
        cart=cart,
        k=k,
        explain=explain,
        placement=_parse_placement(data.get("placement")),
        anchor=_parse_id(data["anchor"], "anchor") if data.get("anchor") is not None else None,
        cart_value=_parse_cart_value(data.get("cart_value")),
        declined=declined,
        shown=shown,
        segment=_parse_segment(data.get("segment")),
        now=parse_timestamp(data["now"], "now") if data.get("now") is not None else None,
    )


def positioned(i: int, exc: RequestError) -> RequestError:
    """The error of request i of a batch: field paths join with a dot ("requests[2].k: ..."), and a whole-request
    error ("request: ...") takes the position's place."""
    message = str(exc)
    joined = message.replace("request:", ":", 1) if message.startswith("request:") else "." + message
    return RequestError(f"requests[{i}]{joined}")


def _parse_placement(value: Any) -> str:
    if value is None:
        return PLACEMENTS[0]
    if not isinstance(value, str) or value not in PLACEMENTS:
        raise RequestError(f"placement: expected one of {', '.join(PLACEMENTS)}, got {value!r}")
    return value


def whole_number(value: Any) -> Any:
    """A float that holds an integer exactly (JSON Schema's integer: 2.0) as that int; anything else unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_EXACT_FLOAT else value


def parse_customer_id(value: Any) -> str | int:
    """A non-empty string or an integer (an experiment hashes its text form, so 7 and "7" are one customer)."""
    if isinstance(value, str):
        if not value:
            raise RequestError("customer_id: empty string; expected a non-empty string or an integer")
        return _check_text(value, "customer_id")
    value = whole_number(value)  # 7.0 is the integer 7 to JSON Schema, and so the same customer as 7
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise RequestError(f"customer_id: expected a non-empty string or an integer, got {_short_repr(value)}")


def _parse_cart_value(value: Any) -> float | None:
    if value is None:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    try:
        ok = ok and math.isfinite(float(value)) and value >= 0
    except OverflowError:  # an integer past float range
        ok = False
    if not ok:
        raise RequestError(f"cart_value: expected a finite number >= 0, got {_short_repr(value)}")
    return float(value)


def _parse_segment(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestError(f"segment: expected a string, got {_kind(value)}")
    if len(value) > MAX_SEGMENT_CHARS:
        raise RequestError(f"segment: {len(value)} characters; at most {MAX_SEGMENT_CHARS} are accepted")
    return _check_text(value, "segment")


def _parse_history(history: Any, max_events: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    if not isinstance(history, list):
        raise RequestError(f"history: expected a list of events, got {_kind(history)}")
    if len(history) > max_events:
        raise RequestError(f"history: {len(history)} events; at most {max_events} are accepted (send the newest)")
    items: list[str] = []
    types = np.empty(len(history), dtype=np.int64)
    ts = np.empty(len(history), dtype=np.float64)
    for i, event in enumerate(history):
        where = f"history[{i}]"
        if not isinstance(event, dict):
            raise RequestError(f"{where}: expected an object with {', '.join(EVENT_FIELDS)}, got {_kind(event)}")
        for key in event:
            if key not in EVENT_FIELDS:
                raise RequestError(f"{where}.{_printable(key)}: unknown field; expected {', '.join(EVENT_FIELDS)}")
        for key in EVENT_FIELDS:
            if key not in event:
                raise RequestError(f"{where}.{key}: missing field")
        items.append(_parse_id(event["item_id"], f"{where}.item_id"))
        types[i] = _parse_event_type(event["event_type"], f"{where}.event_type")
        ts[i] = parse_timestamp(event["timestamp"], f"{where}.timestamp")
    return items, types, ts


def _parse_event_type(value: Any, where: str) -> int:
    if not isinstance(value, str):
        raise RequestError(f"{where}: expected a string, got {_kind(value)}")
    if value not in _EVENT_TYPES:
        expected = ", ".join(_EVENT_TYPES)
        raise RequestError(f"{where}: unknown event type {_short_repr(value)}; expected one of {expected}")
    return _EVENT_TYPES[value]


def parse_timestamp(value: Any, where: str = "timestamp") -> float:
    """ISO-8601 (Z, offset, or naive = UTC) or unix seconds, to unix seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RequestError(f"{where}: expected an ISO-8601 string or unix seconds, got {_kind(value)}")
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):  # fromisoformat only learned "Z" in Python 3.11
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise RequestError(f"{where}: {_short_repr(value)} is not an ISO-8601 timestamp") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    try:
        seconds = float(value)
    except OverflowError:  # an integer past float range
        seconds = math.inf
    if not math.isfinite(seconds):
        raise RequestError(f"{where}: {_short_repr(value)} is not a finite number of seconds")
    if not _MIN_TS <= seconds <= _MAX_TS:
        raise RequestError(f"{where}: {_short_repr(value)} is out of range for unix seconds "
                           "(milliseconds sent by mistake?)")
    return seconds


def _parse_ids(values: Any, where: str, limit: int) -> list[str]:
    if not isinstance(values, list):
        raise RequestError(f"{where}: expected a list of item ids, got {_kind(values)}")
    if len(values) > limit:
        raise RequestError(f"{where}: {len(values)} items; at most {limit} are accepted")
    return [_parse_id(v, f"{where}[{i}]") for i, v in enumerate(values)]


def _parse_id(value: Any, where: str) -> str:
    # Integers are accepted because shops often keep numeric ids; normalize_id spells them like the vocab does.
    ok = isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool))
    if not ok or (isinstance(value, float) and not value.is_integer()):
        raise RequestError(f"{where}: expected an item id (string or integer), got {_short_repr(value)}")
    if isinstance(value, float) and abs(value) > MAX_EXACT_FLOAT:
        raise RequestError(f"{where}: {value!r} is past the integers a JSON float holds exactly; send the id as a "
                           "string")
    if isinstance(value, str):
        if not value:
            raise RequestError(f"{where}: empty item id")
        _check_text(value, where)
    return normalize_id(value)


def _check_text(value: str, where: str) -> str:
    """Refuse lone UTF-16 surrogates: JSON lets "\ud800" through, but no UTF-8 answer can echo it back."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RequestError(f"{where}: not valid Unicode text (a lone surrogate at character {exc.start})") from None
    return value


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:100]


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 100 else f"{text[:100]}... ({len(text)} characters)"


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), type(value).__name__)

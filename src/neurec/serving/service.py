"""The HTTP service: a thin FastAPI layer over a Scorer that the caller has already loaded.

The Scorer does pre-process → predict → post-process; this module only moves JSON in and out, maps errors to
status codes and bounds what a client may send. Pydantic checks types and shapes for the OpenAPI spec and early
422s, but the Scorer's own validation stays the source of truth: the models below are strict (they never coerce
"3" into 3), so what passes them reaches the Scorer as sent, as the plain dict it takes, and its checks (ranges,
timestamps, id forms) decide the rest; their RequestError becomes a 422 shaped like FastAPI's own.

Concurrency: the scoring endpoints are `async def` and call the Scorer directly, so every scorer call runs on the
event loop's one thread, one at a time. That is the "one process, one core" model: onnxruntime has one intra-op
thread, and no two requests ever share the session or the Scorer at once, so neither has to be thread-safe
(onnxruntime's `run` is, and the Scorer only reads after loading, but nothing here depends on it). The usual
alternative, a plain `def` in the threadpool behind a lock, was slower in six interleaved runs on a busy 2-core
machine (0.3-1.2 ms more at p50 for one request at a time, and a worse p99 under load): each request pays two
thread hand-offs while the GIL serialises the Python parts anyway. The price is that the loop waits while a request is scored (about a millisecond; a full
batch a few tens), so /healthz and new connections wait that long too. To use more cores, run more processes.
"""

from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from neurec import __version__
from neurec.schema import EventType
from neurec.serving import http_errors
from neurec.serving.request import (
    MAX_CANDIDATES,
    MAX_HISTORY_EVENTS,
    MAX_SEGMENT_CHARS,
    UNIX_SECONDS_RANGE,
    whole_number,
)
from neurec.serving.experiments import ExperimentScorer
from neurec.serving.metrics import CONTENT_TYPE, Measure, ServiceMetrics
from neurec.serving.rules_config import KINDS, PLACEMENTS
from neurec.serving.scorer import Scorer

DEFAULT_MAX_BODY_BYTES = 1 << 20  # 1 MiB: a full 1,000-event history is about 80 KB, a 64-request batch ~300 KB
DEFAULT_MAX_BATCH = 64

_STRICT = ConfigDict(extra="forbid", strict=True)


# The spec declares what the Scorer accepts, where JSON Schema can say it (non-empty strings, integers, the
# unix-seconds range), so a client generated from it is never refused for what the spec allowed. Validation stays
# loose here on purpose: the Scorer's own checks refuse the rest with messages that name the field and the fix
# ("cart[0]: expected an item id", "milliseconds sent by mistake?"), which pydantic's union errors do not.
_ID_SCHEMA = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]}
_TIME_SCHEMA = {"anyOf": [{"type": "string", "format": "date-time"},
                          {"type": "number", "minimum": UNIX_SECONDS_RANGE[0], "maximum": UNIX_SECONDS_RANGE[1]}]}
Identifier = Annotated[str | int | float, WithJsonSchema(_ID_SCHEMA)]
ItemId = Annotated[Identifier, Field(description="item id; integers are accepted as shops often use them")]
Timestamp = Annotated[str | int | float, WithJsonSchema(_TIME_SCHEMA),
                      Field(description="ISO-8601 (naive = UTC) or unix seconds")]
EventName = Literal[tuple(EventType.names())]  # type: ignore[valid-type]  # view, add_to_cart, purchase
Placement = Literal[PLACEMENTS]  # type: ignore[valid-type]

_EXAMPLE = {
    "history": [
        {"item_id": "100083", "event_type": "add_to_cart", "timestamp": "2026-03-20T09:50:00Z"},
        {"item_id": "100133", "event_type": "view", "timestamp": "2026-03-20T10:00:00Z"},
    ],
    "placement": "product_page",
    "cart": ["100083"],
    "segment": "returning",
    "k": 4,
}
_RESPONSE_EXAMPLE = {
    "items": [{"item_id": "100134", "rank": 1, "probability": 0.031, "score": 0.036, "kind": "upsell",
               "reasons": ["placement_preference"]}],
    "placement": "product_page", "segment": "returning", "anchor": "100133", "model_version": "885e72f076ac",
    "training_run_id": None, "unknown_history_items": 0,
}


class Event(BaseModel):
    model_config = _STRICT
    item_id: ItemId
    event_type: EventName
    timestamp: Timestamp


class RecommendRequest(BaseModel):
    """Mirrors serving/request.py (see docs/serving.md, "A request"); unknown fields are refused there too."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [_EXAMPLE]})
    history: list[Event] = Field(max_length=MAX_HISTORY_EVENTS, description="events in any order; [] if none")
    placement: Placement | None = Field(None, description="default product_page")
    anchor: ItemId | None = Field(None, description="the item on the page; default the newest history item")
    cart: list[ItemId] | None = Field(None, max_length=MAX_CANDIDATES)
    cart_value: float | None = Field(None, ge=0, allow_inf_nan=False,
                                     description="default: the sum of the cart's known prices")
    declined: list[ItemId] | None = Field(None, max_length=MAX_CANDIDATES, description="ids declined before")
    shown: list[ItemId] | None = Field(None, max_length=MAX_CANDIDATES,
                                       description="ids offered earlier in this visit and not taken")
    segment: str | None = Field(None, max_length=MAX_SEGMENT_CHARS, description="echoed back, never interpreted")
    candidates: list[ItemId] | None = Field(None, max_length=MAX_CANDIDATES, description="default: generated")
    k: int | None = Field(None, ge=1, description="at most this many items; default the bundle's top_k")
    explain: bool = Field(False, description="also list dropped candidates with their reasons")
    now: Timestamp | None = Field(None, description="the clock for replenishment; default the newest event")
    customer_id: Identifier | None = Field(None, description="decides the A/B variant when an experiment runs")

    # JSON Schema counts 2.0 as an integer, so a client generated from the spec may send it, and strict mode would
    # refuse it; 2.5, "2" and true still fail. A validator, not BeforeValidator, which would hide ge=1 from the spec.
    _whole_k = field_validator("k", mode="before")(whole_number)


def _batch_model(max_batch: int) -> type[BaseModel]:
    """The batch body, built per app because its size limit is a deployment setting shown in the spec."""

    class BatchRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True,
                                  json_schema_extra={"examples": [{"requests": [_EXAMPLE]}]})
        requests: list[RecommendRequest] = Field(max_length=max_batch, description=f"at most {max_batch} requests")

    return BatchRequest


class Item(BaseModel):
    item_id: str
    rank: int
    probability: float
    score: float = Field(description="probability x the rules' factors; the ranking key")
    kind: Literal[KINDS]  # type: ignore[valid-type]
    reasons: list[str]


class Dropped(BaseModel):
    item_id: str
    reason: str
    probability: float | None = Field(None, description="present when the drop came after scoring")


class RecommendResponse(BaseModel):
    """Documentation only: the Scorer's dict goes out as it is, unvalidated, to keep the per-request cost down;
    tests/serving/test_service_fuzz.py checks that answers match this schema."""

    items: list[Item]
    placement: Placement
    segment: str | None
    anchor: str | None
    model_version: str
    training_run_id: str | None
    unknown_history_items: int
    dropped: list[Dropped] | None = Field(None, description="with explain: true")
    experiment: str | None = Field(None, description="while an experiment runs")
    variant: str | None = Field(None, description="while an experiment runs: the customer's variant")


class BatchResponse(BaseModel):
    responses: list[RecommendResponse]


class Status(BaseModel):
    status: Literal["ok", "ready", "not ready"]


class Registry(BaseModel):
    name: str
    version: str = Field(description="the version served (what the alias pointed at when the service loaded)")
    alias: str | None = Field(description="the alias asked for (models:/NAME@ALIAS), else null")


class Metadata(BaseModel):
    """The bundle in force. Documentation only, like RecommendResponse; tests compare the answer with it."""

    model_version: str
    training_run_id: str | None
    bundle_sha256: str = Field(description="sha256 of manifest.json, which lists every file's sha256")
    registry: Registry | None = Field(description="where the bundle came from, when loaded from models:/")
    schema_version: str
    bundle_neurec_version: str | None
    created_at: str | None
    n_items: int
    catalog_items: int
    max_history: int
    summary_size: int
    calibration_present: bool
    calibration: dict[str, float]
    copurchase_present: bool
    rules: dict[str, Any] = Field(description="in force after the catalogue check, in rules.json form")
    max_body_bytes: int
    max_batch: int
    experiment: dict[str, Any] | None = Field(None, description="while an experiment runs: every variant's bundle")


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413, by the declared Content-Length and by the bytes received.

    Counting what arrives matters: a chunked body has no Content-Length and a client may lie in it. The body is
    buffered (at most max_bytes) and replayed to the app, which would read it whole anyway.
    """

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await _send_error(scope, receive, send, 400, "invalid Content-Length header")
            if int(declared) > self.max_bytes:
                return await _send_error(scope, receive, send, 413, self._too_large(f"{int(declared)} bytes"))
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                too_large = self._too_large(f"more than {self.max_bytes} bytes")
                return await _send_error(scope, receive, send, 413, too_large)
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    def _too_large(self, size: str) -> str:
        return f"request body is {size}; at most {self.max_bytes} bytes are accepted (neurec-serve --max-body-bytes)"


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the disconnect, as the app expects

    return replay


async def _send_error(scope: dict, receive: Any, send: Any, status: int, message: str) -> None:
    # Connection: close, because the unread rest of the body would otherwise be parsed as the next request.
    await http_errors.message_response(status, message, {"connection": "close"})(scope, receive, send)


def metadata(scorer: Scorer | ExperimentScorer) -> dict[str, Any]:
    """The bundle in force; with an experiment, the control's at the top and every variant's under "experiment"."""
    if isinstance(scorer, ExperimentScorer):
        exp, shares = scorer.experiment, scorer.experiment.shares()
        variants = {name: {"share": shares[name], **metadata(s)} for name, s in scorer.scorers.items()}
        return {**metadata(scorer.control),
                "experiment": {"name": exp.name, "control": exp.control, "variants": variants}}
    bundle, cal = scorer.bundle, scorer.bundle.manifest["calibration"]
    knots = len(cal.get("knots_logit", []))
    return {
        "model_version": bundle.model_version,
        "training_run_id": bundle.training_run_id,
        "bundle_sha256": bundle.manifest_sha256,
        "registry": scorer.registry,
        "schema_version": bundle.manifest["schema_version"],
        "bundle_neurec_version": bundle.manifest.get("neurec_version"),
        "created_at": bundle.manifest.get("created_at"),
        "n_items": int(bundle.manifest["n_items"]),
        "catalog_items": len(scorer.catalog),
        "max_history": bundle.max_history,
        "summary_size": bundle.summary_size,
        # The identity map (temperature 1, bias 0, no knots) means the bundle was exported without calibrating.
        "calibration_present": bool(knots or bundle.temperature != 1.0 or bundle.bias != 0.0),
        "calibration": {"temperature": bundle.temperature, "bias": bundle.bias, "knots": knots},
        "copurchase_present": bundle.copurchase is not None,
        "rules": scorer.rules.to_dict(),  # in force after the catalogue check; rules.json form, ready to edit
    }


def create_app(scorer: Scorer | ExperimentScorer, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_batch: int = DEFAULT_MAX_BATCH) -> FastAPI:
    """The app over a loaded Scorer (loaded once, before serving starts; never per request)."""
    if max_body_bytes < 1 or max_batch < 1:
        raise ValueError("max_body_bytes and max_batch must be >= 1")
    state = {"ready": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # The Scorer was loaded and ran a test inference before the app existed; ready from the first request
        # the server takes until it starts shutting down (then load balancers should stop sending).
        state["ready"] = True
        yield
        state["ready"] = False

    app = FastAPI(title="neurec", version=__version__, lifespan=lifespan,
                  description="Upsell and cross-sell recommendations from a neurec bundle. Errors name the field.")
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    metrics = ServiceMetrics(ROUTES, drops=lambda: _drops(scorer))
    app.add_middleware(Measure, metrics=metrics)  # added last, so outermost: the body limit's 413s count too
    http_errors.install(app)
    info = {**metadata(scorer), "max_body_bytes": max_body_bytes, "max_batch": max_batch}
    BatchRequest = _batch_model(max_batch)
    errors = http_errors.error_responses()
    ok = {"model": RecommendResponse, "content": {"application/json": {"example": _RESPONSE_EXAMPLE}}}
    json_only = [Depends(http_errors.require_json)]

    # response_model=None: the models above document the answer without re-validating it on every request.
    @app.post("/recommend", responses={200: ok, **errors}, response_model=None, dependencies=json_only)
    async def recommend(body: RecommendRequest) -> dict[str, Any]:
        # Absent stays absent: the Scorer applies its own defaults. No await below: scoring holds the loop (see top).
        return scorer.recommend(body.model_dump(exclude_unset=True))

    @app.post("/recommend/batch", responses={200: {"model": BatchResponse}, **errors}, response_model=None,
              dependencies=json_only)
    async def recommend_batch(body: BatchRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        requests = [r.model_dump(exclude_unset=True) for r in body.requests]  # type: ignore[attr-defined]
        return {"responses": scorer.recommend_batch(requests)}  # prepare each, then one onnxruntime call

    @app.get("/healthz", response_model=Status)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}  # alive: the process answers

    @app.get("/readyz", response_model=Status, responses={503: {"model": Status}})
    async def readyz() -> Any:
        if state["ready"]:
            return {"status": "ready"}  # bundle loaded, model warmed (a test inference ran at load)
        return JSONResponse({"status": "not ready"}, status_code=503)

    @app.get("/metrics", response_class=PlainTextResponse,
             responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}})
    async def get_metrics() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/metadata", responses={200: {"model": Metadata}}, response_model=None)
    async def get_metadata() -> dict[str, Any]:
        return info

    return app


ROUTES = ("/recommend", "/recommend/batch", "/healthz", "/readyz", "/metrics", "/metadata", "/openapi.json", "/docs")


def _drops(scorer: Scorer | ExperimentScorer) -> dict[str, int]:
    """Rule drops since loading, summed over an experiment's variants."""
    scorers = scorer.scorers.values() if isinstance(scorer, ExperimentScorer) else [scorer]
    total: dict[str, int] = {}
    for s in scorers:
        for reason, n in s.drops().items():
            total[reason] = total.get(reason, 0) + n
    return total

"""Prometheus metrics for the service, in the text exposition format, without a client library.

What an operator graphs: requests by route and status, a latency histogram per route, and how many candidates
each rule dropped. Routes are the service's own paths (anything else counts as "other"), so a scanner probing
random URLs cannot grow the label set. Standard library only: the service image stays numpy + onnxruntime +
FastAPI.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

# Seconds. Scoring one request takes about a millisecond on one core; the top buckets catch a stalled loop.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServiceMetrics:
    def __init__(self, routes: Iterable[str], drops: Callable[[], dict[str, int]] | None = None):
        self.routes = frozenset(routes)
        self.drops = drops or dict
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(LATENCY_BUCKETS))
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.started = time.time()

    def route(self, path: str) -> str:
        return path if path in self.routes else "other"

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        route = self.route(path)
        self.requests[(method, route, status)] += 1
        buckets = self.buckets[route]
        for i, edge in enumerate(LATENCY_BUCKETS):
            if seconds <= edge:
                buckets[i] += 1
                break
        self.sums[route] += seconds
        self.counts[route] += 1

    def render(self) -> str:
        out = ["# HELP neurec_requests_total HTTP requests answered, by method, route and status.",
               "# TYPE neurec_requests_total counter"]
        for (method, route, status), n in sorted(self.requests.items()):
            out.append(f'neurec_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
        out += ["# HELP neurec_request_seconds Time from the request's arrival to the end of its answer.",
                "# TYPE neurec_request_seconds histogram"]
        for route in sorted(self.counts):
            running = 0
            for edge, n in zip(LATENCY_BUCKETS, self.buckets[route]):
                running += n
                out.append(f'neurec_request_seconds_bucket{{route="{route}",le="{edge}"}} {running}')
            out.append(f'neurec_request_seconds_bucket{{route="{route}",le="+Inf"}} {self.counts[route]}')
            out.append(f'neurec_request_seconds_sum{{route="{route}"}} {self.sums[route]:.6f}')
            out.append(f'neurec_request_seconds_count{{route="{route}"}} {self.counts[route]}')
        out += ["# HELP neurec_rule_drops_total Candidates the rules dropped, by reason.",
                "# TYPE neurec_rule_drops_total counter"]
        for reason, n in sorted(self.drops().items()):
            out.append(f'neurec_rule_drops_total{{reason="{reason}"}} {n}')
        out += ["# HELP neurec_process_start_time_seconds When this process started serving (unix seconds).",
                "# TYPE neurec_process_start_time_seconds gauge", f"neurec_process_start_time_seconds {self.started:.3f}"]
        return "\n".join(out) + "\n"


class Measure:
    """ASGI middleware: one observation per HTTP request, from its arrival to the last byte of its answer, the
    service's own 4xx (body limit, validation) included."""

    def __init__(self, app: Any, metrics: ServiceMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0, status, done = time.perf_counter(), [500], [False]

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done[0] = True
                self.metrics.observe(scope["method"], scope["path"], status[0], time.perf_counter() - t0)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not done[0]:  # died before answering: the server answers 500
                self.metrics.observe(scope["method"], scope["path"], 500, time.perf_counter() - t0)

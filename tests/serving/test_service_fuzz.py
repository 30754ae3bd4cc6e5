"""The HTTP service fuzzed against its own OpenAPI spec with schemathesis.

Every operation of the spec gets requests in both generation modes: positive (what the spec allows: it must be
answered 2xx, or 413 when a body passes the deployment's size limit) and negative (what the spec forbids: it must be
refused with a 4xx). Every answer must also conform: no 5xx, a status code the spec lists, the declared content type
and a body of the declared schema. Hypothesis runs derandomized with no example database, so the suite sends the same
requests every run. The figures the README quotes come from this test (`-s` prints them).
"""

from __future__ import annotations

from collections import Counter

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from neurec.serving.service import create_app  # noqa: E402

EXAMPLES = 100  # per operation and mode: about 10 s for all of them on 2 cores
MAX_BODY = 4096  # small, so generated batches also reach the 413 path
MAX_BATCH = 3
OPERATIONS = {"POST /recommend", "POST /recommend/batch", "GET /healthz", "GET /readyz", "GET /metrics", "GET /metadata"}
# A refusal of spec-violating input may be any of these; 413 is the body limit, a deployment setting.
REFUSALS = [400, 413, 415, 422]


def _schema(scorer):
    config = schemathesis.config.SchemathesisConfig.from_dict({"checks": {
        "negative_data_rejection": {"expected-statuses": REFUSALS},
        "positive_data_acceptance": {"expected-statuses": ["2xx", 413]},
    }})
    app = create_app(scorer, max_body_bytes=MAX_BODY, max_batch=MAX_BATCH)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


def _fuzz(operation, mode: GenerationMode, statuses: Counter, failures: list) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case):
        response = case.call()
        statuses[(operation.label, mode.value, response.status_code)] += 1
        try:
            case.validate_response(response)  # every registered check: server errors, conformance, both modes
        except AssertionError as failure:  # collected rather than raised, so one run reports every kind
            failures.append(f"{operation.label} ({mode.value}) -> {response.status_code}: {str(failure)[:600]}")

    run()


def test_fuzzing_the_openapi_spec_finds_no_server_error_and_no_violation(shop):
    schema = _schema(shop)
    statuses: Counter = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} == OPERATIONS
    for op in operations:
        # A GET without parameters has no request that violates its spec: negative mode would find nothing to send.
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if op.method == "post" else (GenerationMode.POSITIVE,)
        for mode in modes:
            _fuzz(op, mode, statuses, failures)
    print(f"\nfuzz: {sum(statuses.values())} requests, {len(failures)} failures")
    for key, count in sorted(statuses.items()):
        print(f"  {key[0]:<22} {key[1]:<9} {key[2]}  {count}")
    assert not failures, "\n".join(failures[:5])
    assert not [k for k in statuses if k[2] >= 500]
    # The run must have reached scoring and refusal alike, or passing would prove nothing.
    for label in ("POST /recommend", "POST /recommend/batch"):
        assert statuses[(label, "positive", 200)] >= EXAMPLES // 2, statuses
        refused = sum(n for (lab, mode, code), n in statuses.items() if lab == label and mode == "negative")
        assert refused >= EXAMPLES // 2, statuses

"""The HTTP service over the fixture shop bundle: in-process with TestClient, then once as a real neurec-serve process.

The service adds no business logic, so each scoring answer is compared with the Scorer's own answer to the same
request; what is tested here is the HTTP contract: status codes, error locations, limits, start and stop.
"""

import http.client
import json
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
try:
    from fastapi.testclient import TestClient
except RuntimeError as e:  # Starlette raises this when neither httpx2 nor httpx is installed
    pytest.skip(f"TestClient unavailable: {e}", allow_module_level=True)

from neurec.schema import BUNDLE_MANIFEST, SCHEMA_VERSION
from neurec.serving.service import create_app

T0 = 1_772_359_200  # 2026-03-01T10:00:00Z
MAX_BODY = 4096
MAX_BATCH = 3


def event(item, kind="view", ts=T0):
    return {"item_id": item, "event_type": kind, "timestamp": ts}


REQUEST = {"history": [event("100001", "view", T0), event("100004", "add_to_cart", T0 + 60)], "anchor": "100001",
           "cart": ["100004"], "placement": "cart", "segment": "returning", "k": 3, "explain": True}


@pytest.fixture(scope="module")
def client(shop):
    with TestClient(create_app(shop, max_body_bytes=MAX_BODY, max_batch=MAX_BATCH)) as c:
        yield c


def test_recommend_is_the_scorers_answer(client, shop):
    r = client.post("/recommend", json=REQUEST)
    assert r.status_code == 200, r.text
    assert r.json() == shop.recommend(REQUEST)  # JSON floats round-trip exactly
    assert r.json()["items"] and r.json()["segment"] == "returning"


def test_defaults_left_to_the_scorer(client, shop):
    request = {"history": [], "anchor": "100001"}  # no k, placement or explain: the Scorer's defaults apply
    r = client.post("/recommend", json=request)
    assert r.status_code == 200 and r.json() == shop.recommend(request)
    assert r.json()["placement"] == "product_page" and "dropped" not in r.json()


def test_whole_floats_are_the_integers_json_schema_says_they_are(client, shop):
    """2.0 is an integer to JSON Schema, so a client generated from the spec may send it for k or an id."""
    request = {"history": [event(100001.0)], "k": 2.0, "customer_id": 7.0, "cart": [100004.0]}
    r = client.post("/recommend", json=request)
    assert r.status_code == 200, r.text
    assert r.json() == shop.recommend({"history": [event("100001")], "k": 2, "cart": ["100004"]})
    assert len(r.json()["items"]) <= 2
    for bad, fragment in (({"k": 2.5}, "valid integer"), ({"customer_id": 7.5}, "customer_id: expected")):
        r = client.post("/recommend", json={"history": [], **bad})
        assert r.status_code == 422 and fragment in r.text, r.text


def test_shown_reaches_the_scorer(client, shop):
    request = {"history": [], "anchor": "100001", "shown": ["100005"]}
    r = client.post("/recommend", json=request)
    assert r.status_code == 200 and r.json() == shop.recommend(request)
    assert "shown_before" in {reason for it in r.json()["items"] for reason in it["reasons"]}


def test_healthz_and_metadata(client, shop):
    assert client.get("/healthz").json() == {"status": "ok"}
    meta = client.get("/metadata").json()
    assert meta["model_version"] == "fixture-1" and meta["training_run_id"] == "run-123"
    assert meta["schema_version"] == SCHEMA_VERSION and meta["max_history"] == 5
    assert meta["n_items"] == shop.bundle.manifest["n_items"] and meta["catalog_items"] == len(shop.catalog)
    assert meta["calibration_present"] is False and meta["calibration"] == {"temperature": 1.0, "bias": 0.0, "knots": 0}
    assert meta["copurchase_present"] is True
    assert meta["rules"]["top_k"] == shop.rules.top_k == 4 and meta["rules"]["upsell_band"] == [1.2, 1.4]
    assert (meta["max_body_bytes"], meta["max_batch"]) == (MAX_BODY, MAX_BATCH)


def test_readyz_and_metrics_count_requests_statuses_and_rule_drops(shop):
    import hashlib

    fresh = shop.with_rules(shop.rules)  # its own drop counters
    # Outside its lifespan (not started, or shutting down) the app is alive but not ready.
    idle = TestClient(create_app(fresh))
    assert idle.get("/healthz").status_code == 200
    assert (idle.get("/readyz").status_code, idle.get("/readyz").json()) == (503, {"status": "not ready"})
    with TestClient(create_app(fresh, max_body_bytes=MAX_BODY)) as c:
        assert c.get("/readyz").json() == {"status": "ready"}
        meta = c.get("/metadata").json()
        assert meta["bundle_sha256"] == hashlib.sha256((shop.bundle.path / BUNDLE_MANIFEST).read_bytes()).hexdigest()
        assert meta["registry"] is None
        for _ in range(3):
            assert c.post("/recommend", json=REQUEST).status_code == 200
        assert c.post("/recommend", json={"history": [], "k": "3"}).status_code == 422
        assert c.post("/recommend", content=b'{"history": []' + b" " * MAX_BODY + b"}",
                      headers={"content-type": "application/json"}).status_code == 413
        assert c.get("/wp-login.php").status_code == 404
        text = c.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = text.text.splitlines()
    assert 'neurec_requests_total{method="POST",route="/recommend",status="200"} 3' in lines
    assert 'neurec_requests_total{method="POST",route="/recommend",status="422"} 1' in lines
    assert 'neurec_requests_total{method="POST",route="/recommend",status="413"} 1' in lines
    assert 'neurec_requests_total{method="GET",route="other",status="404"} 1' in lines  # no label per stray path
    assert 'neurec_request_seconds_count{route="/recommend"} 5' in lines
    assert 'neurec_request_seconds_bucket{route="/recommend",le="+Inf"} 5' in lines
    # Every drop the rules made in the three answers, by reason, as the explain lists show them.
    dropped = shop.recommend(REQUEST)["dropped"]
    expected = {}
    for d in dropped:
        expected[d["reason"]] = expected.get(d["reason"], 0) + 3
    assert expected and fresh.drops() == expected
    for reason, n in expected.items():
        assert f'neurec_rule_drops_total{{reason="{reason}"}} {n}' in lines


def test_openapi_has_the_endpoints_and_examples(client):
    spec = client.get("/openapi.json").json()
    assert {"/recommend", "/recommend/batch", "/healthz", "/readyz", "/metrics", "/metadata"} <= set(spec["paths"])
    ok = spec["paths"]["/metadata"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Metadata"}
    assert "bundle_sha256" in spec["components"]["schemas"]["Metadata"]["properties"]
    schemas = spec["components"]["schemas"]
    assert schemas["RecommendRequest"]["examples"][0]["history"]
    assert schemas["RecommendRequest"]["additionalProperties"] is False
    assert schemas["Event"]["properties"]["event_type"]["enum"] == ["view", "add_to_cart", "purchase"]
    assert schemas["BatchRequest"]["properties"]["requests"]["maxItems"] == MAX_BATCH


@pytest.mark.parametrize(("body", "loc", "fragment"), [
    ({"history": [], "k": "3"}, ["body", "k"], "valid integer"),  # strict: no coercion the Scorer would refuse
    ({"k": 2}, ["body", "history"], "Field required"),
    ({"history": [], "candidatez": ["100001"]}, ["body", "candidatez"], "Extra inputs"),
    ({"history": [event("100001", "clik")]}, ["body", "history", 0, "event_type"], "'view'"),
    ({"history": [{"item_id": "100001", "event_type": "view"}]}, ["body", "history", 0, "timestamp"], "required"),
    # Past pydantic, the Scorer's own checks: its RequestError keeps the field path.
    ({"history": [event("100001", ts=T0 * 1000)]}, ["body", "history", 0, "timestamp"], "milliseconds"),
    ({"history": [], "cart": [1.5]}, ["body", "cart", 0], "cart[0]: expected an item id"),
    ({"history": [], "shown": [1.5]}, ["body", "shown", 0], "shown[0]: expected an item id"),
    ({"history": [], "shown": "100001"}, ["body", "shown"], "valid list"),
])
def test_invalid_request_names_the_field(client, body, loc, fragment):
    r = client.post("/recommend", json=body)
    assert r.status_code == 422, r.text
    errors = {tuple(d["loc"]): d["msg"] for d in r.json()["detail"]}
    assert tuple(loc) in errors, errors
    assert fragment in errors[tuple(loc)]


@pytest.mark.parametrize(("content", "shown"), [
    (b'{"history": [,]}', "body is not valid JSON: "),
    (b"", "body is empty; expected a JSON object"),
    (b'["not", "an", "object"]', "body: expected a JSON object, got an array"),
])
def test_a_body_that_is_no_json_object_is_a_400(client, content, shown):
    r = client.post("/recommend", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith(shown)


def test_body_limit(client):
    big = {"history": [], "segment": "x" * MAX_BODY}
    r = client.post("/recommend", json=big)
    assert r.status_code == 413 and f"at most {MAX_BODY} bytes" in r.json()["detail"]
    # No Content-Length (chunked) and a Content-Length that lies: the bytes received are counted too.
    chunks = (b'{"history": [], "segment": "' + b"x" * 1000 + b'"' if i == 0 else b" " * 1000 for i in range(6))
    r = client.post("/recommend", content=chunks, headers={"content-type": "application/json"})
    assert r.status_code == 413
    lying = {"content-length": "20", "content-type": "application/json"}
    r = client.post("/recommend", content=json.dumps(big).encode(), headers=lying)
    assert r.status_code == 413
    assert client.post("/recommend", json={"history": []}).status_code == 200  # a small body still passes


def test_batch_one_model_call(client, shop, monkeypatch):
    calls = []
    real_run = shop._run
    monkeypatch.setattr(shop, "_run", lambda *arrays: calls.append(arrays[-1].shape) or real_run(*arrays))
    second = {"history": [event("100006", "purchase")], "anchor": "100006", "placement": "post_purchase"}
    r = client.post("/recommend/batch", json={"requests": [REQUEST, second]})
    assert r.status_code == 200, r.text
    assert len(calls) == 1 and calls[0][0] == 2  # both requests in one onnxruntime call
    monkeypatch.undo()
    assert r.json()["responses"] == [shop.recommend(REQUEST), shop.recommend(second)]
    assert client.post("/recommend/batch", json={"requests": []}).json() == {"responses": []}


@pytest.mark.parametrize(("requests", "loc"), [
    ([REQUEST, {"history": [event("100001", "clik")]}], ["body", "requests", 1, "history", 0, "event_type"]),
    ([REQUEST, {"history": [], "k": 0}], ["body", "requests", 1, "k"]),  # the Scorer's range check
    ([REQUEST, {"history": [], "segment": "x", "now": "yesterday"}], ["body", "requests", 1, "now"]),
    ([REQUEST] * (MAX_BATCH + 1), ["body", "requests"]),
])
def test_batch_bad_item_names_its_position(client, requests, loc):
    r = client.post("/recommend/batch", json={"requests": requests})
    assert r.status_code == 422, r.text
    assert loc in [d["loc"] for d in r.json()["detail"]], r.text


def test_service_stays_off_the_training_stack():
    code = ("import sys, neurec.serving.service, neurec.cli.serve\n"
            "print(','.join(m for m in ('torch', 'hydra', 'omegaconf', 'mlflow', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""


# --- a real neurec-serve process -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, body=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        conn.request(method, path, body=data, headers={"content-type": "application/json"} if data else {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def wait_healthy(proc, port, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"neurec-serve exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            if call(port, "GET", "/healthz") == (200, {"status": "ok"}):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"neurec-serve did not answer /healthz within {seconds:.0f} s")


def serve_cmd(bundle, port):
    return [sys.executable, "-m", "neurec.cli.serve", "--bundle", str(bundle), "--host", "127.0.0.1",
            "--port", str(port), "--max-body-bytes", str(MAX_BODY), "--no-access-log"]


def stop_by_sigterm(proc, seconds: float) -> str:
    """SIGTERM, then the process must exit 0 without a traceback within `seconds`; returns its stderr."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"neurec-serve did not stop within {seconds:.0f} s of SIGTERM")
    stderr = proc.stderr.read()
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    return stderr


def test_real_process_serves_and_stops_on_sigterm(shop_bundle, shop):
    port = free_port()
    proc = subprocess.Popen(serve_cmd(shop_bundle, port), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(proc, port)
        assert call(port, "GET", "/metadata")[1]["model_version"] == "fixture-1"
        assert "/recommend" in call(port, "GET", "/openapi.json")[1]["paths"]
        assert call(port, "POST", "/recommend", REQUEST) == (200, shop.recommend(REQUEST))
        status, body = call(port, "POST", "/recommend/batch", {"requests": [REQUEST]})
        assert status == 200 and body["responses"] == [shop.recommend(REQUEST)]
        status, body = call(port, "POST", "/recommend", {"history": [event("100001", "clik")]})
        assert status == 422 and body["detail"][0]["loc"] == ["body", "history", 0, "event_type"]
        oversize = b'{"history": [], "segment": "' + b"x" * 2 * MAX_BODY + b'"}'
        status, body = call(port, "POST", "/recommend", raw=oversize)
        assert status == 413 and "at most 4096 bytes" in body["detail"]
    finally:
        stderr = stop_by_sigterm(proc, 15)
    assert "stopped (SIGTERM)" in stderr


def test_bad_bundle_exits_2_with_one_line(shop_copy):
    (shop_copy / BUNDLE_MANIFEST).unlink()
    out = subprocess.run(serve_cmd(shop_copy, free_port()), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurec-serve: error: ") and "manifest.json is missing" in lines[0]


def test_workers_share_one_port_and_stop_on_sigterm(shop_bundle, shop):
    port = free_port()
    proc = subprocess.Popen(serve_cmd(shop_bundle, port) + ["--workers", "2", "--graceful-seconds", "5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(proc, port)
        assert call(port, "GET", "/readyz") == (200, {"status": "ready"})
        for _ in range(4):  # whichever worker takes it, the same bundle answers
            assert call(port, "POST", "/recommend", REQUEST) == (200, shop.recommend(REQUEST))
        assert call(port, "GET", "/metadata")[1]["max_body_bytes"] == MAX_BODY  # the options reached the workers
    finally:
        stop_by_sigterm(proc, 20)


@pytest.mark.parametrize(("flags", "message"), [
    (["--workers", "0"], "--workers must be >= 1"),
    (["--graceful-seconds", "-1"], "--graceful-seconds must be >= 0"),
    (["--port", "70000"], "--port must be between 0 and 65535"),
    (["--max-batch", "0"], "--max-batch must be >= 1"),
])
def test_bad_serve_options_exit_2_naming_the_option(shop_bundle, flags, message):
    out = subprocess.run(serve_cmd(shop_bundle, free_port()) + flags, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr

"""neurec-recommend through a real process: exit codes and one-line errors matter to the shell that calls it."""

import json
import subprocess
import sys

import pytest

from neurec.schema import BUNDLE_MANIFEST


def run_cli(*args, stdin=None):
    cmd = [sys.executable, "-m", "neurec.cli.recommend", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=60)


@pytest.fixture
def request_file(tmp_path):
    path = tmp_path / "req.json"
    request = {"history": [{"item_id": "100001", "event_type": "view", "timestamp": "2026-03-01T10:00:00Z"}], "k": 2}
    path.write_text(json.dumps(request))
    return path


def test_prints_response(shop_bundle, request_file):
    out = run_cli("--bundle", shop_bundle, "--request", request_file)
    assert out.returncode == 0, out.stderr
    response = json.loads(out.stdout)
    assert [it["rank"] for it in response["items"]] == [1, 2]
    assert response["model_version"] == "fixture-1"


def test_reads_stdin(shop_bundle):
    request = '{"history": [], "anchor": "100001", "k": 1}'
    out = run_cli("--bundle", shop_bundle, "--request", "-", "--compact", stdin=request)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["items"]) == 1 and len(out.stdout.strip().splitlines()) == 1


def _assert_one_line_error(out, *fragments):
    assert out.returncode == 2 and out.stdout == ""
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurec-recommend: error: "), out.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_bad_bundle(shop_copy, request_file):
    (shop_copy / BUNDLE_MANIFEST).unlink()
    _assert_one_line_error(run_cli("--bundle", shop_copy, "--request", request_file), "manifest.json is missing")


def test_bad_request(shop_bundle, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"history": [{"item_id": "1", "event_type": "clik", "timestamp": 0}]}))
    out = run_cli("--bundle", shop_bundle, "--request", path)
    _assert_one_line_error(out, "history[0].event_type: unknown event type 'clik'", str(path))


def test_invalid_json_and_missing_file(shop_bundle, tmp_path):
    out = run_cli("--bundle", shop_bundle, "--request", "-", stdin='{"history": [,]}')
    _assert_one_line_error(out, "request stdin: invalid JSON at line 1 column 14")
    out = run_cli("--bundle", shop_bundle, "--request", tmp_path / "absent.json")
    _assert_one_line_error(out, "absent.json: cannot read (No such file or directory)")

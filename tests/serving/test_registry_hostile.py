"""A hostile tracking server on 127.0.0.1: every malicious answer is refused by name, nothing is written outside
the cache, and the version cached before stays byte for byte as it was."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from neurec.serving import BundleError, load_bundle
from neurec.serving import registry, registry_rest
from neurec.serving.registry import parse_model_uri, resolve_bundle

NAME = "shop"
ARTIFACTS = "mlflow-artifacts:/1/models/m-1/artifacts"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        answers = self.server.answers
        path = self.path.split("?")[0]
        if path == "/api/2.0/mlflow/registered-models/alias":
            answer = answers["alias"]
        elif path == "/api/2.0/mlflow/model-versions/get-download-uri":
            answer = answers["uri"]
        elif path == "/api/2.0/mlflow-artifacts/artifacts":
            answer = answers["listing"]
        elif path.startswith("/api/2.0/mlflow-artifacts/artifacts/"):
            answer = answers["files"].get(path.rsplit("/", 1)[-1], (404, b"no such file"))
        else:
            answer = (404, b"unknown endpoint")
        code, body = answer if isinstance(answer, tuple) else (200, answer)
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(template_bundle):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    files = {p.name: p.read_bytes() for p in template_bundle.iterdir()}
    httpd.answers = {
        "alias": {"model_version": {"name": NAME, "version": "1"}},
        "uri": {"artifact_uri": ARTIFACTS},
        "listing": {"files": [{"path": n, "is_dir": False, "file_size": len(b)} for n, b in files.items()]},
        "files": files,
    }
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.uri = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def cached(server, tmp_path):
    """Version 1 fetched honestly into a cache three levels below tmp_path; returns (cache, folder, digest)."""
    cache = tmp_path / "deep" / "er" / "cache"
    folder = resolve_bundle(f"models:/{NAME}@champion", server.uri, cache)
    assert load_bundle(folder).model_version == "fixture-1"
    return cache, folder, _digest(tmp_path)


def _digest(root: Path) -> str:
    """Every path and byte under root, except the writers' lock files."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.name.endswith(".lock"):
            continue
        h.update(str(p.relative_to(root)).encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


def _refused(server, tmp_path, cached, spec, match, **answers):
    cache, folder, before = cached
    server.answers.update(answers)
    with pytest.raises(BundleError, match=match):
        resolve_bundle(spec, server.uri, cache)
    assert _digest(tmp_path) == before, "the refusal changed or left something on disk"
    assert load_bundle(folder).model_version == "fixture-1"


def _listing(*entries):
    return {"files": list(entries)}


@pytest.mark.parametrize("entry, shown", [
    ({"path": "../../../pwned.txt"}, r"'\.\./\.\./\.\./pwned\.txt'"),
    ({"path": "/etc/pwned.txt"}, r"'/etc/pwned\.txt'"),
    ({"path": "a/../../pwned.txt"}, r"'a/\.\./\.\./pwned\.txt'"),
    ({"path": "..\\..\\pwned.txt"}, r"pwned\.txt'"),
    ({"path": "x\x00y"}, r"'x\\x00y'"),
    ({"path": ".hidden"}, r"'\.hidden'"),
    ({"path": ""}, r"''"),
    ({"path": "sub", "is_dir": True}, r"holds a folder 'sub'"),
    ({"path": 7}, r"listing entry is \{'path': 7\}"),
    ("model.onnx", r"listing entry is 'model\.onnx'"),
    ({}, r"listing entry is \{\}"),
])
def test_file_list_entries_that_are_not_plain_names(server, tmp_path, cached, entry, shown):
    good = server.answers["listing"]["files"]
    _refused(server, tmp_path, cached, f"models:/{NAME}/2", shown, listing=_listing(*good, entry))
    assert not list(tmp_path.rglob("pwned*"))


@pytest.mark.parametrize("listing, shown", [
    ({"files": "model.onnx"}, r"'files' is str, expected a list"),
    ({"files": []}, r"no bundle/ in its artifacts"),
    ({"files": [{"path": f"f{i}"} for i in range(100)]}, r"lists 100 files"),
    ({"files": [{"path": "rules.json"}, {"path": "rules.json"}]}, r"lists a file twice"),
])
def test_listings_of_the_wrong_shape(server, tmp_path, cached, listing, shown):
    _refused(server, tmp_path, cached, f"models:/{NAME}/2", shown, listing=listing)


@pytest.mark.parametrize("version", ["../../victim", "../../../victim", "1.5", "-1", "0", "1e3", "٣", "9" * 40, "",
                                     True, None, 1.0, [1], {"v": 1}])
def test_alias_versions_that_are_not_positive_integers(server, tmp_path, cached, version):
    victim = tmp_path / "deep" / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("kept")
    cached = (*cached[:2], _digest(tmp_path))
    answer = {"model_version": {"version": version}}
    _refused(server, tmp_path, cached, f"models:/{NAME}@champion", r"version .* is not a positive integer",
             alias=answer)
    assert (victim / "data.txt").read_text() == "kept"


@pytest.mark.parametrize("answer, shown", [
    ({}, r"has no model_version\.version"),
    ({"model_version": "1"}, r"has no model_version\.version"),
    (b"<html>gateway</html>", r"is not JSON .*<html>"),
    (b"\xff\xfe", r"is not JSON"),
    (b"[1, 2]", r"expected a JSON object, got list"),
    (b"[" * 100_000 + b"]" * 100_000, r"is not JSON"),
    ((500, b"internal trouble"), r"answered 500: internal trouble"),
    ((404, b'{"error_code": "RESOURCE_DOES_NOT_EXIST"}'), r"answered 404: .*RESOURCE_DOES_NOT_EXIST"),
])
def test_garbage_and_wrong_types_from_the_alias_endpoint(server, tmp_path, cached, answer, shown):
    _refused(server, tmp_path, cached, f"models:/{NAME}@champion", shown, alias=answer)


def test_a_huge_answer_is_cut_off(server, tmp_path, cached, monkeypatch):
    monkeypatch.setattr(registry_rest, "MAX_JSON_BYTES", 1000)
    huge = {"model_version": {"version": "2", "padding": "x" * 5000}}
    _refused(server, tmp_path, cached, f"models:/{NAME}@champion", r"larger than 1000 bytes", alias=huge)


def test_a_huge_file_is_cut_off(server, tmp_path, cached, monkeypatch):
    monkeypatch.setattr(registry_rest, "MAX_FILE_BYTES", 100)
    _refused(server, tmp_path, cached, f"models:/{NAME}/2", r"bundle/[a-z_]+\.[a-z]+: larger than 100 bytes; not a bundle file")


def test_a_file_the_server_cannot_send(server, tmp_path, cached):
    files = {k: v for k, v in server.answers["files"].items() if k != "rules.json"}
    _refused(server, tmp_path, cached, f"models:/{NAME}/2", r"rules\.json: the registry answered 404", files=files)


@pytest.fixture
def local_artifacts(tmp_path):
    """A file: artifact folder on this disk, with a bundle/ folder whose content each test spoils."""
    root = tmp_path / "artifacts"
    (root / "bundle").mkdir(parents=True)
    return root


@pytest.mark.parametrize("uri, shown", [
    (None, r"artifact_uri None is not a URI"),
    (12, r"artifact_uri 12 is not a URI"),
    ("", r"artifact_uri '' is not a URI"),
    ("s3://bucket/models/1", r"need the mlflow package"),
    ("file:///nonexistent-neurec/x", r"no bundle/ folder at /nonexistent-neurec/x/bundle"),
    ("file:///tmp/../etc", r"artifact path '/tmp/\.\./etc' has a part '\.\.'"),
    ("file://fileserver/share/models", r"host 'fileserver' is not this machine"),
    ("mlflow-artifacts:/1/../../x", r"artifact path '/1/\.\./\.\./x' has a part '\.\.'"),
])
def test_download_uris_that_point_elsewhere(server, tmp_path, cached, uri, shown):
    _refused(server, tmp_path, cached, f"models:/{NAME}/2", shown, uri={"artifact_uri": uri})


@pytest.mark.parametrize("spoil, shown", [
    (lambda b, secret: (b / "rules.json").symlink_to(secret), r"rules\.json is not a plain file"),
    (lambda b, secret: (b / "sub").mkdir(), r"holds a folder 'sub'"),
    (lambda b, secret: (b / ".x").write_text("1"), r"lists '\.x', which is not a plain file name"),
])
def test_a_local_artifact_folder_with_links_or_folders(server, tmp_path, cached, local_artifacts, spoil, shown):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the cache")
    spoil(local_artifacts / "bundle", secret)
    cached = (*cached[:2], _digest(tmp_path))
    _refused(server, tmp_path, cached, f"models:/{NAME}/2", shown, uri={"artifact_uri": local_artifacts.as_uri()})


def test_a_local_artifact_folder_that_is_a_link(server, tmp_path, cached, local_artifacts, template_bundle):
    (local_artifacts / "bundle").rmdir()
    (local_artifacts / "bundle").symlink_to(template_bundle, target_is_directory=True)
    cached = (*cached[:2], _digest(tmp_path))
    _refused(server, tmp_path, cached, f"models:/{NAME}/2", r"is not a plain folder",
             uri={"artifact_uri": local_artifacts.as_uri()})


def test_a_good_local_artifact_folder_is_copied(server, tmp_path, cached, local_artifacts, template_bundle):
    for p in template_bundle.iterdir():
        (local_artifacts / "bundle" / p.name).write_bytes(p.read_bytes())
    server.answers["uri"] = {"artifact_uri": local_artifacts.as_uri()}
    folder = resolve_bundle(f"models:/{NAME}/3", server.uri, cached[0])
    assert folder.name == "3" and load_bundle(folder).model_version == "fixture-1"


def test_only_a_server_on_this_machine_may_name_local_files(tmp_path):
    import urllib.parse

    client = registry_rest.RestRegistry("http://models.example.org:5000")
    with pytest.raises(BundleError, match=r"server at http://models\.example\.org:5000 names file:/srv/x"):
        client._copy_local("models:/x/1", urllib.parse.urlparse("file:///srv/x"), tmp_path)


def test_no_server_at_all(tmp_path, cached, local_server):
    with pytest.raises(BundleError, match=r"no MLflow server answered"):
        resolve_bundle(f"models:/{NAME}/2", f"http://127.0.0.1:{local_server.free_port()}", cached[0])


def test_a_planted_link_in_the_cache_is_refused(server, tmp_path, cached):
    cache, folder, _ = cached
    outside = tmp_path / "outside"
    outside.mkdir()
    model_dir = folder.parent
    (model_dir.parent / "other").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BundleError, match=r"resolves outside the cache"):
        resolve_bundle("models:/other/1", server.uri, cache)
    assert not any(outside.iterdir())


@pytest.mark.parametrize("spec, shown", [
    ("models:/..@champion", r"model name '\.\.' is not allowed"),
    ("models:/.hidden/1", r"model name '\.hidden' is not allowed"),
    ("models:/a b@x", r"model name 'a b' is not allowed"),
    ("models:/x\\y/1", r"model name 'x\\\\y' is not allowed"),
    ("models:/x@.champion", r"alias '\.champion' is not allowed"),
    ("models:/x@a.b", r"alias 'a\.b' is not allowed"),
    ("models:/x/0", r"version '0' is not a positive integer"),
    ("models:/x/1.0", r"version '1\.0' is not a positive integer"),
    ("models:/x/../1", r"expected models:/NAME@ALIAS"),
    ("models:/x@a/b", r"expected models:/NAME@ALIAS"),
    ("models:/x", r"expected models:/NAME@ALIAS"),
])
def test_model_uris_must_be_safe(spec, shown):
    with pytest.raises(BundleError, match=shown):
        parse_model_uri(spec)


def test_versions_are_canonical():
    assert parse_model_uri("models:/shop/007").version == "7"
    assert registry.check_version(12, "here") == "12"
    assert registry._safe("..") == "registry" and registry._safe("http://h:1/") == "http_h_1"


def test_a_cached_version_is_reused_without_asking(server, tmp_path, cached):
    server.answers["files"] = {}  # a fetch would now fail
    assert resolve_bundle(f"models:/{NAME}/1", server.uri, cached[0]) == cached[1]


def test_a_scorer_from_the_registry_says_which_version_its_alias_gave(server, tmp_path, monkeypatch):
    import hashlib

    from neurec.serving import Scorer
    from neurec.serving.service import metadata

    monkeypatch.setenv("NEUREC_CACHE", str(tmp_path / "cache"))
    scorer = Scorer.from_bundle(f"models:/{NAME}@champion", tracking_uri=server.uri)
    assert scorer.registry == {"name": NAME, "version": "1", "alias": "champion"}
    meta = metadata(scorer)
    assert meta["registry"] == scorer.registry
    assert meta["bundle_sha256"] == hashlib.sha256((scorer.bundle.path / "manifest.json").read_bytes()).hexdigest()
    assert Scorer.from_bundle(f"models:/{NAME}/1", tracking_uri=server.uri).registry["alias"] is None
    assert Scorer.from_bundle(scorer.bundle.path).registry is None  # a folder names no registry

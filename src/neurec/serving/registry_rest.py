"""An MLflow tracking server's REST API through the standard library, treating every answer as untrusted input.

Three questions: which version an alias points at, where that version's artifacts are, and the files of its
`bundle/` folder through the server's artifact proxy (`mlflow server` serves artifacts by default). Answers are
size-capped and type-checked; a listed file must be a plain name (a bundle is one flat folder), is written only
inside the staging folder it is given, and never follows or creates a link. Each refusal names the value.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from neurec.serving.bundle import BundleError
from neurec.serving.bundle_files import PLAIN_NAME

BUNDLE_DIR = "bundle"
MAX_JSON_BYTES = 8 << 20  # a listing of a handful of files; more is not an MLflow answer
MAX_FILE_BYTES = 4 << 30  # one bundle file (the ONNX model is the large one)
MAX_FILES = 64
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_CHUNK = 1 << 20


class RestRegistry:
    def __init__(self, uri: str, timeout: float = 30.0):
        self.uri, self.timeout = uri.rstrip("/"), timeout

    def _open(self, path: str, params: dict | None = None):
        url = f"{self.uri}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        try:
            return url, urllib.request.urlopen(url, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode(errors="replace")
            raise BundleError(f"{url}: the registry answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise BundleError(f"{self.uri}: no MLflow server answered ({getattr(exc, 'reason', exc)})") from None

    def _json(self, path: str, params: dict | None = None) -> dict[str, Any]:
        url, resp = self._open(path, params)
        try:
            with resp:
                body = resp.read(MAX_JSON_BYTES + 1)
        except OSError as exc:
            raise BundleError(f"{url}: the answer broke off ({exc})") from None
        if len(body) > MAX_JSON_BYTES:
            raise BundleError(f"{url}: the answer is larger than {MAX_JSON_BYTES} bytes; not an MLflow answer")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise BundleError(f"{url}: the answer is not JSON ({body[:60]!r}); is {self.uri} an MLflow server?") from None
        if not isinstance(data, dict):
            raise BundleError(f"{url}: expected a JSON object, got {type(data).__name__}")
        return data

    def alias_version(self, name: str, alias: str) -> object:
        path = "/api/2.0/mlflow/registered-models/alias"
        data = self._json(path, {"name": name, "alias": alias})
        mv = data.get("model_version")
        if not isinstance(mv, dict) or "version" not in mv:
            raise BundleError(f"{self.uri}{path}: the answer for models:/{name}@{alias} has no model_version.version")
        return mv["version"]  # checked by the caller

    def download(self, name: str, version: str, dest: Path) -> None:
        """Fill the existing empty folder `dest` with the version's bundle files."""
        where = f"models:/{name}/{version}"
        path = "/api/2.0/mlflow/model-versions/get-download-uri"
        base = self._json(path, {"name": name, "version": version}).get("artifact_uri")
        if not isinstance(base, str) or not base or "\x00" in base:
            raise BundleError(f"{self.uri}{path}: {where}: artifact_uri {base!r:.100} is not a URI")
        parsed = urllib.parse.urlparse(base)
        if parsed.scheme == "file":  # a server without the artifact proxy, on this machine's disk
            self._copy_local(where, parsed, dest)
            return
        if parsed.scheme != "mlflow-artifacts":
            raise BundleError(f"{where}: artifacts at {base} need the mlflow package to read "
                              "(or run the server with its artifact proxy, `mlflow server --serve-artifacts`)")
        root = f"{_artifact_path(where, parsed.path)}/{BUNDLE_DIR}"
        names = self._listing(where, root)
        for file_name in names:
            self._fetch_file(f"/api/2.0/mlflow-artifacts/artifacts/{urllib.parse.quote(f'{root}/{file_name}')}",
                             dest / file_name)

    def _listing(self, where: str, root: str) -> list[str]:
        path = "/api/2.0/mlflow-artifacts/artifacts"
        listing = self._json(path, {"path": root}).get("files", [])
        if not isinstance(listing, list):
            raise BundleError(f"{self.uri}{path}: {where}: 'files' is {type(listing).__name__}, expected a list")
        if not listing:
            raise BundleError(f"{where}: no {BUNDLE_DIR}/ in its artifacts; not a neurec model")
        if len(listing) > MAX_FILES:
            raise BundleError(f"{where}: {BUNDLE_DIR}/ lists {len(listing)} files; a bundle has far fewer")
        names = [_plain_entry(where, entry) for entry in listing]
        if len(set(names)) != len(names):
            raise BundleError(f"{where}: {BUNDLE_DIR}/ lists a file twice ({sorted(names)})")
        return names

    def _fetch_file(self, path: str, target: Path) -> None:
        url, resp = self._open(path)
        # O_EXCL | O_NOFOLLOW: never through a link, never over a file written a moment ago.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        size = 0
        try:
            with resp, os.fdopen(fd, "wb") as out:
                while block := resp.read(_CHUNK):
                    size += len(block)
                    if size > MAX_FILE_BYTES:
                        raise BundleError(f"{url}: larger than {MAX_FILE_BYTES} bytes; not a bundle file")
                    out.write(block)
        except OSError as exc:
            raise BundleError(f"{url}: the download broke off ({exc})") from None

    def _copy_local(self, where: str, parsed: urllib.parse.ParseResult, dest: Path) -> None:
        host = urllib.parse.urlparse(self.uri).hostname
        if host not in _LOOPBACK:
            raise BundleError(f"{where}: the server at {self.uri} names file:{parsed.path} on this machine's disk; "
                              "only a server on this machine (127.0.0.1, localhost) may do so")
        if parsed.netloc not in ("", "localhost"):
            raise BundleError(f"{where}: artifact URI host {parsed.netloc!r} is not this machine")
        src = Path("/" + _artifact_path(where, urllib.parse.unquote(parsed.path))) / BUNDLE_DIR
        try:
            mode = os.lstat(src).st_mode
        except OSError:
            raise BundleError(f"{where}: no {BUNDLE_DIR}/ folder at {src}; not a neurec model") from None
        if not stat.S_ISDIR(mode):
            raise BundleError(f"{where}: {src} is not a plain folder (a link or a file)")
        entries = sorted(os.scandir(src), key=lambda e: e.name)
        for entry in entries:  # all checked before the first copy
            _plain_entry(where, {"path": entry.name, "is_dir": entry.is_dir(follow_symlinks=False)})
            if not entry.is_file(follow_symlinks=False):
                raise BundleError(f"{where}: {src / entry.name} is not a plain file (a link or a device)")
        for entry in entries:
            shutil.copyfile(entry.path, dest / entry.name, follow_symlinks=False)


def _plain_entry(where: str, entry: object) -> str:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise BundleError(f"{where}: a {BUNDLE_DIR}/ listing entry is {entry!r:.100}, expected an object with a 'path'")
    name = entry["path"]
    if entry.get("is_dir"):
        raise BundleError(f"{where}: {BUNDLE_DIR}/ holds a folder {name!r:.100}; a bundle is one flat folder")
    if not PLAIN_NAME.match(name):
        raise BundleError(f"{where}: {BUNDLE_DIR}/ lists {name!r:.100}, which is not a plain file name "
                          "(letters, digits, '._-'; no path separators, no leading dot)")
    return name


def _artifact_path(where: str, path: str) -> str:
    """The server's artifact path without surrounding slashes, refused if a part of it climbs or is garbage."""
    parts = path.strip("/").split("/")
    bad = [p for p in parts if p in ("", ".", "..") or "\\" in p or any(ord(c) < 32 for c in p)]
    if bad:
        raise BundleError(f"{where}: artifact path {path!r:.200} has a part {bad[0]!r:.50} that is not allowed")
    return "/".join(parts)

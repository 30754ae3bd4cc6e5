"""Find a bundle by registry name: `models:/NAME@ALIAS` or `models:/NAME/VERSION`, fetched into a local cache.

A deployed scorer has neither torch nor mlflow, so a tracking server is asked over its REST API with the standard
library: which version the alias points at, where that version's artifacts are, then the files of its `bundle/`
folder through the server's artifact proxy (`mlflow server` serves artifacts by default). The downloaded folder
is then opened like any bundle, so every file is checked against the manifest's sha256 as usual. A local store
(sqlite:// or a folder) has no REST API; it is read with the mlflow package, which is installed wherever such a
store is written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from neurec.fsutil import swap_in_dir
from neurec.serving.bundle import BundleError

BUNDLE_DIR = "bundle"  # neurec.train.registry puts the bundle here inside a version's artifacts


def default_cache() -> Path:
    """$NEUREC_CACHE/models, else ~/.cache/neurec/models: one folder per registry, model and version."""
    return Path(os.environ.get("NEUREC_CACHE") or Path.home() / ".cache" / "neurec") / "models"

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w.-]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class ModelRef:
    name: str
    alias: str | None
    version: str | None

    def __str__(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.alias else f"models:/{self.name}/{self.version}"


def is_registry_uri(spec: str | Path) -> bool:
    return str(spec).startswith("models:/")


def parse_model_uri(spec: str) -> ModelRef:
    m = _URI.match(spec)
    if not m:
        raise BundleError(f"{spec}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    return ModelRef(m["name"], m["alias"], m["version"])


def resolve_bundle(spec: str | Path, tracking_uri: str | None = None, cache_dir: Path | None = None) -> Path:
    """A local bundle folder for `spec`: a folder path as it is, a registry URI fetched (or reused from cache)."""
    if not is_registry_uri(spec):
        return Path(spec)
    ref = parse_model_uri(str(spec))
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise BundleError(f"{spec}: which registry? pass --tracking-uri (or set MLFLOW_TRACKING_URI)")
    cache = Path(cache_dir or default_cache())
    if uri.startswith(("http://", "https://")):
        client = _RestRegistry(uri)
        version = ref.version or client.alias_version(ref)
        dest = cache / _safe(uri) / ref.name / version
        if not (dest / "manifest.json").is_file():
            _fetch(lambda tmp: client.download(ref.name, version, tmp), dest)
        return dest
    from neurec.train.registry import download_version, resolve_version  # a local store: mlflow reads it

    try:
        version = resolve_version(uri, ref.name, ref.alias or ref.version, by_alias=ref.alias is not None)
        dest = cache / _safe(uri) / ref.name / version
        if not (dest / "manifest.json").is_file():
            _fetch(lambda tmp: download_version(uri, ref.name, version, tmp), dest)
    except ValueError as exc:  # the registry's ConfigError: unknown name, alias or version
        raise BundleError(str(exc)) from None
    return dest


def _fetch(download, dest: Path) -> None:
    """Download into a sibling temp folder, then swap it in: a crash never leaves half a bundle in the cache."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
    try:
        download(staging / "bundle")
        swap_in_dir(staging / "bundle", dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _safe(uri: str) -> str:
    """A cache folder name per registry, so two servers' version 3 never collide."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", uri).strip("_")[:100]


class _RestRegistry:
    def __init__(self, uri: str, timeout: float = 30.0):
        self.uri, self.timeout = uri.rstrip("/"), timeout

    def _get(self, path: str, params: dict | None = None) -> bytes:
        url = f"{self.uri}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise BundleError(f"{url}: the registry answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise BundleError(f"{self.uri}: no MLflow server answered ({getattr(exc, 'reason', exc)})") from None

    def _json(self, path: str, params: dict | None = None) -> dict:
        return json.loads(self._get(path, params))

    def alias_version(self, ref: ModelRef) -> str:
        data = self._json("/api/2.0/mlflow/registered-models/alias", {"name": ref.name, "alias": ref.alias})
        return str(data["model_version"]["version"])

    def download(self, name: str, version: str, dest: Path) -> None:
        base = self._json("/api/2.0/mlflow/model-versions/get-download-uri",
                          {"name": name, "version": version})["artifact_uri"]
        parsed = urllib.parse.urlparse(base)
        if parsed.scheme == "file":  # a server without the artifact proxy, on this machine's disk
            shutil.copytree(Path(urllib.parse.unquote(parsed.path)) / BUNDLE_DIR, dest)
            return
        if parsed.scheme != "mlflow-artifacts":
            raise BundleError(f"models:/{name}/{version}: artifacts at {base} need the mlflow package to read "
                              "(or run the server with its artifact proxy, `mlflow server --serve-artifacts`)")
        root = f"{parsed.path.strip('/')}/{BUNDLE_DIR}"
        listing = self._json("/api/2.0/mlflow-artifacts/artifacts", {"path": root}).get("files", [])
        if not listing:
            raise BundleError(f"models:/{name}/{version}: no {BUNDLE_DIR}/ in its artifacts; not a neurec model")
        dest.mkdir(parents=True)
        for entry in listing:
            if entry.get("is_dir"):
                continue
            rel = entry["path"]
            quoted = urllib.parse.quote(f"{root}/{rel}")
            (dest / rel).write_bytes(self._get(f"/api/2.0/mlflow-artifacts/artifacts/{quoted}"))

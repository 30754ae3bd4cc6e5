"""Find a bundle by registry name: `models:/NAME@ALIAS` or `models:/NAME/VERSION`, fetched into a local cache.

A deployed scorer has neither torch nor mlflow, so a tracking server is asked over its REST API with the standard
library (neurec.serving.registry_rest). The downloaded folder is then opened like any bundle, so every file is
checked against the manifest's sha256 as usual. A local store (sqlite:// or a folder) has no REST API; it is read
with the mlflow package, which is installed wherever such a store is written.

Nothing the server says is trusted as a path: the model name must be a plain name, a version a positive integer,
and the cache folder they make must lie inside the cache. A fetch fills a hidden staging folder that replaces the
version's folder in one step (neurec.fsutil.replacing_dir), so a refused or interrupted fetch changes nothing that
was cached before.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from neurec.fsutil import replacing_dir
from neurec.serving.bundle import BundleError

BUNDLE_DIR = "bundle"  # neurec.train.registry puts the bundle here inside a version's artifacts
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
ALIAS_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$")
_URI = re.compile(r"^models:/(?P<name>[^/@]*)(?:@(?P<alias>[^/]*)|/(?P<version>[^/@]*))$")
_MAX_VERSION_DIGITS = 18


def default_cache() -> Path:
    """$NEUREC_CACHE/models, else ~/.cache/neurec/models: one folder per registry, model and version."""
    return Path(os.environ.get("NEUREC_CACHE") or Path.home() / ".cache" / "neurec") / "models"


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
        raise BundleError(f"{spec!r}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    if not NAME_PATTERN.match(m["name"]):
        raise BundleError(f"{spec!r}: model name {m['name']!r} is not allowed (letters, digits and '._-', "
                          "not starting with '.' or '-', at most 128 characters)")
    if m["alias"] is not None and not ALIAS_PATTERN.match(m["alias"]):
        raise BundleError(f"{spec!r}: alias {m['alias']!r} is not allowed (letters, digits, '_' and '-')")
    version = None if m["version"] is None else check_version(m["version"], spec)
    return ModelRef(m["name"], m["alias"], version)


def check_version(value: object, where: str) -> str:
    """A registry version as a canonical decimal string; anything else (a path, a float, a bool) is refused."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        text = value
    else:
        text = ""
    if not text or len(text) > _MAX_VERSION_DIGITS or int(text) < 1:
        raise BundleError(f"{where}: version {value!r:.100} is not a positive integer")
    return str(int(text))


def cache_folder(cache: Path, uri: str, name: str, version: str) -> Path:
    """cache/<registry>/<name>/<version>, refused if it would resolve outside the cache (a link planted in it)."""
    dest = Path(cache) / _safe(uri) / name / version
    root = Path(cache).resolve()
    if not dest.resolve().is_relative_to(root):
        raise BundleError(f"models:/{name}/{version}: the cache folder {dest} resolves outside the cache {root}; "
                          "remove the link in the cache")
    return dest


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
        from neurec.serving.registry_rest import RestRegistry

        client = RestRegistry(uri)
        version = ref.version or check_version(client.alias_version(ref.name, ref.alias), f"{spec} at {uri}")
        dest = cache_folder(cache, uri, ref.name, version)
        if not (dest / "manifest.json").is_file():
            with replacing_dir(dest) as tmp:
                client.download(ref.name, version, tmp)
        return dest
    from neurec.train.registry import download_version, resolve_version  # a local store: mlflow reads it

    try:
        found = resolve_version(uri, ref.name, ref.alias or ref.version, by_alias=ref.alias is not None)
        version = check_version(found, f"{spec} at {uri}")
        dest = cache_folder(cache, uri, ref.name, version)
        if not (dest / "manifest.json").is_file():
            download_version(uri, ref.name, version, dest)  # replaces dest in one step
    except ValueError as exc:  # the registry's ConfigError: unknown name, alias or version
        if isinstance(exc, BundleError):
            raise
        raise BundleError(str(exc)) from None
    return dest


def registry_source(spec: str | Path, resolved: Path) -> dict[str, str | None] | None:
    """Which registered model a bundle came from: name, version and the alias asked for; None for a folder.

    The version is the resolved one (the cache folder's name), also when an alias was asked for, so /metadata
    says which version an alias pointed at when the service loaded it."""
    if not is_registry_uri(spec):
        return None
    ref = parse_model_uri(str(spec))
    return {"name": ref.name, "version": ref.version or Path(resolved).name, "alias": ref.alias}


def _safe(uri: str) -> str:
    """A cache folder name per registry, so two servers' version 3 never collide; never '.', '..' or hidden."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", uri).strip("_.-")[:100] or "registry"

"""What a run was made from: code (git commit, dirty tree), data (a fingerprint of files and preprocessing) and
library versions. Recorded on every run so that two runs that disagree can be told apart by more than a date.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from neurec.fsutil import sha256_file

LIBRARIES = ("neurec", "torch", "numpy", "pandas", "pyarrow", "onnx", "onnxruntime", "mlflow", "hydra-core",
             "implicit")


def git_state(root: Path) -> dict[str, str]:
    """Commit and dirty flag of the checkout at `root`; "unknown" outside a git checkout (an installed wheel)."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    # Untracked files count: an uncommitted new module changes what ran as much as an edited one.
    status = git("status", "--porcelain")
    return {"git_commit": commit, "git_dirty": "unknown" if status is None else str(bool(status)).lower()}


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def data_fingerprint(data_cfg) -> dict[str, object]:
    """sha256 over the preprocessing config and the content of every input file.

    Content, not names or dates: a re-exported file with the same rows keeps its fingerprint, an edited one does
    not. Simulated data has no files; its config (seed included) decides it, together with the code version.
    """
    cfg = dataclasses.asdict(data_cfg)
    roles = {"events_path": [cfg.get("events_path")], "catalog_path": [cfg.get("catalog_path")],
             "category_tree_path": [cfg.get("category_tree_path")], "properties_paths": cfg.get("properties_paths") or []}
    files: dict[str, str] = {}
    digest = hashlib.sha256()
    # Paths stay out of the digest: the same file in another folder is the same data.
    settings = {k: v for k, v in cfg.items() if k not in roles}
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for role, paths in roles.items():
        for p in filter(None, paths):
            path = Path(p)
            files[str(p)] = sha256_file(path) if path.is_file() else "missing"
            digest.update(f"{role}={files[str(p)]}".encode())
    return {"fingerprint": digest.hexdigest()[:16], "files": files}


def provenance(root: Path, data_cfg) -> dict[str, object]:
    return {**git_state(root), "data": data_fingerprint(data_cfg), "libraries": library_versions()}


def provenance_tags(info: dict) -> dict[str, str]:
    """The headline facts as MLflow tags, so the runs table can filter and group by them."""
    tags = {"neurec.git_commit": str(info["git_commit"]), "neurec.git_dirty": str(info["git_dirty"]),
            "neurec.data_fingerprint": str(info["data"]["fingerprint"])}
    tags.update({f"neurec.version.{k}": v for k, v in info["libraries"].items()})
    return tags

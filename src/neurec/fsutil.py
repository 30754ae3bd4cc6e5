"""Filesystem steps that must never leave a half-written artifact under its real name."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def swap_in_dir(tmp: Path, target: Path) -> None:
    """Replace folder `target` with the complete folder `tmp` (same filesystem).

    Move the old one aside, rename the new one in, then delete the old: at every moment one complete folder has
    the real name, so a reader or a crash never sees half of one.
    """
    old = target.with_name(f".{target.name}-old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Streamed, so a large model never has to fit in memory twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()

"""The file-level checks of a bundle: plain files only (no links, folders or devices), readable, hash-checked.

Kept apart from the content checks in neurec.serving.bundle; every failure is a BundleError that names the file.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from neurec.errors import UserError
from neurec.fsutil import sha256_file
from neurec.schema import BUNDLE_MANIFEST

REEXPORT = "re-export the bundle"
# A bundle is one flat folder: file names are plain (no separators, no leading dot, no control characters).
PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class BundleError(UserError):
    """The bundle is missing, incomplete, altered or from an incompatible version."""


def refuse_links(root: Path) -> None:
    """A link inside a bundle would make its hashes describe files that live (and change) elsewhere."""
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            if os.path.islink(os.path.join(folder, name)):
                rel = os.path.relpath(os.path.join(folder, name), root)
                raise BundleError(f"bundle {root}: {rel} is a symbolic link; a bundle holds plain files only "
                                  f"(copy it with the links resolved, or {REEXPORT})")


def check_regular(root: Path, name: str, listed: bool = False) -> None:
    """A missing file, a folder or a device where a file is expected: each named as what it is."""
    try:
        mode = os.lstat(root / name).st_mode
    except FileNotFoundError:
        where = f" is listed in {BUNDLE_MANIFEST} but" if listed else " is"
        raise BundleError(f"bundle {root}: {name}{where} missing; copy the whole bundle folder or {REEXPORT}") from None
    if stat.S_ISDIR(mode):
        raise BundleError(f"bundle {root}: {name} is a directory where a file is expected; {REEXPORT}")
    if not stat.S_ISREG(mode):
        raise BundleError(f"bundle {root}: {name} is not a regular file; {REEXPORT}")


def read_bytes(root: Path, name: str) -> bytes:
    check_regular(root, name)
    try:
        return (root / name).read_bytes()
    except OSError as e:
        raise BundleError(f"bundle {root}: {name} cannot be read ({e.strerror or e})") from None


def read_json(root: Path, name: str, raw: bytes | None = None) -> Any:
    try:
        return json.loads((raw if raw is not None else read_bytes(root, name)).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise BundleError(f"bundle {root}: {name} is not valid JSON ({e}); {REEXPORT}") from None


def verify_file(root: Path, name: str, expected: str) -> None:
    path = root / name
    check_regular(root, name, listed=True)
    try:
        actual = sha256_file(path)
    except OSError as e:
        raise BundleError(f"bundle {root}: {name} cannot be read ({e.strerror or e})") from None
    if actual != expected.lower():
        raise BundleError(
            f"bundle {root}: {name} sha256 mismatch (expected {expected[:12]}…, got {actual[:12]}…): "
            f"the file was changed after export; {REEXPORT}"
        )

"""Filesystem steps that must never leave a half-written artifact under its real name.

A folder is replaced by building the new one in a hidden sibling (`.NAME.tmp-*`) and exchanging the two names in
one step with Linux's renameat2(RENAME_EXCHANGE): there is no moment at which NAME is absent, so a reader or a
kill at any point sees either the old complete folder or the new one. Where the call is missing (not Linux, an
old kernel, a filesystem without it) the old folder is first renamed to `.NAME.old`; a kill in that short window
leaves no NAME, and the next swap (or `recover_dir`) renames `.NAME.old` back before anything else.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: writers are not serialised, and orphans are only cleaned by name
    fcntl = None  # type: ignore[assignment]

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}
_renameat2 = None
with contextlib.suppress(OSError, AttributeError):
    _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    _renameat2.restype = ctypes.c_int


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap the names `a` and `b` (both must exist). False where the system cannot; nothing moved."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _old(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def recover_dir(target: Path) -> None:
    """Undo a fallback swap that was killed half-way: put `.NAME.old` back as NAME, or drop it if NAME exists."""
    for old in (_old(target), target.with_name(f".{target.name}-old")):  # the second: the name older versions used
        if not old.exists():
            continue
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(old, target)


def swap_in_dir(tmp: Path, target: Path) -> None:
    """Replace folder `target` with the complete folder `tmp` (same filesystem); `tmp` is gone afterwards.

    At every moment a complete folder has the real name (see the module docstring for the one exception).
    """
    recover_dir(target)
    if not target.exists():
        os.rename(tmp, target)
        return
    if exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # now the old folder; a kill here leaves an orphan, cleaned later
        return
    old = _old(target)
    os.rename(target, old)
    os.rename(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def _orphans(target: Path) -> Iterator[Path]:
    """Staging folders of writers that died: ours (`.NAME.tmp-*`) and older versions' (`.NAME-xxxxxxxx`)."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}(\.tmp-[A-Za-z0-9_]+|-[a-z0-9_]{{8}})$")
    if target.parent.is_dir():
        for entry in target.parent.iterdir():
            if pattern.match(entry.name) and entry.is_dir() and not entry.is_symlink():
                yield entry


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """An exclusive advisory lock on `lock_file` (created if missing) across processes, for the block.

    flock, not a lock file that exists-or-not: the kernel drops it when its holder dies, so a killed holder never
    leaves a stale lock behind. Without fcntl (not POSIX) the block runs unserialised.
    """
    if fcntl is None:
        yield
        return
    with open(lock_file, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _writer_lock(target: Path) -> contextlib.AbstractContextManager[None]:
    """One writer per target across processes, so a staging folder with no lock holder is known to be dead."""
    return locked(target.with_name(f".{target.name}.lock"))


@contextlib.contextmanager
def replacing_dir(target: Path) -> Iterator[Path]:
    """Yield an empty staging folder beside `target`; when the block ends normally it replaces `target` in one
    step, and on any error (or a kill, cleaned up by the next writer) `target` stays exactly as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _writer_lock(target):
        recover_dir(target)
        if fcntl is not None:  # under the lock, any other staging folder belongs to a writer that died
            for orphan in _orphans(target):
                shutil.rmtree(orphan, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            yield tmp
            swap_in_dir(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Streamed, so a large model never has to fit in memory twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()

"""Folder swaps that a crash at any step leaves with a complete folder under its real name (fsutil)."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path

import pytest

from neurec import fsutil

FILES = ("model.onnx", "manifest.json", "items.json")


def _bundle(path: Path, version: str) -> Path:
    path.mkdir(parents=True)
    for name in FILES:
        (path / name).write_text(f"{version}:{name}")
    return path


def _version(path: Path) -> str | None:
    """"old" or "new" when `path` is a complete bundle of one version; None when absent or mixed."""
    if not path.is_dir() or sorted(p.name for p in path.iterdir()) != sorted(FILES):
        return None
    versions = {(path / name).read_text().split(":")[0] for name in FILES}
    return versions.pop() if len(versions) == 1 else None


class Crash(Exception):
    """Stands for a kill: the step it replaces never happens, nor does anything after it."""


STEPS = ("rename", "exchange", "rmtree", "mkdtemp")


def _crash_at(monkeypatch, step: int) -> list[str]:
    """Make the `step`-th filesystem step of fsutil raise; return the log of the steps that ran before it."""
    ran: list[str] = []
    real = {"rename": os.rename, "exchange": fsutil.exchange, "rmtree": shutil.rmtree,
            "mkdtemp": fsutil.tempfile.mkdtemp}

    def counted(name):
        def step_fn(*args, **kwargs):
            if len(ran) == step:
                raise Crash(name)
            ran.append(name)
            return real[name](*args, **kwargs)
        return step_fn

    monkeypatch.setattr(fsutil.os, "rename", counted("rename"))
    monkeypatch.setattr(fsutil, "exchange", counted("exchange"))
    monkeypatch.setattr(fsutil.shutil, "rmtree", counted("rmtree"))
    monkeypatch.setattr(fsutil.tempfile, "mkdtemp", counted("mkdtemp"))
    return ran


def _write_new(target: Path) -> None:
    with fsutil.replacing_dir(target) as tmp:
        for name in FILES:
            (tmp / name).write_text(f"new:{name}")


def _no_exchange(monkeypatch) -> None:
    monkeypatch.setattr(fsutil, "_renameat2", None)


@pytest.fixture(params=["exchange", "fallback"])
def mode(request, monkeypatch, tmp_path_factory):
    """Both ways a folder is swapped: renameat2's exchange, and the two renames used where it is missing."""
    if request.param == "exchange":
        probe = tmp_path_factory.mktemp("probe")
        if not fsutil.exchange(_bundle(probe / "a", "old"), _bundle(probe / "b", "new")):
            pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    else:
        _no_exchange(monkeypatch)
    return request.param


def _count_steps(tmp_path: Path, monkeypatch) -> int:
    target = _bundle(tmp_path / "count" / "bundle", "old")
    ran = _crash_at(monkeypatch, 10**6)
    _write_new(target)
    monkeypatch.undo()
    return len(ran)


def test_a_crash_at_any_step_leaves_old_or_new_under_the_real_name(tmp_path, monkeypatch, mode):
    fallback = mode == "fallback"
    n_steps = _count_steps(tmp_path, monkeypatch)
    assert n_steps >= 3
    seen = set()
    for step in range(n_steps):
        if fallback:
            _no_exchange(monkeypatch)
        target = _bundle(tmp_path / f"s{step}" / "bundle", "old")
        ran = _crash_at(monkeypatch, step)
        with pytest.raises(Crash):
            _write_new(target)
        monkeypatch.undo()
        after_crash = _version(target)
        if fallback and after_crash is None:
            # The one window without renameat2: between its two renames only .bundle.old exists; the next
            # swap, or recover_dir, puts it back before anything else happens.
            assert ran[-1] == "rename" and _version(target.with_name(".bundle.old")) == "old"
            fsutil.recover_dir(target)
            after_crash = _version(target)
        assert after_crash in ("old", "new"), (mode, step, ran)
        seen.add(after_crash)
        if fallback:
            _no_exchange(monkeypatch)
        _write_new(target)  # the next write cleans whatever the crash left and succeeds
        monkeypatch.undo()
        assert _version(target) == "new"
        assert sorted(p.name for p in target.parent.iterdir()) == [".bundle.lock", "bundle"], (mode, step)
    assert seen == {"old", "new"}  # crashes landed both before and after the switch


def test_a_writer_that_fails_mid_write_changes_nothing(tmp_path):
    target = _bundle(tmp_path / "bundle", "old")
    with pytest.raises(RuntimeError), fsutil.replacing_dir(target) as tmp:
        (tmp / "model.onnx").write_text("half")
        raise RuntimeError("export failed")
    assert _version(target) == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bundle.lock", "bundle"]


@pytest.mark.parametrize("orphan", [".bundle.tmp-abc123", ".bundle.tmp-x_y", ".bundle-k3j4h5g6"])
def test_orphans_of_dead_writers_are_cleaned_on_the_next_write(tmp_path, orphan):
    target = _bundle(tmp_path / "bundle", "old")
    _bundle(tmp_path / orphan, "old")
    keep = [tmp_path / ".bundle.tmp", tmp_path / "other.tmp-abc", tmp_path / ".bundle-short"]  # not our names
    for path in keep:
        path.mkdir()
    _write_new(target)
    assert _version(target) == "new" and not (tmp_path / orphan).exists()
    assert all(path.is_dir() for path in keep)


@pytest.mark.parametrize("old_name", [".bundle.old", ".bundle-old"])
def test_recover_dir_puts_back_a_half_swapped_folder_or_drops_a_stale_one(tmp_path, old_name):
    target = tmp_path / "bundle"
    _bundle(tmp_path / old_name, "old")
    fsutil.recover_dir(target)  # killed between the fallback's renames: the old folder returns
    assert _version(target) == "old" and not (tmp_path / old_name).exists()
    _bundle(tmp_path / old_name, "stale")
    fsutil.recover_dir(target)  # NAME exists: the leftover is only an orphan
    assert _version(target) == "old" and not (tmp_path / old_name).exists()
    fsutil.recover_dir(target)  # nothing to do
    assert _version(target) == "old"


def test_swap_in_dir_into_a_missing_target_and_over_an_existing_one(tmp_path, mode):
    target = tmp_path / "bundle"
    fsutil.swap_in_dir(_bundle(tmp_path / "first", "old"), target)
    assert _version(target) == "old" and not (tmp_path / "first").exists()
    fsutil.swap_in_dir(_bundle(tmp_path / "second", "new"), target)
    assert _version(target) == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def _fake_renameat2(err: int):
    def call(*args):
        ctypes.set_errno(err)
        return -1
    return call


@pytest.mark.parametrize("err", sorted(fsutil._UNSUPPORTED))
def test_exchange_reports_unsupported_without_moving_anything(tmp_path, monkeypatch, err):
    a, b = _bundle(tmp_path / "a", "old"), _bundle(tmp_path / "b", "new")
    monkeypatch.setattr(fsutil, "_renameat2", _fake_renameat2(err))
    assert fsutil.exchange(a, b) is False
    assert _version(a) == "old" and _version(b) == "new"
    fsutil.swap_in_dir(b, a)  # and a swap then takes the fallback path
    assert _version(a) == "new" and not b.exists() and not (tmp_path / ".a.old").exists()


@pytest.mark.parametrize("err", [errno.ENOENT, errno.EACCES, errno.EBUSY])
def test_exchange_raises_other_errors_naming_both_paths(tmp_path, monkeypatch, err):
    monkeypatch.setattr(fsutil, "_renameat2", _fake_renameat2(err))
    with pytest.raises(OSError) as info:
        fsutil.exchange(tmp_path / "a", tmp_path / "b")
    assert info.value.errno == err and info.value.filename == str(tmp_path / "a")
    assert info.value.filename2 == str(tmp_path / "b")


def test_exchange_without_renameat2_is_false(tmp_path, monkeypatch):
    _no_exchange(monkeypatch)
    assert fsutil.exchange(_bundle(tmp_path / "a", "old"), _bundle(tmp_path / "b", "new")) is False

"""The console scripts' launcher: an exit status passes through, an extra that is missing is named."""

from __future__ import annotations

import pytest

from neurec.cli import launch


def test_a_returned_status_passes_through_and_other_values_are_success(monkeypatch):
    import types

    fake = types.ModuleType("fake_cmd")
    fake.main = lambda: 3
    fake.objective = lambda: 0.36  # what a Hydra task returns for a sweeper: not an error message
    monkeypatch.setitem(__import__("sys").modules, "fake_cmd", fake)
    for target, code in (("fake_cmd:main", 3), ("fake_cmd:objective", 0)):
        with pytest.raises(SystemExit) as exc:
            launch._launch("fake", target, None)
        assert exc.value.code == code


def test_a_missing_extra_is_named_with_the_command_that_installs_it(monkeypatch, capsys):
    monkeypatch.setitem(launch.EXTRAS, "train", ("neurec_no_such_module",))
    with pytest.raises(SystemExit) as exc:
        launch._launch("neurec-train", "neurec.cli.train:main", "train")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "neurec-train: error: needs the 'train' extra (missing: neurec_no_such_module)" in err
    assert "pip install 'neurec[train]'" in err

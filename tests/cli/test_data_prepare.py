"""neurec-data prepare: out-of-core preparation from the command line, its figures, and its refusals."""

import json

import pytest

from neurec.cli.data import main
from neurec.data.outofcore.stored import open_prepared
from neurec.data.simulate import SimulatorConfig, simulate


@pytest.fixture(scope="module")
def events_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("events") / "events.csv"
    simulate(SimulatorConfig(n_customers=200, seed=5)).events.to_csv(path, index=False)
    return path


def test_prepare_writes_shards_the_loader_reads(tmp_path, events_csv, capsys):
    out = tmp_path / "prepared"
    assert main(["prepare", str(events_csv), "--out", str(out), "--json", "model.max_history=12",
                 "data.out_of_core.chunk_events=2000", "data.out_of_core.partitions=2"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["partitions"] == 2 and figures["events"] > 5_000 and set(figures) >= {"seconds_clean", "seconds_sort", "seconds_encode"}
    train = open_prepared(out, "train")
    assert len(train) == figures["train_targets"]
    _, batch = next(train.batches(8))
    assert batch["hist_items"].shape == (8, 12)  # encoded with the model's history length, as training encodes


def test_a_folder_from_a_version_with_other_array_names_is_refused_by_name(tmp_path, events_csv, capsys):
    """Shards name their arrays as the graph's inputs (hist_items, ...); a folder whose meta.json lists other
    names, or none (written before the names changed), is refused with what to do, not read as missing files."""
    from neurec.data.errors import DataError

    out = tmp_path / "prepared"
    assert main(["prepare", str(events_csv), "--out", str(out)]) == 0
    meta_path = out / "valid" / "meta.json"
    meta = json.loads(meta_path.read_text())
    assert meta["arrays"][:3] == ["hist_items", "hist_types", "hist_gaps"]
    del meta["arrays"]
    meta_path.write_text(json.dumps(meta))
    assert len(open_prepared(out, "train")) > 0  # the untouched period still opens
    with pytest.raises(DataError, match="prepared by another neurec version.*run neurec-data prepare again"):
        open_prepared(out, "valid")


def test_prepare_reads_well(tmp_path, events_csv, capsys):
    assert main(["prepare", str(events_csv), "--out", str(tmp_path / "p")]) == 0
    line = capsys.readouterr().out
    assert line.startswith("prepared ") and "decisions" in line and "sort" in line


@pytest.mark.parametrize("args, message", [
    (["data.out_of_core.partitions=0"], "data.out_of_core.partitions=0: must be a positive whole number"),
    (["+data.out_of_core.memory=2"], "data.out_of_core: unknown key"),
    (["data.format=jsonl"], "out-of-core preparation reads CSV or Parquet"),
])
def test_prepare_refuses_bad_settings(tmp_path, events_csv, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["prepare", str(events_csv), "--out", str(tmp_path / "p"), *args])
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_prepare_refuses_a_missing_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["prepare", str(tmp_path / "none.csv"), "--out", str(tmp_path / "p")])
    assert exc.value.code == 2 and "no such file" in capsys.readouterr().err

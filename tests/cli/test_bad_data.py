"""Every kind of bad data of issue 12, through the real command lines, on files each test writes itself.

Classes: 4 = data that used to end in a traceback, 5 = data that used to be accepted without a word, 7 = data that
used to get a misleading message. Each case is run through `neurec-data summary` under the default policy (a
named problem with its count, or a refusal) and, where a policy refuses it, through `neurec-data summary` and
`neurec-train` under that policy: exit 2, one message naming the problem and where it is, no traceback, and no
byte changed in the input files or in what an earlier run left (a bundle folder, an MLflow store).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurec.cli.data import main as data_main

T0 = pd.Timestamp("2026-01-01", tz="UTC").timestamp()
LONG_ID = 2_000_000  # characters: far past data.max_id_length (256) and still a small file


def shop(users: int = 10, buys: int = 3, items: int = 30, days: int = 30, seed: int = 0) -> pd.DataFrame:
    """Sessions of view, view, add_to_cart, purchase over `days` days: well-formed events in neurec's columns."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        for b in range(buys):
            t, item, other = T0 + rng.uniform(0, days * 86400), int(rng.integers(items)), int(rng.integers(items))
            s = f"s{u}-{b}"
            rows += [(u, s, 100 + other, "view", t), (u, s, 100 + item, "view", t + 10),
                     (u, s, 100 + item, "add_to_cart", t + 20), (u, s, 100 + item, "purchase", t + 30)]
    frame = pd.DataFrame(rows, columns=["user_id", "session_id", "item_id", "event_type", "ts"])
    frame["timestamp"] = pd.to_datetime(frame.pop("ts"), unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, index=False)
    return path


def with_cell(column: str, value, row: int = 5, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    frame = (shop() if frame is None else frame).astype({column: object})
    frame.loc[row, column] = value
    return frame


def unix_seconds(frame: pd.DataFrame) -> pd.DataFrame:
    ts = pd.to_datetime(frame["timestamp"], utc=True) - pd.Timestamp("1970-01-01", tz="UTC")
    return frame.assign(timestamp=ts.dt.total_seconds().astype("int64"))


def patch_bytes(frame: pd.DataFrame, path: Path, old: bytes, new: bytes) -> Path:
    data = (frame.to_csv(index=False) if path.suffix == ".csv" else frame.to_json(orient="records", lines=True)).encode()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))
    return path


def catalog(path: Path, items: range = range(100, 130), **bad: dict[int, object]) -> Path:
    """An item table for the shop's items; `bad`: column -> {item: value} cells to spoil."""
    frame = pd.DataFrame({"item_id": list(items), "category": [f"c{i % 4}" for i in items], "price": 9.5,
                          "margin": 0.2, "stock": 5.0})
    for column, cells in bad.items():
        frame[column] = frame[column].astype(object)
        for item, value in cells.items():
            frame.loc[frame["item_id"] == item, column] = value
    frame.to_csv(path, index=False)
    return path


def header_again(frame: pd.DataFrame, path: Path, header: str | None = None, file_header: bool = True) -> Path:
    lines = frame.to_csv(index=False, header=file_header).splitlines(keepends=True)
    line = (header or ",".join(frame.columns)) + "\n"
    path.write_text("".join(lines[:30] + [line] + lines[30:]))
    return path


def taobao_rows() -> pd.DataFrame:
    frame = unix_seconds(shop()).drop(columns="session_id")
    frame["event_type"] = frame["event_type"].map({"view": "pv", "add_to_cart": "cart", "purchase": "buy"})
    return frame.assign(category=7)[["user_id", "item_id", "category", "event_type", "timestamp"]]


Make = Callable[[Path], tuple[Path, list[str]]]


def events(frame_fn: Callable[[], pd.DataFrame], name: str = "events.csv", *extra: str) -> Make:
    return lambda tmp: (write(frame_fn(), tmp / name), list(extra))


def with_catalog(**bad) -> Make:
    return lambda tmp: (write(shop(), tmp / "events.csv"), [f"data.catalog_path={catalog(tmp / 'catalog.csv', **bad)}"])


@dataclass(frozen=True)
class Case:
    cls: int  # 4: was a traceback, 5: was accepted silently, 7: had a misleading message
    make: Make  # writes the files under a folder; the events file and the overrides that point at the rest
    message: str  # in the refusal, or in the warning logged under the default policy: names what and where
    problem: str | None = None  # the summary's problem under the default policy ("name: N dropped"); None: refused
    strict: tuple[str, ...] = ()  # overrides under which the data is refused, when the default goes on
    absent: str = "\0"  # what the message must not say (the misleading one it used to give)


CASES = {
    # 4: tracebacks
    "4-timestamp-2999": Case(4, events(lambda: with_cell("timestamp", "2999-01-01T00:00:00Z")), "2999-01-01",
                             "implausible_timestamp: 1 dropped", ("+data.policies.implausible_timestamp=error",)),
    "4-timestamp-9999": Case(4, events(lambda: with_cell("timestamp", "9999-12-31T23:59:59Z")), "9999-12-31",
                             "implausible_timestamp: 1 dropped", ("+data.policies.implausible_timestamp=error",)),
    "4-timestamp-9999-unix": Case(4, events(lambda: with_cell("timestamp", 253_402_300_799, frame=unix_seconds(shop()))),
                                  "253402300799", "implausible_timestamp: 1 dropped", ("+data.policies.implausible_timestamp=error",)),
    "4-timestamp-9999-parquet": Case(4, events(lambda: with_cell("timestamp", "9999-12-31T00:00:00Z").assign(
        timestamp=lambda f: pd.to_datetime(f["timestamp"], utc=True).astype("datetime64[us, UTC]")), "events.parquet"),
        "9999-12-31", "implausible_timestamp: 1 dropped", ("+data.policies.implausible_timestamp=error",)),
    "4-timestamp-2999-jsonl": Case(4, events(lambda: with_cell("timestamp", "2999-06-01 00:00:00"), "events.jsonl"),
                                   "2999-06-01", "implausible_timestamp: 1 dropped", ("+data.policies.implausible_timestamp=error",)),
    "4-latin1-item-id": Case(4, lambda tmp: (patch_bytes(shop(), tmp / "events.csv", b"\n0,s0-0,108,", b"\n0,s0-0,10\xe9,"), []),
                             "not UTF-8 in ['item_id']", "bad_text: 1 dropped", ("+data.policies.bad_text=error",)),
    "4-latin1-first-column": Case(4, lambda tmp: (patch_bytes(shop(), tmp / "events.csv", b"\n1,s1-0,", b"\n1\xe9,s1-0,"), []),
                                  "not UTF-8 in ['user_id']", "bad_text: 1 dropped", ("+data.policies.bad_text=error",)),
    "4-latin1-jsonl": Case(4, lambda tmp: (patch_bytes(shop(), tmp / "events.jsonl", b'"item_id":108', b'"item_id":"10\xe9"'), []),
                           "not UTF-8 in ['item_id']", "bad_text: 1 dropped", ("+data.policies.bad_text=error",)),
    "4-latin1-catalog-id": Case(4, lambda tmp: (write(shop(), tmp / "events.csv"), [f"data.catalog_path={latin1_catalog(tmp)}"]),
                                "not UTF-8 in ['item_id']", "catalog_bad_text: 1 dropped", ("+data.policies.bad_text=error",)),
    "4-latin1-header": Case(4, lambda tmp: (patch_bytes(shop(), tmp / "events.csv", b"timestamp\n", b"timest\xe4mp\n"), []),
                            "the header line 'user_id,session_id,item_id,event_type,timest", absent="codec can't decode"),
    "4-latin1-extra-header": Case(4, lambda tmp: (patch_bytes(shop().assign(x=1), tmp / "events.csv", b",x\n", b",cat\xe9gorie\n"), []),
                                  "is not utf-8 text (byte 0xe9)", absent="codec can't decode"),
    "4-catalog-inf-price": Case(4, with_catalog(price={101: "inf"}), "infinite or negative price",
                                "bad_catalog_value: 1 fixed", ("+data.policies.bad_catalog_value=error",)),
    # 5: accepted silently
    "5-timestamp-1970": Case(5, events(lambda: with_cell("timestamp", "1970-01-01T00:00:00Z")), "1970-01-01",
                             "implausible_timestamp: 1 dropped", ("+data.policies.implausible_timestamp=error",)),
    "5-timestamp-1970-no-floor": Case(5, events(lambda: with_cell("timestamp", 0, frame=unix_seconds(shop())), "events.csv",
                                                "data.min_timestamp=null"),
                                      "data.timestamp_outlier_factor", "implausible_timestamp: 1 dropped",
                                      ("+data.policies.implausible_timestamp=error",)),
    "5-long-id-limit+1": Case(5, events(lambda: with_cell("item_id", "x" * 257)), "longer than data.max_id_length=256",
                              "long_id: 1 dropped", ("+data.policies.long_id=error",)),
    "5-long-id-megabytes": Case(5, events(lambda: with_cell("item_id", "x" * LONG_ID)), f"({LONG_ID:,} characters)",
                                "long_id: 1 dropped", ("+data.policies.long_id=error",)),
    "5-catalog-negative-price": Case(5, with_catalog(price={101: -3.0, 102: 0}), "infinite or negative price",
                                     "bad_catalog_value: 2 fixed", ("+data.policies.bad_catalog_value=error",)),
    "5-catalog-margin": Case(5, with_catalog(margin={103: "-inf", 104: -0.5}), "infinite or negative margin",
                             "bad_catalog_value: 2 fixed", ("+data.policies.bad_catalog_value=error",)),
    "5-catalog-stock": Case(5, with_catalog(stock={105: "inf", 106: -2}), "infinite or negative stock",
                            "bad_catalog_value: 2 fixed", ("+data.policies.bad_catalog_value=error",)),
    "5-catalog-text-number": Case(5, with_catalog(stock={107: "lots"}), "non-numeric stock",
                                  "bad_catalog_value: 1 fixed", ("+data.policies.bad_catalog_value=error",)),
    "5-event-price-inf": Case(5, events(lambda: shop().assign(price=9.5).pipe(lambda f: with_cell("price", np.inf, frame=f))),
                              "zero, negative, infinite or unparsable price", "bad_price: 1 fixed", ("+data.policies.bad_price=error",)),
    "5-catalog-misses-half": Case(5, lambda tmp: (write(shop(), tmp / "events.csv"), [f"data.catalog_path={catalog(tmp / 'c.csv', range(100, 115))}"]),
                                  "15 of the 28 event items are not in the catalog", "uncatalogued_item: 15 fixed",
                                  ("+data.policies.uncatalogued_item=error",)),
    "5-nan-timestamp": Case(5, events(lambda: with_cell("timestamp", np.nan, frame=unix_seconds(shop()).astype({"timestamp": float}))),
                            "unparsable timestamp", "bad_timestamp: 1 dropped", ("+data.policies.bad_timestamp=error",)),
    "5-inf-timestamp": Case(5, events(lambda: with_cell("timestamp", np.inf, frame=unix_seconds(shop()).astype({"timestamp": float}))),
                            "unparsable timestamp", "bad_timestamp: 1 dropped", ("+data.policies.bad_timestamp=error",)),
    "5-nan-user-id": Case(5, events(lambda: with_cell("user_id", np.nan)), "empty or NaN id", "missing_id: 1 dropped",
                          ("+data.policies.missing_id=error",)),
    "5-short-row": Case(5, lambda tmp: (header_again(shop(), tmp / "events.csv", "1,s1-0"), []), "empty or NaN id",
                        "missing_id: 1 dropped", ("+data.policies.missing_id=error",)),
    "5-unknown-event": Case(5, events(lambda: with_cell("event_type", "wishlist")), "unknown event_type ('wishlist': 1)"),
    "5-unknown-event-dropped": Case(5, events(lambda: with_cell("event_type", "wishlist"), "events.csv", "+data.policies.unknown_event=drop"),
                                    "unknown event_type ('wishlist': 1)", "unknown_event: 1 dropped"),
    "5-too-many-fields": Case(5, lambda tmp: (header_again(shop(), tmp / "events.csv", "1,s1-0,100,view,2026-01-02T00:00:00Z,x,y"), []),
                              "Expected 5 fields in line 31, saw 7"),
    # 7: misleading messages
    "7-directory-as-events": Case(7, lambda tmp: (folder_with_csv(tmp / "events"), []), "is a directory, not a file",
                                  absent="no such file"),
    "7-directory-as-catalog": Case(7, lambda tmp: (write(shop(), tmp / "events.csv"), [f"data.catalog_path={folder_with_csv(tmp / 'items')}"]),
                                   "items: is a directory, not a file; give the file itself (it holds ['part-0.csv'])",
                                   absent="no such file"),
    "7-empty-events": Case(7, lambda tmp: ((tmp / "events.csv").write_bytes(b""), (tmp / "events.csv", []))[1], "the file is empty (0 bytes)"),
    "7-empty-catalog": Case(7, lambda tmp: (write(shop(), tmp / "events.csv"), [f"data.catalog_path={empty(tmp / 'catalog.csv')}"]),
                            "catalog.csv: the file is empty"),
    "7-repeated-header": Case(7, lambda tmp: (header_again(shop(), tmp / "events.csv"), []), "header line is repeated 1 time(s) mid-file (line(s) [31])",
                              "repeated_header: 1 dropped", ("+data.policies.repeated_header=error",), absent="event_map"),
    "7-header-other-order": Case(7, lambda tmp: (header_again(shop(), tmp / "events.csv", "user_id,session_id,item_id,timestamp,event_type"), []),
                                 "a header line read as data", "repeated_header: 1 dropped", ("+data.policies.repeated_header=error",),
                                 absent="event_map"),
    "7-header-in-headerless-file": Case(7, lambda tmp: (header_again(taobao_rows(), tmp / "ub.csv", "user_id,item_id,category_id,behavior_type,timestamp",
                                                                     file_header=False), ["data=taobao"]),
                                        "a header line read as data", "repeated_header: 1 dropped", ("+data.policies.repeated_header=error",),
                                        absent="event_map"),
}


def latin1_catalog(tmp: Path) -> Path:
    path = catalog(tmp / "catalog.csv")
    path.write_bytes(path.read_bytes().replace(b"\n103,", b"\n10\xe93,", 1))
    return path


def folder_with_csv(path: Path) -> Path:
    path.mkdir()
    write(shop(), path / "part-0.csv")
    return path


def empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` by its sha256: the inputs, and what an earlier run left there."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def earlier_outputs(root: Path) -> list[str]:
    """A bundle and an MLflow store from an earlier run, which a failed run must leave as they are."""
    (root / "bundle").mkdir()
    (root / "bundle" / "manifest.json").write_text('{"kept": true}')
    (root / "mlruns").mkdir()
    (root / "mlruns" / "mlflow.db").write_bytes(b"not touched")
    return [f"export.bundle_dir={root / 'bundle'}", f"tracking.uri=sqlite:///{root / 'mlruns' / 'mlflow.db'}"]


def summary(tmp: Path, case: Case, strict: bool, capsys, caplog) -> tuple[int, dict, str]:
    path, overrides = case.make(tmp)
    before = snapshot(tmp)
    with caplog.at_level(logging.WARNING):
        try:
            code = data_main(["summary", str(path), "--json", *overrides, *(case.strict if strict else ())])
        except SystemExit as exc:
            code = exc.code
    out, err = capsys.readouterr()
    assert snapshot(tmp) == before  # no input file touched
    assert "Traceback" not in err
    s = json.loads(out) if code == 0 else {}
    return code, s, "\n".join([err, caplog.text, *s.get("warnings", ())])


@pytest.mark.parametrize("name", list(CASES))
def test_summary_under_the_default_policy(name, tmp_path, capsys, caplog):
    case = CASES[name]
    code, s, said = summary(tmp_path, case, False, capsys, caplog)
    assert case.message in said and case.absent not in said, said
    if case.problem is None:
        assert code == 2 and said.startswith("neurec-data: error:") and len(said) < 4000
    else:
        assert code == 0 and case.problem in s["problems"], s["problems"]


STRICT = [n for n, c in CASES.items() if c.strict]


@pytest.mark.parametrize("name", STRICT)
def test_summary_refuses_under_the_strict_policy(name, tmp_path, capsys, caplog):
    case = CASES[name]
    code, _, said = summary(tmp_path, case, True, capsys, caplog)
    problem = case.problem.split(":")[0].removeprefix("catalog_")
    assert code == 2 and said.startswith("neurec-data: error:"), said
    assert case.message in said and f"data.policies.{problem}=" in said and case.absent not in said, said
    assert len(said) < 4000  # a 2 MB id is shortened, not repeated


def test_split_is_not_stretched_by_1970(tmp_path, capsys, caplog):
    for case in ("5-timestamp-1970", "5-timestamp-1970-no-floor"):
        folder = tmp_path / case
        folder.mkdir()
        code, s, _ = summary(folder, CASES[case], False, capsys, caplog)
        assert code == 0 and s["first_event"].startswith("2026-01") and s["test_start"].startswith("2026-01-2"), s


def test_catalog_numbers_nan_are_unknown_and_counted(tmp_path, capsys, caplog):
    case = Case(5, with_catalog(price={101: "nan", 102: ""}, margin={103: np.nan}), "", "uncatalogued_item")
    code, s, _ = summary(tmp_path, case, False, capsys, caplog)
    assert code == 0 and "catalog values unknown (empty or NaN), of 30 items: {'price': 2, 'margin': 1}" in s["notes"]


def test_event_prices_nan_are_noted(tmp_path, capsys, caplog):
    frame = shop().assign(price=9.5)
    frame.loc[[1, 2], "price"] = np.nan
    case = Case(5, events(lambda: frame), "")
    code, s, _ = summary(tmp_path, case, False, capsys, caplog)
    assert code == 0 and f"event prices unknown (empty or NaN) in 2 of {len(frame)} events" in s["notes"]


def _deny(monkeypatch, path: Path, method: str) -> None:
    original = getattr(Path, method)

    def refuse(self, *args, **kwargs):
        if Path(self) == path:
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, method, refuse)


def _deny_parser(monkeypatch, target: str) -> None:
    def refuse(source, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(source))

    module, name = target.rsplit(".", 1)
    monkeypatch.setattr(__import__(module, fromlist=[name]), name, refuse)


UNREADABLE = {  # the file exists, but the OS refuses to read it: when checked, or only once the parser opens it
    "open": ("events.csv", lambda m, p: _deny(m, p, "open"), "permission denied: the file cannot be read"),
    "stat": ("events.csv", lambda m, p: _deny(m, p, "stat"), "cannot be read: Permission denied"),
    "csv-parser": ("events.csv", lambda m, p: _deny_parser(m, "pandas.read_csv"), "cannot be read as CSV: [Errno 13] Permission denied"),
    "jsonl-parser": ("events.jsonl", lambda m, p: _deny_parser(m, "pyarrow.json.read_json"), "cannot be read as JSON lines: [Errno 13]"),
    "parquet-parser": ("events.parquet", lambda m, p: _deny_parser(m, "pandas.read_parquet"), "cannot be read as Parquet: [Errno 13]"),
}


@pytest.mark.parametrize("name", list(UNREADABLE))
def test_unreadable_file(name, tmp_path, monkeypatch, capsys):
    file, deny, message = UNREADABLE[name]
    path = write(shop(), tmp_path / file)
    before = snapshot(tmp_path)
    deny(monkeypatch, path)
    with pytest.raises(SystemExit) as exit_info:
        data_main(["summary", str(path)])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and str(path) in err and "Traceback" not in err, err
    assert "no such file" not in err and snapshot(tmp_path) == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_unreadable_file_by_mode(tmp_path, capsys):
    path = write(shop(), tmp_path / "events.csv")
    path.chmod(0)
    try:
        with pytest.raises(SystemExit) as exit_info:
            data_main(["summary", str(path)])
    finally:
        path.chmod(0o644)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "permission denied" in err and "Traceback" not in err


# neurec-train: one process runs every case in turn, as `neurec-train ...` would (Hydra's app, its friendly errors),
# to pay the imports once; a case that raises anything but SystemExit is reported with its traceback.
DRIVER = textwrap.dedent("""
    import contextlib, io, json, pathlib, sys, traceback
    from neurec.cli.train import main
    results, real_out = {}, sys.stdout
    for name, case in json.load(sys.stdin).items():
        out = io.StringIO()
        deny, original = {pathlib.Path(p) for p in case["deny"]}, pathlib.Path.open
        def guarded(self, *args, **kwargs):
            if self in deny:
                raise PermissionError(13, "Permission denied", str(self))
            return original(self, *args, **kwargs)
        pathlib.Path.open = guarded
        sys.argv = ["neurec-train", *case["argv"]]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                code = main()
                code = 0
            except SystemExit as exc:
                code = exc.code
            except BaseException:
                traceback.print_exc(file=out)
                code = "exception"
        pathlib.Path.open = original
        results[name] = {"code": code, "output": out.getvalue()}
    json.dump(results, real_out)
""")


def _train_argv(tmp: Path, path: Path, overrides: list[str]) -> list[str]:
    # The run's own new folder lies outside `tmp`, whose every file must stay as it was.
    return ["data=files", f"data.events_path={path}", f"paths.root_dir={tmp}", f"hydra.run.dir={tmp.parent / (tmp.name + '-run')}",
            "trainer.progress=false", *overrides]


def decision_counts(path: Path, work: Path) -> dict[str, int]:
    """Decisions per period as training counts them (it leaves out train decisions on items new after the cut)."""
    from neurec.data.config import DataConfig
    from neurec.data.prepare import prepare

    cfg = DataConfig(source="files", events_path=str(path), policies={"too_few_decisions": "warn"})
    stats = prepare(cfg, work).stats
    return {p: stats[f"{p}_targets"] for p in ("train", "valid", "test")}


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    """Every refusal through neurec-train, then one run that trains on data with problems let through."""
    specs, folders = {}, {}
    for name, case in CASES.items():
        if case.problem is not None and not case.strict:
            continue
        tmp = tmp_path_factory.mktemp(name)
        path, overrides = case.make(tmp)
        specs[name] = {"argv": _train_argv(tmp, path, [*overrides, *case.strict, *earlier_outputs(tmp)]), "deny": []}
        folders[name] = tmp
    tmp = tmp_path_factory.mktemp("unreadable")
    path = write(shop(), tmp / "events.csv")
    specs["4-unreadable"] = {"argv": _train_argv(tmp, path, earlier_outputs(tmp)), "deny": [str(path)]}
    folders["4-unreadable"] = tmp
    # Decisions: one short of data.min_train_decisions refuses; exactly at it trains; warn lets a short period by.
    tmp = tmp_path_factory.mktemp("decisions")
    path = write(shop(users=40, buys=6), tmp / "events.csv")
    counts = decision_counts(path, tmp_path_factory.mktemp("work"))
    specs["5-too-few-train-decisions"] = {"argv": _train_argv(tmp, path, [f"data.min_train_decisions={counts['train'] + 1}",
                                                                          *earlier_outputs(tmp)]), "deny": []}
    folders["5-too-few-train-decisions"] = tmp
    run = tmp_path_factory.mktemp("trains")
    cat = catalog(run / "catalog.csv", range(100, 115), price={101: "inf", 102: -1, 103: "nan"}, margin={104: "inf"}, stock={105: -4})
    specs["trains"] = {"argv": _train_argv(run, path, [
        f"data.catalog_path={cat}", f"data.min_train_decisions={counts['train']}", f"data.min_eval_decisions={counts['valid'] + 1}",
        "+data.policies.too_few_decisions=warn", "tracking=none", "export.enabled=false", "trainer.epochs=1", "model.dim=16",
        ]), "deny": []}
    before = {name: snapshot(folder) for name, folder in folders.items()}
    proc = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(specs), capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    changed = {name: snapshot(folder) != before[name] for name, folder in folders.items()}
    return results, changed, counts


REFUSED = {name: (c.message, c.absent) for name, c in CASES.items() if c.problem is None or c.strict}
REFUSED |= {"4-unreadable": ("permission denied", "no such file"), "5-too-few-train-decisions": ("too_few_decisions: only", "\0")}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REFUSED))
def test_training_refuses_and_keeps_what_was_there(name, training):
    results, changed, _ = training
    message, absent = REFUSED[name]
    code, output = results[name]["code"], results[name]["output"]
    assert code == 2 and "neurec-train: error: " in output and message in output and absent not in output, output[-3000:]
    assert "Traceback" not in output
    assert not changed[name]  # the inputs, the earlier bundle and the MLflow store are byte for byte as they were


@pytest.mark.slow
def test_training_at_the_minimum_trains_and_a_short_period_warns_loudly(training):
    """The catalog has an infinite price (once an OverflowError in the item features), NaN, negative and infinite
    numbers, and lacks half the items; training goes on, and says what it fixed and what is short."""
    results, _, counts = training
    code, output = results["trains"]["code"], results["trains"]["output"]
    assert code == 0, output[-3000:]
    assert f"WARNING: too_few_decisions: only {counts['valid']:,} in valid (need {counts['valid'] + 1:,})" in output
    assert " in train (need" not in output  # exactly at data.min_train_decisions: enough
    cleaning = next(line for line in output.splitlines() if line.startswith("cleaning:"))
    assert "fixed_bad_catalog_value 4" in cleaning and "fixed_uncatalogued_item" in cleaning, cleaning
    assert "WARNING: uncatalogued_item:" in output and "Traceback" not in output

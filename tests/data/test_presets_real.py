"""The presets on the real samples in ../shared/data (see its README): counts, event kinds, prepare end to end.

A user's clone has no ../shared, so every test here skips when its sample is absent.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest

from neurec.data.config import DataConfig
from neurec.data.formats import read_events
from neurec.data.prepare import prepare

PROJECT = Path(__file__).resolve().parents[2]
SHARED = PROJECT.parent / "shared" / "data"

# From ../shared/data/README.md; REES46's last line is cut mid-row, so one row fewer (and one view fewer).
SAMPLES = {
    "rees46": ("rees46_multicategory/2019-Oct_head.csv", 17_434, {"view": 17_055, "cart": 165, "purchase": 214}),
    "taobao": ("taobao_userbehavior/UserBehavior.csv", 110_300, {"pv": 98_361, "cart": 6_063, "fav": 3_383, "buy": 2_493}),
    "yoochoose": ("yoochoose_rsc15/yoochoose-clicks-100k_train_full.txt", 70_278, {"view": 70_278}),
    "otto": ("otto_fixture/train.jsonl", 862, {"clicks": 800, "carts": 52, "orders": 10}),  # otto-de/recsys-dataset, CC-BY 4.0
}
DROPPED = {"rees46": {"truncated_row": 1}}

# The OTTO test resource has 10 orders in 20 sessions, none in the validation period: too few for the purchase
# task, so prepare runs it as next-event prediction (the full dataset has millions of orders).
PREPARE_OVERRIDES = {"otto": ["data.target=next"]}


def _sample(name: str) -> Path:
    path = SHARED / SAMPLES[name][0]
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/data is not part of a user's clone)")
    return path


def _preset(compose_train, tmp_path: Path, name: str, *overrides: str) -> DataConfig:
    cfg = compose_train([f"data={name}", f"paths.root_dir={PROJECT}", *overrides], tmp_path)
    return hydra.utils.instantiate(cfg.data, _convert_="all")


@pytest.mark.parametrize("name", [*SAMPLES, "online_retail"])
def test_a_preset_without_a_file_is_refused_by_name(compose_train, tmp_path, name):
    from neurec.cli.config_checks import check_train_config
    from neurec.errors import ConfigError

    with pytest.raises(ConfigError, match=r"data.events_path=\?\?\?: required"):
        check_train_config(compose_train([f"data={name}"], tmp_path))


@pytest.mark.parametrize("name", list(SAMPLES))
def test_preset_reads_its_sample(compose_train, tmp_path, name):
    path = _sample(name)
    cfg = _preset(compose_train, tmp_path, name, f"data.events_path={path}")
    raw = read_events(cfg)
    assert len(raw.events) == SAMPLES[name][1]
    assert raw.events["event_type"].value_counts().to_dict() == SAMPLES[name][2]
    assert raw.dropped == DROPPED.get(name, {})
    assert raw.events[["item_id", "timestamp"]].notna().all().all()


def test_yoochoose_test_file(compose_train, tmp_path):
    path = _sample("yoochoose").with_name("yoochoose-clicks-100k_test.txt")
    raw = read_events(_preset(compose_train, tmp_path, "yoochoose", f"data.events_path={path}"))
    assert len(raw.events) == 13_568 and raw.events["session_id"].nunique() == 3_416


def test_otto_sessions_are_customers(compose_train, tmp_path):
    path = _sample("otto")
    events = read_events(_preset(compose_train, tmp_path, "otto", f"data.events_path={path}")).events
    assert events["session_id"].nunique() == 20 and (events["user_id"] == events["session_id"]).all()


@pytest.mark.parametrize("name", list(SAMPLES))
def test_prepare_runs_on_the_sample(compose_train, tmp_path, name):
    path = _sample(name)
    data = prepare(_preset(compose_train, tmp_path, name, f"data.events_path={path}", *PREPARE_OVERRIDES.get(name, [])),
                   tmp_path / "prepared")
    assert 0 < data.stats["events"] <= SAMPLES[name][1]
    assert len(data.train) > 0 and len(data.valid) > 0 and len(data.test) > 0


def test_online_retail_preset_keeps_sales_of_known_customers_only(compose_train, tmp_path):
    """The invoice preset on a fixture in its layout: guest lines, cancellations and postage are dropped and
    counted; what is left are purchases in invoice sessions of known customers."""
    import importlib.util
    import sys

    if "shop_files" not in sys.modules:
        spec = importlib.util.spec_from_file_location("shop_files", PROJECT / "tests" / "fixtures" / "shop_files.py")
        sys.modules["shop_files"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["shop_files"])
    written = sys.modules["shop_files"].write_online_retail(tmp_path / "retail.csv", invoices=120)
    data = prepare(_preset(compose_train, tmp_path, "online_retail", f"data.events_path={written.path}",
                           "data.min_eval_decisions=1", "data.min_train_decisions=1"), tmp_path / "prepared")
    dropped = data.report.dropped
    assert dropped["not_a_sale"] == written.extra["cancelled"]
    assert dropped["excluded_item"] == written.extra["postage"]
    assert dropped["missing_id"] >= written.extra["missing_customer"]
    events = data.events
    assert (events["event_type"] == 3).all() and not events["item_id"].isin(["POST"]).any()
    assert not events["session_id"].str.startswith("C").any()


def test_online_retail_sample_summary(compose_train, tmp_path, online_retail_csv):
    """The real invoices (gzip in ../shared, decompressed by the fixture): figures from its README, after the preset."""
    plain = online_retail_csv
    raw = read_events(_preset(compose_train, tmp_path, "online_retail", f"data.events_path={plain}"))
    assert len(raw.events) == 541_909  # every invoice line is read; cleaning comes after


def _same_shards(a: Path, b: Path) -> bool:
    import hashlib

    def digests(root: Path) -> dict[str, str]:
        files = sorted(p for period in ("train", "valid", "test") for p in (root / period).rglob("*") if p.is_file())
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    return digests(a) == digests(b) != {}


@pytest.mark.parametrize("name", ["rees46", "taobao", "yoochoose", "online_retail"])
def test_out_of_core_preparation_writes_the_same_shards_on_real_samples(compose_train, tmp_path, name, request):
    """Real ids, real dirt (REES46's cut last line, Taobao's headerless file, YOOCHOOSE's anonymous sessions, Online
    Retail's returns, guest lines and postage): the out-of-core path cleans and encodes them as memory does."""
    from neurec.data.outofcore.run import prepare_out_of_core
    from neurec.data.outofcore.settings import OutOfCoreSettings

    if name == "online_retail":  # its first 120,000 lines: the same dirt, a fifth of the time (the whole file: 37 s)
        lines = request.getfixturevalue("online_retail_csv").read_bytes().split(b"\n", 120_001)[:120_000]
        path = tmp_path / "retail.csv"
        path.write_bytes(b"\n".join(lines) + b"\n")
    else:
        path = _sample(name)
    # The first lines of Online Retail hold more guest checkouts (no customer) than the whole file's 25 %.
    extra = ["data.max_bad_fraction=0.4"] if name == "online_retail" else PREPARE_OVERRIDES.get(name, [])
    cfg = _preset(compose_train, tmp_path, name, f"data.events_path={path}", *extra)
    mem = prepare(cfg, tmp_path / "mem")
    ooc = prepare_out_of_core(cfg, tmp_path / "ooc", OutOfCoreSettings(chunk_events=50_000))
    assert ooc.stats == mem.stats and ooc.vocab.items == mem.vocab.items
    assert ooc.report.dropped == mem.report.dropped and ooc.report.fixed == mem.report.fixed
    assert _same_shards(tmp_path / "mem", tmp_path / "ooc")

"""Every data preset trains end to end on a fixture written in its layout (and on its real sample, when present)."""

import importlib.util
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from neurec.cli.config import run_config
from neurec.pipeline import run

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _writers():
    if "shop_files" not in sys.modules:
        spec = importlib.util.spec_from_file_location("shop_files", Path(__file__).parents[1] / "fixtures" / "shop_files.py")
        sys.modules["shop_files"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["shop_files"])
    return sys.modules["shop_files"]


def _fixture(preset: str, tmp: Path) -> list[str]:
    w = _writers()
    if preset == "rees46":
        return [f"data.events_path={w.write_rees46(tmp / 'rees46.csv', rows=1500).path}"]
    if preset == "taobao":
        return [f"data.events_path={w.write_taobao(tmp / 'taobao.csv', rows=1500).path}"]
    if preset == "yoochoose":
        return [f"data.events_path={w.write_yoochoose(tmp / 'yoo.txt', rows=600).path}"]
    if preset == "otto":
        return [f"data.events_path={w.write_otto(tmp / 'otto.jsonl', sessions=300).path}"]
    if preset == "online_retail":
        return [f"data.events_path={w.write_online_retail(tmp / 'retail.csv', invoices=400).path}"]
    written = w.write_retailrocket(tmp / "rr", rows=1500)
    props = ",".join(str(p) for p in written.extra["properties"])
    return [f"data.events_path={written.path}", f"data.properties_paths=[{props}]", f"data.category_tree_path={written.extra['tree']}"]


def _train(compose_train, tmp_path: Path, overrides: list[str]):
    cfg = compose_train([*overrides, "tracking=none", "export.enabled=false", "trainer.epochs=1", "model.dim=16"], tmp_path)
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    run_cfg, resolved = run_config(cfg)
    return run(run_cfg, resolved)


@pytest.mark.parametrize("preset", ["rees46", "taobao", "yoochoose", "otto", "retailrocket", "online_retail"])
def test_preset_fixture_trains(preset, tmp_path, compose_train):
    # The fixtures are small on purpose (seconds each): 5 to 18 validation decisions, below the default minimum.
    result = _train(compose_train, tmp_path, [f"data={preset}", *_fixture(preset, tmp_path), "data.min_eval_decisions=3"])
    assert {"model", "popularity"} <= set(result.metrics)
    assert result.stats["train_targets"] > 0 and result.stats["test_targets"] > 0


REAL = {
    "rees46": SHARED / "rees46_multicategory" / "2019-Oct_head.csv",
    "taobao": SHARED / "taobao_userbehavior" / "UserBehavior.csv",
    "yoochoose": SHARED / "yoochoose_rsc15" / "yoochoose-clicks-100k_train_full.txt",
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(REAL))
def test_preset_real_sample_trains(preset, tmp_path, compose_train):
    if not REAL[preset].exists():
        pytest.skip(f"{REAL[preset]} not present")
    # One cheap baseline: this checks that the real file trains end to end; the quality benchmark compares them all.
    result = _train(compose_train, tmp_path, [f"data={preset}", f"data.events_path={REAL[preset]}", "baselines=[popularity_recent]"])
    assert 0.0 <= result.metrics["model"]["ndcg_at_10"] <= 1.0

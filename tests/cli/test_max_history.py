"""model.max_history is the one history length: any positive value encodes, trains, exports, passes the ONNX parity
check and serves (issue 18: a value below the shards' length used to crash in the position embedding)."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from omegaconf import OmegaConf

from neurec.cli.config import run_config
from neurec.pipeline import run
from neurec.serving import Scorer

T0 = 1_700_000_000


def _train(compose_train, tmp_path, max_history: int):
    cfg = compose_train(
        [f"model.max_history={max_history}", "tracking.enabled=false", "baselines=[]", "trainer.epochs=1",
         "trainer.num_threads=1", "data.simulator.n_customers=300", "export.registered_model_name=null"],
        tmp_path,
    )
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    run_cfg, resolved = run_config(cfg)
    assert run_cfg.data.max_history == max_history  # derived from the model, not a second setting
    return run(run_cfg, resolved)


def _history(items: list[str], n: int) -> list[dict]:
    return [{"item_id": items[i % len(items)], "event_type": "view" if i % 3 else "add_to_cart",
             "timestamp": T0 + 60 * i} for i in range(n)]


@pytest.mark.slow
@pytest.mark.parametrize("max_history", [1, 20, 50, 200])
def test_any_history_length_trains_exports_and_serves(compose_train, tmp_path, max_history):
    result = _train(compose_train, tmp_path, max_history)

    # The shards were encoded with the model's length: no window longer than the position table.
    shard = result.data.train.shard(0)
    assert shard["hist_items"].shape[1] <= max_history
    assert np.isfinite(result.metrics["model"]["ndcg_at_10"])

    manifest = json.loads((result.bundle_dir / "manifest.json").read_text())
    assert manifest["model"]["max_history"] == max_history
    session = ort.InferenceSession(str(result.bundle_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    history_axis = session.get_inputs()[0].shape[1]
    assert history_axis == 1 if max_history == 1 else isinstance(history_axis, str)  # fixed only where it must be

    scorer = Scorer.from_bundle(result.bundle_dir)
    known = scorer.catalog.ids[:5].tolist()
    # Shorter, equal and longer than the window: the scorer keeps the newest max_history events.
    for n in sorted({1, max_history, 2 * max_history + 3}):
        response = scorer.recommend({"history": _history(known, n), "k": 3, "explain": True})
        assert response["unknown_history_items"] == 0
        assert len(response["items"]) <= 3
        assert all(0.0 <= it["probability"] <= 1.0 for it in response["items"])

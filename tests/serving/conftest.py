"""Tiny hand-built bundles (no torch): an ONNX graph whose logits are easy to recompute in numpy.

logit(c) = bias[c] + sum over history positions of item_w[item] * type_w[type] + gap_w[gap]
Padding (item 0, type 0, gap 0) contributes nothing, so left-padding must not change any logit.

Two catalogues share the graph. `ITEMS` is a plain one (category, price, margin, stock: no ladders), where every
item may be suggested as `other`. `SHOP_ITEMS` is a small shop with a product ladder, accessories, a consumable
and co-purchase statistics, for the upsell / cross-sell rules.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from neurec.schema import (
    BUNDLE_ITEMS,
    BUNDLE_MANIFEST,
    BUNDLE_MODEL,
    BUNDLE_RULES,
    BUNDLE_VOCAB,
    FLOAT_INPUTS,
    MODEL_INPUTS,
    MODEL_OUTPUT,
    N_GAP_BUCKETS,
    N_EVENT_TYPES,
    SCHEMA_VERSION,
    input_shapes,
)
from neurec.history_summary import N_SUMMARY_FIELDS
from neurec.serving.copurchase import COPURCHASE_FILE
from neurec.vocab import ItemVocab

KNOWN = [f"10000{i}" for i in range(1, 9)]  # model ids 2..9 in this order
SUMMARY_SIZE = 4
UNSEEN = "200001"  # in the catalog, but the model never saw it (index 1)
CATALOG_ONLY = "300001"  # shop bundle only: never in training, but the vocabulary gives it model id 10
# Per model id: 0 pad, 1 unknown, then KNOWN in order. 100004 sits below the 0.02 threshold without history;
# 100006 has the largest logit but no stock, so the stock rule is visible in every ranking.
BIAS = np.array([0.0, 0.0, 0.0, -1.0, 1.0, -5.0, 0.5, 2.0, 0.2, -0.5, 0.3], dtype=np.float32)
ITEM_W = np.array([0.0, 0.0] + [0.1] * 8, dtype=np.float32)
TYPE_W = np.array([0.0, 1.0, 2.0, 3.0], dtype=np.float32)
GAP_W = np.array([0.0] + [0.01 * b for b in range(1, N_GAP_BUCKETS)], dtype=np.float32)

ITEMS = {
    "item_id": KNOWN + [UNSEEN],
    "index": list(range(2, 10)) + [1],
    "price": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0],
    "margin": [2.0, 4.0, 6.0, 8.0, 1.0, 12.0, 3.0, 5.0, 9.0],
    "stock": [5, 3, 6, 1, 10, 0, 7, 2, 4],
    "category": ["a", "a", "b", "b", "c", "c", "d", "d", "e"],
}
RULES = {"top_k": 4, "min_probability": 0.02, "margin_weight": 0.5, "drop_out_of_stock": True, "drop_in_cart": True}

# The shop: line phone/a in three tiers (130 is 1.3 x 100; 170 is tier 3), its accessories (100005 strategic,
# 200001 unknown to the model, 300001 catalogue-only), coffee/b with a machine out of stock, pods (a consumable) and
# a tier-2 machine at 1.5 x, outside the upsell band.
SHOP_ITEMS = {
    "item_id": KNOWN + [UNSEEN, CATALOG_ONLY],
    "index": list(range(2, 10)) + [1, 10],
    "product_line": ["phone/a"] * 5 + ["coffee/b"] * 3 + ["phone/a"] * 2,
    "tier": [1, 2, 3, 1, 1, 1, 1, 2, 1, 1],
    "complement_of": ["", "", "", "phone/a", "phone/a", "", "coffee/b", "", "phone/a", "phone/a"],
    "kind": ["main"] * 3 + ["accessory"] * 2 + ["main", "consumable", "main", "accessory", "accessory"],
    "category": ["phones"] * 3 + ["phone_acc"] * 2 + ["coffee"] * 3 + ["phone_acc"] * 2,
    "price": [100.0, 130.0, 170.0, 15.0, 25.0, 200.0, 9.0, 300.0, 8.0, 12.0],
    "margin": [20.0, 30.0, 40.0, 6.0, 10.0, 40.0, 3.0, 60.0, 3.0, 5.0],
    "stock": [10, 10, 2, 20, 20, 0, 50, 5, 5, 5],
    "strategic": [False, False, False, False, True, False, False, False, False, False],
}
SHOP_RULES = {
    **RULES, "checkout_price_cap": 20, "upsell_band": [1.2, 1.4], "placement_boost": 1.3, "low_stock_threshold": 3,
    "low_stock_factor": 0.8, "strategic_boost": 1.2, "max_per_category": 2, "free_shipping_threshold": 50,
    "free_shipping_boost": 1.2, "replenish_after_days": 30,
}
# Phone 100001 and pods 100007 are bought together (a cross-sell the catalogue does not know); the pods are
# re-bought every 20 days. 999999 is no longer in the catalogue and must be skipped.
COPURCHASE = {
    "format": 1, "basket": "session", "min_support": 2, "min_lift": 1.0, "top_n": 20, "n_baskets": 40,
    "item_baskets": {"100001": 6, "100007": 8},
    "partners": {
        "100001": {"item_id": ["100007", "999999"], "lift": [2.5, 1.5], "support": [3, 2]},
        "100007": {"item_id": ["100001"], "lift": [2.5], "support": [3]},
    },
    "replenish_days": {"100007": 20.0, "999999": 3.0},
    "replenish_intervals": {"100007": 12, "999999": 2},
}


def write_model(path: Path, bias: np.ndarray = BIAS) -> None:
    dims = {"hist": ["batch", "history"], "cand": ["batch", "n_candidates"]}
    hist_items, hist_types, hist_gaps, sum_items, sum_feats, candidates = MODEL_INPUTS
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, dims["hist"]) for n in MODEL_INPUTS[:3]]
    # The whole-history summary is declared (the scorer must feed it) but unused: these logits read the window only.
    inputs.append(helper.make_tensor_value_info(sum_items, TensorProto.INT64, ["batch", SUMMARY_SIZE]))
    inputs.append(helper.make_tensor_value_info(sum_feats, TensorProto.FLOAT, ["batch", SUMMARY_SIZE, N_SUMMARY_FIELDS]))
    inputs.append(helper.make_tensor_value_info(candidates, TensorProto.INT64, dims["cand"]))
    output = helper.make_tensor_value_info(MODEL_OUTPUT, TensorProto.FLOAT, dims["cand"])
    nodes = [
        helper.make_node("Gather", ["bias", candidates], ["cand_bias"], axis=0),  # (B, C)
        helper.make_node("Gather", ["item_w", hist_items], ["iw"], axis=0),  # (B, L)
        helper.make_node("Gather", ["type_w", hist_types], ["tw"], axis=0),  # (B, L)
        helper.make_node("Gather", ["gap_w", hist_gaps], ["gw"], axis=0),  # (B, L)
        helper.make_node("Mul", ["iw", "tw"], ["itw"]),
        helper.make_node("Add", ["itw", "gw"], ["per_event"]),
        helper.make_node("ReduceSum", ["per_event", "axis1"], ["hist_term"], keepdims=1),  # (B, 1)
        helper.make_node("Add", ["cand_bias", "hist_term"], [MODEL_OUTPUT]),  # (B, C)
    ]
    weights = [
        numpy_helper.from_array(np.asarray(bias, dtype=np.float32), "bias"),
        numpy_helper.from_array(ITEM_W, "item_w"),
        numpy_helper.from_array(TYPE_W, "type_w"),
        numpy_helper.from_array(GAP_W, "gap_w"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    graph = helper.make_graph(nodes, "neurec_fixture", inputs, [output], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def reference_logits(hist_items: np.ndarray, hist_types: np.ndarray, hist_gaps: np.ndarray, cands: np.ndarray):
    """The fixture graph in numpy, for one unpadded history and a 1-D candidate array."""
    hist = float((ITEM_W[hist_items] * TYPE_W[hist_types] + GAP_W[hist_gaps]).sum())
    return BIAS[cands].astype(np.float64) + hist


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rehash(root: Path) -> None:
    """Recompute the manifest's file hashes, to test checks that come after the hash check."""
    manifest = json.loads((root / BUNDLE_MANIFEST).read_text())
    manifest["files"] = {name: sha256(root / name) for name in manifest["files"]}
    (root / BUNDLE_MANIFEST).write_text(json.dumps(manifest, indent=2))


def write_bundle(root: Path, items: dict | None = None, rules: dict | None = None, copurchase: dict | None = None,
                 vocab: ItemVocab | None = None, **manifest_overrides) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    vocab = vocab or ItemVocab(KNOWN)
    vocab.save(root / BUNDLE_VOCAB)
    write_model(root / BUNDLE_MODEL)
    (root / BUNDLE_ITEMS).write_text(json.dumps(ITEMS if items is None else items))
    (root / BUNDLE_RULES).write_text(json.dumps(RULES if rules is None else rules))
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "neurec_version": "0.1.0",
        "created_at": "2026-03-01T12:00:00+00:00",
        "training_run_id": "run-123",
        "model_version": "fixture-1",
        "model": {
            "inputs": [{"name": n, "dtype": "float32" if n in FLOAT_INPUTS else "int64", "shape": shape}
                       for n, shape in input_shapes(SUMMARY_SIZE, N_SUMMARY_FIELDS).items()],
            "outputs": [{"name": MODEL_OUTPUT, "dtype": "float32", "shape": ["batch", "candidates"]}],
            "max_history": 5,
            "summary_size": SUMMARY_SIZE,
            "config": {"dim": 1},
        },
        "calibration": {"temperature": 1.0, "bias": 0.0},
        "vocab_sha256": vocab.sha256(),
        "n_items": len(vocab),
        "files": {},
        "libraries": {"onnx": onnx.__version__},
    }
    manifest.update(manifest_overrides)
    names = [BUNDLE_MODEL, BUNDLE_VOCAB, BUNDLE_ITEMS, BUNDLE_RULES, COPURCHASE_FILE]
    empty = {"format": 1, "partners": {}, "replenish_days": {}}  # what the export writes without statistics
    (root / COPURCHASE_FILE).write_text(json.dumps(empty if copurchase is None else copurchase))
    manifest["files"] = {n: sha256(root / n) for n in names}
    (root / BUNDLE_MANIFEST).write_text(json.dumps(manifest, indent=2))
    return root


@pytest.fixture(scope="session")
def template_bundle(tmp_path_factory) -> Path:
    return write_bundle(tmp_path_factory.mktemp("bundle") / "bundle")


@pytest.fixture
def bundle_copy(template_bundle, tmp_path) -> Path:
    """A private copy that a test may tamper with."""
    return Path(shutil.copytree(template_bundle, tmp_path / "bundle"))


@pytest.fixture(scope="session")
def scorer(template_bundle):
    from neurec.serving import Scorer

    return Scorer.from_bundle(template_bundle)


def write_shop_bundle(root: Path, copurchase: dict | None = COPURCHASE, **overrides) -> Path:
    vocab = ItemVocab(KNOWN + [CATALOG_ONLY], n_trained=len(KNOWN))
    overrides = {"items": SHOP_ITEMS, "rules": SHOP_RULES, **overrides}
    return write_bundle(root, copurchase=copurchase, vocab=vocab, **overrides)


@pytest.fixture(scope="session")
def shop_bundle(tmp_path_factory) -> Path:
    return write_shop_bundle(tmp_path_factory.mktemp("shop") / "bundle")


@pytest.fixture
def shop_copy(shop_bundle, tmp_path) -> Path:
    return Path(shutil.copytree(shop_bundle, tmp_path / "shop"))


@pytest.fixture(scope="session")
def shop(shop_bundle):
    from neurec.serving import Scorer

    return Scorer.from_bundle(shop_bundle)


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    return SimpleNamespace(
        KNOWN=KNOWN, UNSEEN=UNSEEN, CATALOG_ONLY=CATALOG_ONLY, ITEMS=ITEMS, RULES=RULES, BIAS=BIAS,
        SHOP_ITEMS=SHOP_ITEMS, SHOP_RULES=SHOP_RULES, COPURCHASE=COPURCHASE, N_EVENT_TYPES=N_EVENT_TYPES,
        write_bundle=write_bundle, write_shop_bundle=write_shop_bundle, write_model=write_model, rehash=rehash,
        reference_logits=reference_logits,
    )
